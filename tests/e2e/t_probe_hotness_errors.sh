#!/usr/bin/env bash
# `faultline probe hotness` when things are not as they should be: a pid that does
# not exist, a kernel thread, a thread id, usage errors, a target already traced
# (strace), a probe without privilege (nobody), a probe that may not load BPF (it
# warns and goes on without), --no-bpf, and a target that exits while tracked.
# Every target must be left as found. Skips (77) when not root.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

t_init
"$FAULTLINE" probe hotness --help >/dev/null 2>&1 || t_skip "faultline was built without BPF probes"
out=$T_OUT/probe

# expect RC PATTERN ARGS...: run the probe with ARGS; its exit status must be RC and
# its stderr must match PATTERN (grep -E).
expect() {
	local want=$1 pat=$2 rc=0
	shift 2
	t_with_timeout 60 "$FAULTLINE" probe hotness "$@" >"$out.out" 2>"$out.err" </dev/null || rc=$?
	((rc == want)) || t_fail "probe hotness $*: exit $rc, want $want: $(cat "$out.err")"
	grep -qE -e "$pat" "$out.err" || t_fail "probe hotness $*: stderr lacks /$pat/: $(cat "$out.err")"
}

# clean PID: no uffd left in it, and not traced by us.
clean() {
	local f
	for f in "/proc/$1/fd"/*; do
		[[ $(readlink "$f") != *userfaultfd* ]] || t_fail "pid $1 holds a userfaultfd"
	done
	! grep -qE '^VmFlags:.* (uw|um)( |$)' "/proc/$1/smaps" || t_fail "pid $1 has uffd registrations"
}

expect 1 'pid 4194303: no such process' --pid 4194303 --rounds 1
expect 1 'pid 2: it has no user memory' --pid 2 --rounds 1
expect 2 '--pid is required' --rounds 1
expect 2 'not both' --pid 1 --rounds 1 --duration 1
expect 2 'not a number' --pid 1 --interval 0

sleep 300 &
target=$!
disown "$target"
t_track "$target"
python3 -c 'import threading, time
t = threading.Thread(target=time.sleep, args=(300,)); t.start(); t.join()' &
threaded=$!
disown "$threaded"
t_track "$threaded"
t_wait_for 10 eval "[[ \$(echo /proc/$threaded/task/*) == *' '* ]]" || t_fail "python has no thread"
tid=
for t in "/proc/$threaded/task"/*; do [[ ${t##*/} == "$threaded" ]] || tid=${t##*/}; done
[[ -n $tid ]] || t_fail "no second thread in $threaded"
expect 0 "pid $tid is a thread of process $threaded" --pid "$tid" --rounds 2 --no-bpf
clean "$threaded"

# Not root: nothing is touched.
setpriv --reuid=65534 --regid=65534 --clear-groups "$FAULTLINE" probe hotness --pid "$target" \
	--rounds 1 >"$out.out" 2>"$out.err" </dev/null && t_fail "an unprivileged probe ran"
grep -q "pid $target: no permission" "$out.err" || t_fail "unprivileged: $(cat "$out.err")"
clean "$target"

# Already traced: refused, and the tracer keeps it.
strace -f -o /dev/null -p "$target" 2>/dev/null &
tracer=$!
t_track "$tracer"
t_wait_for 10 eval "[[ \$(awk '/^TracerPid:/ {print \$2}' /proc/$target/status) != 0 ]]" ||
	t_fail "strace did not attach"
expect 1 "pid $target: cannot ptrace it" --pid "$target" --rounds 1 --no-bpf
kill "$tracer"
wait "$tracer" 2>/dev/null || true
clean "$target"

# No CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: a warning, then PAGEMAP_SCAN alone.
setpriv --bounding-set -bpf,-perfmon,-sys_admin "$FAULTLINE" probe hotness --pid "$target" \
	--rounds 3 --json >"$out.json" 2>"$out.err" </dev/null || t_fail "without BPF: $(cat "$out.err")"
grep -q 'continuing without BPF' "$out.err" || t_fail "no fallback warning: $(cat "$out.err")"
grep -q '"bpf":false' "$out.json" || t_fail "the start line should say bpf false"
(($(grep -c '"type":"round"' "$out.json") == 3)) || t_fail "not 3 rounds without BPF"
clean "$target"

# A target that exits while tracked: the probe notices and ends by itself.
sleep 0.6 &
short=$!
t_track "$short"
expect 0 "pid $short exited" --pid "$short" --pid "$target" --duration 1.5 --interval 50
expect 0 'every tracked process has exited' --pid "$target" --duration 30 --interval 50 &
sleep 0.5
kill -KILL "$target"
wait $! || t_fail "the probe did not end cleanly when its only target died"
t_pass "every case"
