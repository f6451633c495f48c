#!/usr/bin/env bash
# bench/policy_eval.py on a tiny synthetic set of `faultline migrate` results: the
# grouping by grid point, medians, the ratios against the best fixed mode (freeze and
# total separately), the 10% rule (a boundary case), failed and incomplete runs,
# --check both ways (a set that passes and one that fails), and --by choice (the
# chosen mode's fixed runs: majority and tie, a chosen mode never run or always
# failed, no choice at all) against --by run (auto's own runs).  No CRIU, runs in a second.
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

# --by run: auto's own runs (medians).
python3 "$EVAL" "$pass" --by run --check 0.9 >"$T_OUT/pass.md" || t_fail "passing set: --by run --check 0.9 failed"
expect "$T_OUT/pass.md" "| 4MB/s, 100mbit, 64 | post-copy 420 ms | post-copy 5790 ms | hybrid | 1.024 | 1.010 | 1.048 | 1.019 | yes |"
expect "$T_OUT/pass.md" "| 0, 1gbit, 16 | pre-copy 100 ms | stop-and-copy 220 ms | pre-copy | 1.000 | 1.364 | 1.100 | 1.100 | yes |"
expect "$T_OUT/pass.md" "| 1MB/s, 1gbit, 256 | - | - | - | - | - | - | - | incomplete: no auto run |"
# At D no fixed mode is within 10% on both (100/300 and 220/220): not attainable.
expect "$T_OUT/pass.md" "auto's own runs within 10% of the best fixed mode on both freeze and total: 2 of 2 points (100.0%); 1 incomplete; some fixed mode was within 10% on both at 1"

# --by choice (the default): point D's auto run was lucky; pre-copy's own fixed runs
# are 36% over the best total, so the decision is a miss.
rc=0
python3 "$EVAL" "$pass" --check 0.9 >"$T_OUT/pass-choice.md" 2>/dev/null || rc=$?
[[ $rc -eq 1 ]] || t_fail "passing set by choice: --check 0.9 gave exit $rc, not 1"
expect "$T_OUT/pass-choice.md" "| 0, 1gbit, 16 | pre-copy 100 ms | stop-and-copy 220 ms | pre-copy | 1.000 | 1.364 | 1.100 | 1.100 | **no** |"
expect "$T_OUT/pass-choice.md" "auto's choice (the median of that mode's fixed runs) within 10% of the best fixed mode on both freeze and total: 1 of 2 points (50.0%); 1 incomplete"

rc=0
python3 "$EVAL" "$fail" --by run --check 0.9 >"$T_OUT/fail.md" 2>"$T_OUT/fail.err" || rc=$?
[[ $rc -eq 1 ]] || t_fail "failing set: --check 0.9 gave exit $rc, not 1"
expect "$T_OUT/fail.md" "| 64MB/s, 100mbit, 64 | post-copy 400 ms | post-copy 5800 ms | pre-copy | 5.000 | 1.552 | 5.000 | 1.552 | **no** |"
expect "$T_OUT/fail.md" "| 16MB/s, 1gbit, 1024 | post-copy 300 ms | post-copy 9000 ms | post-copy | 1.000 | 1.000 | inf | inf | **no** |"
expect "$T_OUT/fail.md" "2 of 4 points (50.0%)"
expect "$T_OUT/fail.err" "below 90%"
python3 "$EVAL" "$fail" --by run --check 0.5 >/dev/null || t_fail "failing set: --check 0.5 should pass at 50%"
python3 "$EVAL" "$fail" >/dev/null || t_fail "without --check the exit must be 0"
# By choice, point E's failed auto run still chose post-copy, the best on both: within.
python3 "$EVAL" "$fail" --by choice >"$T_OUT/fail-choice.md"
expect "$T_OUT/fail-choice.md" "| 16MB/s, 1gbit, 1024 | post-copy 300 ms | post-copy 9000 ms | post-copy | 1.000 | 1.000 | inf | inf | yes |"
expect "$T_OUT/fail-choice.md" "2 of 4 points (50.0%)"

# A tighter tolerance turns the boundary point into a miss.
python3 "$EVAL" "$pass" --by run --tolerance 0.05 >"$T_OUT/tight.md"
expect "$T_OUT/tight.md" "1 of 2 points (50.0%)"

