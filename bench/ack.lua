-- wrk script for bench/ack.ts: a Kratos-shaped POST with a fresh trigger id and identity per
-- request. Arguments (after `--`): a seed, and `random` (default: v4 ids as Kratos sends them,
-- landing all over the dedupe index) or `sequential` (ordered ids, appended at the end of it,
-- which is cheaper for SQLite; for comparison only). wrk's Lua PRNG starts from the same seed in
-- every run, so the seed must differ per run: with a fixed one, the measured run after a warm-up
-- replayed the warm-up's ids and was mostly dedupe hits.
local sequential = false
local prefix = 0

function init(args)
  local seed = tonumber(args[1]) or os.time()
  math.randomseed(seed)
  sequential = args[2] == "sequential"
  prefix = seed % 0xffffffff
end

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    math.random(0x8000, 0xbfff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end

local n = 0
request = function()
  n = n + 1
  local id = sequential and string.format("%08x-0000-4000-8000-%012d", prefix, n) or uuid4()
  local body = '{\n   "email": "user' .. n .. '@example.org",\n   "flow_id": "' .. id .. '",\n   "identity_id": "' .. id .. '"\n}\n'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-Hooks-Key"] = "bench-secret"
  headers["Ory-Webhook-Request-Id"] = id
  headers["Ory-Webhook-Trigger-Id"] = id
  return wrk.format("POST", "/hooks/bench", headers, body)
end
