#!/usr/bin/env bash
# `faultline precopy send`: live pre-copy rounds from a process tree it did not start.
#  1. writer (2 processes x 2 threads, own pid namespace, hot pages written every ms):
#     3 rounds, then SIGSTOP (the "freeze") and SIGUSR1: exit 0; the stream is well formed
#     (flpc_check.py: rounds, END totals), every page it holds as valid equals the memory
#     of the stopped tasks, every page with data is in it; the targets are left clean
#     (no uffd fd, no registration, not traced) and the writers verify their own memory.
#  2. a python3 process that maps, writes and unmaps memory all the time (addresses are
#     reused: the munmap + mmap and new-mapping paths), --final data and --final
#     invalidate: the valid pages still equal the frozen memory.
#  3. `criu dump --lazy-pages` works on a tracked process; the final pass runs on the
#     tasks CRIU froze and the stream equals their memory.
#  4. a target killed mid-round (the sender blocked on a full pipe in round 0): exit 1,
#     a message naming the pid, no END, and the surviving process of the tree is clean.
# Skips (77) when not root or faultline has no BPF support built in.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

WRITER=${WRITER:-$ROOT/build/workloads/writer}
CHECK=$(dirname "$0")/flpc_check.py
t_init
[[ -x $WRITER ]] || t_fail "$WRITER missing: run make"
"$FAULTLINE" precopy send --pid 1 </dev/null >/dev/null 2>"$T_OUT/probe.err" || true
grep -q 'without BPF' "$T_OUT/probe.err" && t_skip "faultline was built without BPF support"

# in_ns DIR CMD...: CMD as session leader of a new pid namespace (vpid 1); waits for
# DIR/READY (default ready.1) and prints CMD's pid in the root namespace.
in_ns() {
	local dir=$1 upid pid
	shift
	unshare -p -f setsid "$@" </dev/null >/dev/null 2>"$dir/ns.err" &
	upid=$!
	t_track "$upid"
	t_wait_for 20 test -e "$dir/${READY:-ready.1}" || t_fail "$* not ready: $(cat "$dir/ns.err")"
	pid=$(pgrep -P "$upid" | head -1)
	[[ -n $pid ]] || t_fail "cannot find the workload under unshare $upid"
	t_track "$pid" $(pgrep -P "$pid")
	echo "$pid"
}

# freeze PID...: SIGSTOP them and wait until every thread has stopped.
freeze() {
	kill -STOP "$@"
	local p
	for p in "$@"; do
		t_wait_for 5 eval "! grep -qv '^[0-9]* ([^)]*) [tT]' /proc/$p/task/*/stat" ||
			t_fail "pid $p did not stop"
	done
}