# --by choice details.
ch=$T_OUT/choice
# F: auto's runs chose hybrid twice and pre-copy once: hybrid (2 of 3).  Its fixed
# runs (250/660) are within 10% of the bests (pre-copy's median total 620 of 600, 620,
# 1500; post-copy's freeze 240) while auto's own runs (median 270/680) are not.
run "$ch" pre-copy pre-copy 16MB/s 1gbit 32 300 600
run "$ch" pre-copy pre-copy 16MB/s 1gbit 32 310 620
run "$ch" pre-copy pre-copy 16MB/s 1gbit 32 900 1500
run "$ch" hybrid hybrid 16MB/s 1gbit 32 250 660
run "$ch" post-copy post-copy 16MB/s 1gbit 32 240 800
run "$ch" auto hybrid 16MB/s 1gbit 32 400 900
run "$ch" auto pre-copy 16MB/s 1gbit 32 260 650
run "$ch" auto hybrid 16MB/s 1gbit 32 270 680
# G: one run each of hybrid and post-copy: the tie goes to the safer, hybrid.
run "$ch" stop-and-copy stop-and-copy 0 100mbit 128 11000 11000
run "$ch" hybrid hybrid 0 100mbit 128 500 11600
run "$ch" post-copy post-copy 0 100mbit 128 480 11000
run "$ch" auto post-copy 0 100mbit 128 480 11100
run "$ch" auto hybrid 0 100mbit 128 520 11500
# H: the chosen mode never ran as a fixed mode: incomplete.
run "$ch" stop-and-copy stop-and-copy 1MB/s 100mbit 32 3000 3000
run "$ch" auto post-copy 1MB/s 100mbit 32 200 3100
# I: the chosen mode's fixed runs all failed: a miss.
run "$ch" hybrid hybrid 4MB/s 1gbit 128 1 1 error
run "$ch" post-copy post-copy 4MB/s 1gbit 128 300 1500
run "$ch" auto hybrid 4MB/s 1gbit 128 310 1400
# J: auto failed before the policy answered (mode "auto"): a miss.
run "$ch" post-copy post-copy 64MB/s 1gbit 32 200 400
run "$ch" auto auto 64MB/s 1gbit 32 0 0 error
python3 "$EVAL" "$ch" >"$T_OUT/choice.md"
expect "$T_OUT/choice.md" "| 16MB/s, 1gbit, 32 | post-copy 240 ms | pre-copy 620 ms | hybrid (2 of 3 runs) | 1.042 | 1.065 | 1.125 | 1.097 | yes |"
expect "$T_OUT/choice.md" "| 0, 100mbit, 128 | post-copy 480 ms | stop-and-copy 11000 ms | hybrid (1 of 2 runs) | 1.042 | 1.055 | 1.042 | 1.027 | yes |"
expect "$T_OUT/choice.md" "| 1MB/s, 100mbit, 32 | - | - | post-copy | - | - | - | - | incomplete: no fixed run of the chosen mode post-copy |"
expect "$T_OUT/choice.md" "| 4MB/s, 1gbit, 128 | post-copy 300 ms | post-copy 1500 ms | hybrid | inf | inf | 1.033 | 0.933 | **no** |"
expect "$T_OUT/choice.md" "| 64MB/s, 1gbit, 32 | post-copy 200 ms | post-copy 400 ms | (failed) | inf | inf | inf | inf | **no** |"
expect "$T_OUT/choice.md" "auto's choice (the median of that mode's fixed runs) within 10% of the best fixed mode on both freeze and total: 2 of 4 points (50.0%); 1 incomplete; some fixed mode was within 10% on both at 4"
python3 "$EVAL" "$ch" --by run >"$T_OUT/choice-run.md"
expect "$T_OUT/choice-run.md" "auto's own runs within 10% of the best fixed mode on both freeze and total: 3 of 5 points (60.0%)"
rc=0
python3 "$EVAL" "$ch" --by nonsense >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || t_fail "--by nonsense: exit $rc, not 2"

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
t_pass "by run: pass set 100%, fail set 50%; by choice: lucky run caught, ties, failed and missing choices"
