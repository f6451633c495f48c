# shellcheck shell=bash
# Helpers for the `faultline probe` end-to-end tests (t_probe_*.sh). Source after lib.sh.

UFAULT=${UFAULT:-$ROOT/build/workloads/ufault}

# probe_start OUT ARGS...: run `faultline probe ARGS --json` as a child of this shell,
# stdout to OUT.json, stderr to OUT.err, and wait until it has attached. Sets PROBE_PID.
# Skips the test (77) if BPF cannot be used here (not built in, no BTF, no permission).
probe_start() {
	local out=$1
	shift
	"$FAULTLINE" probe "$@" --json >"$out.json" 2>"$out.err" </dev/null &
	PROBE_PID=$!
	t_track "$PROBE_PID"
	t_wait_for 30 eval "grep -q 'attached' $(printf %q "$out.err") || ! t_alive $PROBE_PID" ||
		t_fail "probe did not attach within 30 s: $(cat "$out.err")"
	t_alive "$PROBE_PID" && return 0
	if grep -qE 'cannot (open|load|attach) BPF|without BPF|no BTF' "$out.err"; then
		t_skip "BPF unavailable: $(head -1 "$out.err")"
	fi
	t_fail "probe exited at startup: $(cat "$out.err")"
}

# probe_wait SECS: wait for the probe started by probe_start to exit by itself; fail the
# test if it does not, or exits non-zero.
probe_wait() {
	local rc=0
	t_wait_exit "$PROBE_PID" "$1" || t_fail "probe still runs $1 s after its targets exited"
	wait "$PROBE_PID" || rc=$?
	((rc == 0)) || t_fail "probe exited with $rc"
}

# probe_total OUT FIELD...: from OUT.json's "total" line, print the values of the fields
# named (dotted for stages: stages.fetch.n), one line, space-separated.
probe_total() {
	local out=$1
	shift
	python3 - "$out.json" "$@" <<'PY'
import json, sys
tot = [json.loads(l) for l in open(sys.argv[1]) if '"total"' in l]
if not tot:
    sys.exit("no total line")
vals = []
for f in sys.argv[2:]:
    v = tot[-1]
    for k in f.split("."):
        v = v[k]
    vals.append(str(v))
print(" ".join(vals))
PY
}
