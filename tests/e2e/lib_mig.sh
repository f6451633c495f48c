# shellcheck shell=bash
# Helpers for the `faultline migrate` tests (t_mig_*.sh): one migration of the synthetic
# workload in a lab of the test's own, and checks of its result JSON.
T_NAME=${T_NAME:-$(basename "$0" .sh)}
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIG_LAB=${MIG_LAB:-t-mig}
MIG_WL=${MIG_WL:-synth:size=24,wss=8,rate=4,skew=zipf}

mig_require() {
	t_require_criu
	[[ -x $ROOT/build/workloads/synth && -x $ROOT/build/bench/pinger ]] ||
		t_fail "build/workloads/synth or build/bench/pinger missing: run make"
	t_pipe_max_default
	t_on_exit "$ROOT/bench/netlab.sh down $MIG_LAB 2>/dev/null"
}

# mig_run EXPECTED_RC ARGS...: faultline migrate in lab MIG_LAB; its output goes to
# T_OUT/migrate.out and its JSON to T_OUT/result.json. Fails unless the exit status is
# EXPECTED_RC.
mig_run() {
	local want=$1 rc=0
	shift
	rm -rf "$T_OUT/mig" "$T_OUT/result.json"
	"$FAULTLINE" migrate --lab "$MIG_LAB" -W "$T_OUT/mig" --json "$T_OUT/result.json" "$@" \
		>"$T_OUT/migrate.out" 2>&1 || rc=$?
	if ((rc != want)); then
		tail -n 40 "$T_OUT/migrate.out" | sed 's/^/    /' >&2
		t_fail "faultline migrate $* exited $rc, want $want"
	fi
	[[ -s $T_OUT/result.json ]] || t_fail "no result JSON"
}

# mig_json EXPR: evaluate a python expression over the result JSON `r`; prints the value.
mig_json() {
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$T_OUT/result.json" "$1"
}

# mig_assert DESC EXPR: fail with DESC unless the python expression over `r` is true.
mig_assert() {
	[[ $(mig_json "bool($2)") == True ]] || {
		python3 -m json.tool "$T_OUT/result.json" | head -60 | sed 's/^/    /' >&2
		t_fail "$1 ($2)"
	}
}

# mig_assert_complete MODE: the JSON of a successful run of MODE has every figure.
mig_assert_complete() {
	local mode=$1
	mig_assert "mode" "r['mode'] == '$mode' and r['result'] == 'ok'"
	mig_assert "verified" "str(r['verify']).startswith('OK')"
	mig_assert "times" "r['times_ms']['freeze'] > 0 and r['times_ms']['total'] >= r['times_ms']['freeze']"
	mig_assert "link bytes cover the memory" \
		"r['link']['bytes'] >= r['workload']['mem_mib'] * 1048576 * 0.9"
	mig_assert "images crossed the link" "r['link']['bytes_images'] > 0"
	mig_assert "client kept its connection" \
		"r['client'] and not r['client']['conn_lost'] and r['client']['replies'] > 10 and r['client']['max_gap_ms'] > 0"
	mig_assert "throughput over time" "len(r['throughput']) > 5"
	case $mode in
	post-copy | hybrid)
		mig_assert "fault figures" "r['faults']['remote'] is not None and r['faults']['p99_us'] is not None" ;;
	esac
	case $mode in
	pre-copy | hybrid) mig_assert "pre-copy rounds" "len(r['rounds']) >= 1 and r['link']['bytes_precopy'] > 0" ;;
	esac
}
