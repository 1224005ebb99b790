-- wrk script for bench/ack.ts: a Kratos-shaped POST with a fresh trigger id and identity per request.
local n = 0
local thread_id = math.random(1, 1e9)
request = function()
  n = n + 1
  local id = string.format("%08x-0000-4000-8000-%012d", thread_id % 0xffffffff, n)
  local body = '{\n   "email": "user' .. n .. '@example.org",\n   "flow_id": "' .. id .. '",\n   "identity_id": "' .. id .. '"\n}\n'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-Hooks-Key"] = "bench-secret"
  headers["Ory-Webhook-Request-Id"] = id
  headers["Ory-Webhook-Trigger-Id"] = id
  return wrk.format("POST", "/hooks/bench", headers, body)
end
