#!/usr/bin/env bash
# bench/policy_eval.py on a tiny synthetic set of `faultline migrate` results: the
# grouping by grid point, medians, the ratios against the best fixed mode (freeze and
# total separately), the 10% rule (a boundary case), failed and incomplete runs, and
# --check both ways (a set that passes and one that fails).  No CRIU, runs in a second.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

EVAL=$ROOT/bench/policy_eval.py
command -v python3 >/dev/null || t_skip "python3 missing"
rm -rf "$T_OUT" && mkdir -p "$T_OUT"

n=0
# run DIR REQUESTED MODE DIRTY LINK MIB FREEZE_MS TOTAL_MS [RESULT]
run() {
	n=$((n + 1))
	mkdir -p "$1"
	cat >"$1/run$n.json" <<JSON
{"mode":"$3","requested_mode":"$2","result":"${9:-ok}",
 "workload":{"name":"synth","mem_mib":$6,"wss_mib":16,"dirty_rate":"$4","skew":"zipf"},
 "link":{"rate":"$5","delay_ms":0,"bytes":1},
 "times_ms":{"total":$8,"freeze":$7}$([[ $2 == auto ]] && echo ',"policy":{"mode":"'"$3"'"}')}
JSON
}

# Point A (4MB/s, 100mbit, 64 MiB): auto (hybrid) 440/5900 against best freeze 420
# (post-copy) and best total 5790 (post-copy): 1.048 and 1.019, within.  The failed
# post-copy run with a 1 ms freeze must not count.
point_a() {
	run "$1" stop-and-copy stop-and-copy 4MB/s 100mbit 64 5800 5800
	run "$1" pre-copy pre-copy 4MB/s 100mbit 64 450 5900
	run "$1" hybrid hybrid 4MB/s 100mbit 64 430 5850
	run "$1" post-copy post-copy 4MB/s 100mbit 64 420 5790
	run "$1" post-copy post-copy 4MB/s 100mbit 64 1 1 error
	run "$1" auto hybrid 4MB/s 100mbit 64 440 5900
}
# Point D (0, 1gbit, 16 MiB): medians of three stop-and-copy runs (200, 220, 260 -> 220),
# auto exactly 10% over on both (boundary: within).
point_d() {
	run "$1" stop-and-copy stop-and-copy 0 1gbit 16 200 200
	run "$1" stop-and-copy stop-and-copy 0 1gbit 16 260 260
	run "$1" stop-and-copy stop-and-copy 0 1gbit 16 220 220
	run "$1" pre-copy pre-copy 0 1gbit 16 100 300
	run "$1" auto pre-copy 0 1gbit 16 110 242
}

pass=$T_OUT/pass fail=$T_OUT/fail
point_a "$pass"
point_d "$pass"
# An incomplete point (no auto run) is listed but not counted.
run "$pass" post-copy post-copy 1MB/s 1gbit 256 50 3000

point_a "$fail"
point_d "$fail"
# Point B (64MB/s, 100mbit, 64 MiB): auto stays in pre-copy: 2000/9000 against
# 400 (post-copy) and 5800: 5.000 and 1.552, a miss.
run "$fail" pre-copy pre-copy 64MB/s 100mbit 64 2000 9000
run "$fail" post-copy post-copy 64MB/s 100mbit 64 400 5800
run "$fail" auto pre-copy 64MB/s 100mbit 64 2000 9000
# Point E: every auto run failed: a miss, not a skip.
run "$fail" post-copy post-copy 16MB/s 1gbit 1024 300 9000
run "$fail" auto post-copy 16MB/s 1gbit 1024 0 0 error

expect() { # FILE TEXT
	grep -qF -- "$2" "$1" || { cat "$1" >&2; t_fail "no '$2' in $(basename "$1")"; }
}

python3 "$EVAL" "$pass" --check 0.9 >"$T_OUT/pass.md" || t_fail "passing set: --check 0.9 failed"
expect "$T_OUT/pass.md" "| 4MB/s, 100mbit, 64 | post-copy 420 ms | post-copy 5790 ms | hybrid | 1.048 | 1.019 | yes |"
expect "$T_OUT/pass.md" "| 0, 1gbit, 16 | pre-copy 100 ms | stop-and-copy 220 ms | pre-copy | 1.100 | 1.100 | yes |"
expect "$T_OUT/pass.md" "| 1MB/s, 1gbit, 256 | - | - | - | - | - | incomplete: no auto run |"
expect "$T_OUT/pass.md" "2 of 2 points (100.0%); 1 incomplete"

rc=0
python3 "$EVAL" "$fail" --check 0.9 >"$T_OUT/fail.md" 2>"$T_OUT/fail.err" || rc=$?
[[ $rc -eq 1 ]] || t_fail "failing set: --check 0.9 gave exit $rc, not 1"
expect "$T_OUT/fail.md" "| 64MB/s, 100mbit, 64 | post-copy 400 ms | post-copy 5800 ms | pre-copy | 5.000 | 1.552 | **no** |"
expect "$T_OUT/fail.md" "| 16MB/s, 1gbit, 1024 | post-copy 300 ms | post-copy 9000 ms | (failed) | inf | inf | **no** |"
expect "$T_OUT/fail.md" "2 of 4 points (50.0%)"
expect "$T_OUT/fail.err" "below 90%"
python3 "$EVAL" "$fail" --check 0.5 >/dev/null || t_fail "failing set: --check 0.5 should pass at 50%"
python3 "$EVAL" "$fail" >/dev/null || t_fail "without --check the exit must be 0"

# A tighter tolerance turns the boundary point into a miss.
python3 "$EVAL" "$pass" --tolerance 0.05 >"$T_OUT/tight.md"
expect "$T_OUT/tight.md" "1 of 2 points (50.0%)"

# Malformed input and an empty directory are usage errors (2), naming the file.
mkdir -p "$T_OUT/bad" "$T_OUT/empty"
echo '{"mode":"auto"}' >"$T_OUT/bad/x.json"
rc=0
python3 "$EVAL" "$T_OUT/bad" 2>"$T_OUT/bad.err" >/dev/null || rc=$?
[[ $rc -eq 2 ]] || t_fail "malformed result: exit $rc, not 2"
expect "$T_OUT/bad.err" "bad/x.json"
rc=0
python3 "$EVAL" "$T_OUT/empty" 2>/dev/null >/dev/null || rc=$?
[[ $rc -eq 2 ]] || t_fail "empty dir: exit $rc, not 2"
t_pass "pass set 100%, fail set 50% (exit 1 at --check 0.9)"
