#!/usr/bin/env bash
# Cold start of the compiled binary (--version, generate of the example) and generate of 1,000
# hooks, each beside a bare `bun -e ''` measured in the same run. Median of repeated runs (hyperfine).
# Usage: bash bench/cold-start.sh  → prints a table; results recorded in bench/results/cold-start.md
cd "$(dirname "$0")/.."
. bench/lib.sh
need hyperfine hyperfine
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bun build --compile --minify --bytecode src/cli.ts --outfile "$tmp/kratos-hooks" >/dev/null
bun bench/make-hooks.ts 1000 > "$tmp/hooks-1000.yaml"
machine
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
