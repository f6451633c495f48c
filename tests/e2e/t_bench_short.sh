#!/usr/bin/env bash
# make bench's short mode end to end (bench/bench-migrate.sh --short, results written to
# this test's output dir, not docs/): every mode and auto on the short grid, the hotness
# pair, the pre-emption pair and the latency CDF. Checks that every run migrated and
# verified, that the report has its tables, and that every plot exists as PNG and SVG.
. "$(dirname "$0")/lib.sh"
t_init
t_require_criu
out=$T_OUT/results
rm -rf "$out"
"$ROOT/bench/bench-migrate.sh" --short --out "$out" --work "$T_OUT/work" >"$T_OUT/bench.log" 2>&1 ||
	{ tail -30 "$T_OUT/bench.log" >&2; t_fail "bench-migrate.sh --short failed"; }
md=$out/migrate-short.md
[[ -s $md ]] || t_fail "no report $md"
for h in "## Grid" "## The policy against the best fixed mode" "## Remote faults vs working set" \
	"## Fault latency during the background fetch" "## Fault latency after restore" "## Plots"; do
	grep -q "^$h" "$md" || t_fail "report lacks '$h'"
done
n=$(find "$out/migrate-runs-short/grid" -name '*.json' | wc -l)
((n == 10)) || t_fail "$n grid results, want 10 (2 dirty rates x 5 modes)"
bad=$(grep -L '"result": "ok"' "$out"/migrate-runs-short/*/*.json)
[[ -z $bad ]] || t_fail "runs not ok: $bad"
grep -q 'within 10% of the best fixed mode on both' "$md" || t_fail "no policy evaluation line"
for p in freeze-m32-1gbit gap hotness latency-cdf; do
	for ext in png svg; do
		f=$out/plots/migrate-$p-short.$ext
		[[ -s $f ]] || t_fail "missing plot $f"
	done
done
[[ $(head -c 4 "$out/plots/migrate-gap-short.png" | od -An -c | tr -d ' ') == '211PNG' ]] ||
	t_fail "the PNG is not a PNG"
grep -q '<svg' "$out/plots/migrate-gap-short.svg" || t_fail "the SVG is not an SVG"
t_pass "$(grep -m1 'within 10% of the best fixed mode on both' "$md")"
