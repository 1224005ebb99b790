#!/usr/bin/env bash
# The project's whole check, as CI runs it: types, every test (SQLite, Postgres, jsonnet, SMTP,
# HTTP on 127.0.0.1; some run serve and the Store suite on Deno), generated files current, the
# compiled binary, serve on Deno, and Deno byte-parity.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
step() { echo; echo "== $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "typecheck"
bunx tsc --noEmit -p . || fail=1

step "bun test"
bun test --timeout 60000 2>&1 | tee "$tmp/bun-test.log"
[ "${PIPESTATUS[0]}" = 0 ] || fail=1

step "generated files are current (jsonnet/, config/hooks.schema.json)"
bun src/cli.ts generate --config config/hooks.yaml --out jsonnet --check || fail=1
bun src/cli.ts schema --out config/hooks.schema.json --check || fail=1

step "compiled binary"
bun build --compile --minify --bytecode --splitting --format esm src/cli.ts src/outbox/sqlite/thread-host.ts --outfile "$tmp/kratos-hooks" >/dev/null || fail=1
"$tmp/kratos-hooks" --version || fail=1
"$tmp/kratos-hooks" generate --config config/hooks.yaml --out "$tmp/bin-out" || fail=1
diff -r jsonnet "$tmp/bin-out" || { echo "compiled binary output differs from jsonnet/"; fail=1; }

# Starts `serve` of the example with the given command on a random port, waits for readiness, sends
# a Kratos-shaped webhook the signup gate denies (422 with messages at #/traits/email), then SIGTERM:
# it must exit 0. $1 names it in messages, $2 is its store and log stem, $3 the Trigger-Id's last digit.
smoke_serve() {
  local what=$1 stem=$2 n=$3; shift 3
  local port=$((20000 + RANDOM % 20000))
  KRATOS_HOOKS_SECRET=ci-secret KRATOS_HOOKS_BASIC_PASSWORD=ci-password CRM_TOKEN=ci-token \
    "$@" serve --config config/hooks.yaml --listen "127.0.0.1:$port" --store "sqlite:$tmp/$stem/smoke.db" >"$tmp/$stem.log" 2>&1 &
  local serve_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
  local answer
  answer=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/hooks/signup-gate" -H 'Content-Type: application/json' \
    -H 'X-Kratos-Hooks-Key: ci-secret' -H "Ory-Webhook-Trigger-Id: 6f1c0d2e-0000-4000-8000-00000000000$n" -d '{"email":"a@mailinator.com"}')
  echo "$answer"
  case "$answer" in *'"instance_ptr":"#/traits/email"'*' 422') ;; *) echo "unexpected answer from $what"; fail=1 ;; esac
  kill -TERM "$serve_pid"; wait "$serve_pid"; local rc=$?
  [ "$rc" = 0 ] || { echo "$what exited $rc on SIGTERM"; cat "$tmp/$stem.log"; fail=1; }
}

step "compiled binary serves: ready, a Kratos-shaped deny, SIGTERM exits 0"
smoke_serve "the compiled serve" serve 1 "$tmp/kratos-hooks"

step "deno run serves (README's Deno command): ready, a Kratos-shaped deny, SIGTERM exits 0"
if command -v deno >/dev/null 2>&1; then
  smoke_serve "serve on deno" deno-serve 2 deno run -A src/cli.ts
else
  echo "deno is not installed"; fail=1
fi

step "Deno parity: deno run generate is byte-identical to Bun"
if command -v deno >/dev/null 2>&1; then
  deno run --quiet --allow-read --allow-write --allow-env src/cli.ts generate --config config/hooks.yaml --out "$tmp/deno-out" || fail=1
  diff -r jsonnet "$tmp/deno-out" || { echo "deno output differs from bun output"; fail=1; }
else
  echo "deno is not installed"; fail=1
fi

pass=$(grep -Eo '^ *[0-9]+ pass$' "$tmp/bun-test.log" | tail -n1 | tr -dc 0-9)
failed=$(grep -Eo '^ *[0-9]+ fail$' "$tmp/bun-test.log" | tail -n1 | tr -dc 0-9)
echo
echo "tests: ${pass:-0} passed, ${failed:-0} failed"
[ "$fail" = 0 ] && [ "${failed:-0}" = 0 ] && [ "${pass:-0}" != 0 ]