# check_clean PID: no uffd in its fd table or its mm, not traced.
check_clean() {
	local f
	for f in "/proc/$1/fd"/*; do
		[[ $(readlink "$f") != *userfaultfd* ]] || t_fail "pid $1 still holds a userfaultfd"
	done
	! grep -qE '^VmFlags:.* (uw|um|ui)( |$)' "/proc/$1/smaps" || t_fail "pid $1 still has uffd registrations"
	[[ $(awk '/^TracerPid:/ {print $2}' "/proc/$1/status") == 0 ]] || t_fail "pid $1 is still traced"
}

# send OUT PID ARGS...: start the sender in the background (stream OUT.flpc, status
# OUT.status, stderr OUT.err); sets SEND.
send() {
	local out=$1 pid=$2
	shift 2
	"$FAULTLINE" precopy send --pid "$pid" --status-fd 3 "$@" 3>"$out.status" >"$out.flpc" 2>"$out.err" &
	SEND=$!
	t_track "$SEND"
}

# rounds_done OUT: wait for the rounds-done status line.
rounds_done() {
	t_wait_for 30 eval "grep -q rounds-done $1.status || ! t_alive $SEND" || t_fail "no rounds-done in 30 s"
	t_alive "$SEND" || t_fail "sender exited during the rounds: $(cat "$1.err")"
}

# finish OUT: SIGUSR1, then the sender must exit 0 with an end line.
finish() {
	local rc=0
	kill -USR1 "$SEND"
	t_wait_exit "$SEND" 20 || t_fail "sender still runs 20 s after SIGUSR1"
	wait "$SEND" || rc=$?
	((rc == 0)) || t_fail "sender exited with $rc: $(cat "$1.err")"
	grep -q '"event":"end"' "$1.status" || t_fail "no end status line"
}

# --- 1: writer, 3 rounds, data.
wl=$T_OUT/wl
mkdir -p "$wl"
pid=$(READY=ready.2 in_ns "$wl" "$WRITER" --dir "$wl" --pages 2048 --seconds 4 --threads 2 \
	--children 1 --max-wait 120)
kid=$(pgrep -P "$pid")
touch "$wl/go"
out=$T_OUT/w
send "$out" "$pid" --max-rounds 3 --interval 200 --stop-dirty 0 --min-shrink 0
rounds_done "$out"
grep -q '"reason":"max-rounds"' "$out.status" || t_fail "rounds did not stop at --max-rounds"
(($(grep -c '"round":' "$out.status") == 3)) || t_fail "not 3 round lines: $(cat "$out.status")"
grep -q '"round":2,"pages":[1-9]' "$out.status" || t_fail "round 2 sent nothing: $(cat "$out.status")"
freeze "$pid" "$kid"
finish "$out"
res1=$(python3 "$CHECK" "$out.flpc" --rounds 3 --mem "$pid:1" --mem "$kid:2" --coverage \
	--expect-no-invalid) || t_fail "writer stream: $res1"
check_clean "$pid"
check_clean "$kid"
kill -CONT "$pid" "$kid"
touch "$wl/check"
t_wait_for 30 test -s "$wl/result.1" -a -s "$wl/result.2" || t_fail "writers did not verify"
[[ $(cat "$wl/result.1" "$wl/result.2") == $'OK\nOK' ]] || t_fail "writer: $(cat "$wl"/result.*)"

# --- 2: mapping churn, both final modes.
cat >"$T_OUT/churn.py" <<'PY'
import mmap, random, sys, time
random.seed(int(sys.argv[2]))
maps, i = [], 0
open(sys.argv[1] + "/ready.1", "w").close()
while True:
    i += 1
    if len(maps) < 8 or random.random() < 0.3:
        maps.append(mmap.mmap(-1, random.choice([1, 3, 16, 64]) * 4096,
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS))
    if len(maps) > 12:
        maps.pop(random.randrange(len(maps))).close()
    m = random.choice(maps)
    off = random.randrange(len(m) // 4096) * 4096
    m[off:off + 8] = i.to_bytes(8, "little")
    junk = [bytes(random.randrange(3000)) for _ in range(40)]
    time.sleep(0.002)
PY
for final in data invalidate; do
	cw=$T_OUT/churn-$final
	mkdir -p "$cw"
	cpid=$(in_ns "$cw" python3 "$T_OUT/churn.py" "$cw" 7)
	out=$T_OUT/c-$final
	send "$out" "$cpid" --max-rounds 4 --interval 100 --stop-dirty 0 --min-shrink 0 --final "$final"
	rounds_done "$out"
	sleep 0.3
	freeze "$cpid"
	finish "$out"
	res=$(python3 "$CHECK" "$out.flpc" --rounds 4 --mem "$cpid:1" --coverage) ||
		t_fail "churn stream (--final $final): $res"
	check_clean "$cpid"
	t_log "churn --final $final: $res"
	kill -KILL "$cpid"
done

# --- 3: criu dump --lazy-pages while tracking is armed.
crit=skipped
if "$CRIU" --version >/dev/null 2>&1; then
	wl3=$T_OUT/wl3
	mkdir -p "$wl3" "$T_OUT/img"
	pid=$(in_ns "$wl3" "$WRITER" --dir "$wl3" --pages 1024 --seconds 30 --threads 2 --max-wait 120)
	touch "$wl3/go"
	out=$T_OUT/d
	send "$out" "$pid" --max-rounds 2 --interval 100 --stop-dirty 0 --final invalidate
	rounds_done "$out"
	"$CRIU" dump --lazy-pages --address 127.0.0.1 --port "$(t_free_port)" -t "$pid" \
		-D "$T_OUT/img" -o dump.log -v4 </dev/null >/dev/null 2>&1 &
	dumper=$!
	t_track "$dumper"
	t_wait_for 30 eval "grep -q 'Starting lazy pages server' $T_OUT/img/dump.log 2>/dev/null || ! t_alive $dumper" ||
		t_fail "criu dump --lazy-pages did not reach its page server"
	t_alive "$dumper" || { t_criu_log "$T_OUT/img/dump.log"; t_fail "criu dump --lazy-pages failed on a tracked process"; }
	finish "$out"
	res3=$(python3 "$CHECK" "$out.flpc" --rounds 2 --mem "$pid:1" --coverage) || t_fail "dump stream: $res3"
	kill -KILL "$dumper" "$pid"
	wait "$dumper" 2>/dev/null || true
	crit=ok
else
	t_log "$CRIU does not run: part 3 skipped"
fi

# --- 4: a target killed mid-round.
wl4=$T_OUT/wl4
mkdir -p "$wl4"
pid=$(READY=ready.2 in_ns "$wl4" "$WRITER" --dir "$wl4" --pages 32768 --seconds 30 --children 1 --max-wait 120)
kid=$(pgrep -P "$pid")
out=$T_OUT/k
# A pipe nobody reads for 3 s: round 0 blocks writing it, holding both processes tracked.
"$FAULTLINE" precopy send --pid "$pid" --status-fd 3 3>"$out.status" 2>"$out.err" \
	> >(sleep 3; cat >/dev/null) &
SEND=$!
t_track "$SEND"
t_wait_for 20 grep -qE '^VmFlags:.* uw' "/proc/$kid/smaps" || t_fail "sender did not attach: $(cat "$out.err")"
sleep 0.5
[[ ! -s $out.status ]] || t_fail "round 0 ended before the kill: $(cat "$out.status")"
kill -KILL "$kid"
rc=0
t_wait_exit "$SEND" 20 || t_fail "sender still runs 20 s after its target was killed"
wait "$SEND" || rc=$?
((rc == 1)) || t_fail "sender exited with $rc, not 1, after its target died: $(cat "$out.err")"
grep -q "pid $kid .*exited" "$out.err" || t_fail "no clear message: $(cat "$out.err")"
grep -q '"event":"error"' "$out.status" || t_fail "no error status line: $(cat "$out.status")"
! grep -q '"round"' "$out.status" || t_fail "a round completed: $(cat "$out.status")"
check_clean "$pid"

t_pass "writer $res1; criu-lazy-dump $crit"
