#!/usr/bin/env bash
# Cold start of the compiled binary (--version, generate of the example) and generate of 1,000
# hooks, each beside a bare `bun -e ''` measured in the same run. Median of repeated runs (hyperfine).
# Usage: bash bench/cold-start.sh  → prints a table; results recorded in bench/results/cold-start.md
#
# BENCH_BASELINE=<dir of another checkout> also compiles that checkout and compares the two on the
# 1,000-hook generate in ROUNDS (default 5) interleaved rounds of RUNS (default 6) runs each, the
# order swapped every round, so that a busy shared machine slows both alike. Prints each round's
# median wall time and mean CPU time (user + system, all threads), and the ratios this checkout ÷
# baseline: on a loaded machine the CPU time is the steadier figure.
cd "$(dirname "$0")/.."
. bench/lib.sh
need hyperfine hyperfine
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bun build --compile --minify --bytecode src/cli.ts --outfile "$tmp/kratos-hooks" >/dev/null
bun bench/make-hooks.ts 1000 > "$tmp/hooks-1000.yaml"
machine
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${BENCH_BASELINE:-}" ]; then
  (cd "$BENCH_BASELINE" && bun build --compile --minify --bytecode src/cli.ts --outfile "$tmp/baseline" >/dev/null)
  gen() { echo "$tmp/$1 generate --config $tmp/hooks-1000.yaml --out $tmp/out-$1"; }
  echo "| round | this checkout ms | baseline ms | ratio | this checkout CPU ms | baseline CPU ms | CPU ratio | load avg |"
  echo "|---|---|---|---|---|---|---|---|"
  for round in $(seq 1 "${ROUNDS:-5}"); do
    if [ $((round % 2)) -eq 1 ]; then order=(kratos-hooks baseline); else order=(baseline kratos-hooks); fi
    hyperfine --warmup 1 --runs "${RUNS:-6}" -N --export-json "$tmp/r.json" \
      -n "${order[0]}" "$(gen "${order[0]}")" -n "${order[1]}" "$(gen "${order[1]}")" >/dev/null
    bun -e '
const res = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
const r = Object.fromEntries(res.map((x) => [x.command, x.median * 1000]));
const c = Object.fromEntries(res.map((x) => [x.command, (x.user + x.system) * 1000]));
console.log(`| ${process.argv[2]} | ${r["kratos-hooks"].toFixed(0)} | ${r.baseline.toFixed(0)} | ${(r["kratos-hooks"] / r.baseline).toFixed(2)} | ${c["kratos-hooks"].toFixed(0)} | ${c.baseline.toFixed(0)} | ${(c["kratos-hooks"] / c.baseline).toFixed(2)} | ${process.argv[3]} |`);
' "$tmp/r.json" "$round" "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
  exit 0
fi
hyperfine --warmup 3 --runs 30 -N --export-json "$tmp/h.json" \
  -n "bun -e '' (baseline)" "bun -e ''" \
  -n "kratos-hooks --version" "$tmp/kratos-hooks --version" \
  -n "kratos-hooks generate (example)" "$tmp/kratos-hooks generate --config config/hooks.yaml --out $tmp/out-example" \
  -n "kratos-hooks generate (1,000 hooks)" "$tmp/kratos-hooks generate --config $tmp/hooks-1000.yaml --out $tmp/out-1000" >/dev/null
bun -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
const base = r[0].median;
console.log("| command | median ms | ratio to bun -e \x27\x27 |\n|---|---|---|");
for (const x of r) console.log(`| ${x.command} | ${(x.median*1000).toFixed(1)} | ${(x.median/base).toFixed(2)} |`);
' "$tmp/h.json"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
