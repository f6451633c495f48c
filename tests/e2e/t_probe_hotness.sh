#!/usr/bin/env bash
# `faultline probe hotness` on a process tree it did not start, then `criu dump`:
#  1. nothing missed, nothing extra: tests/workloads/writer (in its own pid namespace,
#     2 processes x 2 threads) writes a known set of pages after the probe attached and
#     logs it; within its buffer the probe's --pages must list exactly those pages;
#  2. exact BPF counts: a hot page has one write fault per round it was written in,
#     a page written once has 1, a page only the kernel wrote (read(2)) has 0, an
#     unwritten page nothing (hotness_check.awk), and the --map agrees with --pages,
#     hottest first, keyed by the pid in the writer's namespace;
#  3. the targets are left clean: no userfaultfd in their fd tables, no uffd
#     registration (VmFlags uw/um), not traced; `criu dump` succeeds straight after
#     and the restored copies verify every page they hold.
# Skips (77) when not root, when faultline has no BPF probes built in, or the kernel
# lacks async uffd-wp; when BPF cannot be loaded (a warning), checks 1 and 3 only.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

WRITER=${WRITER:-$ROOT/build/workloads/writer}
CHECK_AWK=$(dirname "$0")/hotness_check.awk
t_init
"$FAULTLINE" probe hotness --help >/dev/null 2>&1 || t_skip "faultline was built without BPF probes"
[[ -x $WRITER ]] || t_fail "$WRITER missing: run make"

wl=$T_OUT/wl
out=$T_OUT/probe
mkdir -p "$wl"

# start_writer: the writer as session leader of a new pid namespace (vpid 1, its child
# vpid 2); prints the root-namespace pid of vpid 1 once both are ready.
start_writer() {
	local upid pid
	unshare -p -f setsid "$WRITER" --dir "$wl" --pages 1024 --seconds 1.5 --threads 2 \
		--children 1 --max-wait 300 </dev/null >/dev/null 2>/dev/null &
	upid=$!
	t_track "$upid"
	t_wait_for 20 test -e "$wl/ready.1" -a -e "$wl/ready.2" || t_fail "writer not ready"
	pid=$(pgrep -P "$upid" | head -1)
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == writer ]] || pid=$(pgrep -P "$pid" | head -1)
	[[ -n $pid ]] || t_fail "cannot find the writer under unshare $upid"
	t_track "$pid" $(pgrep -P "$pid")
	echo "$pid"
}

# check_clean PID: no uffd in its fd table or its mm, not traced.
check_clean() {
	local p=$1
	local f
	for f in "/proc/$p/fd"/*; do
		[[ $(readlink "$f") != *userfaultfd* ]] || t_fail "pid $p still holds a userfaultfd: $f"
	done
	if grep -E '^VmFlags:.* (uw|um|ui)( |$)' "/proc/$p/smaps" >/dev/null; then
		t_fail "pid $p still has userfaultfd-registered mappings"
	fi
	[[ $(awk '/^TracerPid:/ {print $2}' "/proc/$p/status") == 0 ]] || t_fail "pid $p is still traced"
}

# check_map: the map's format, order and contents against --pages (written pages only).
check_map() {
	python3 - "$out.map" "$out.pages" <<'PY' || t_fail "the hotness map does not match --pages"
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[:2] == ["# faultline-hotness 1", "# vpid start end writes"], lines[:2]
pages, last = {}, None
for l in lines[2:]:
    vpid, s, e, w = l.split()
    s, e, w = int(s, 16), int(e, 16), int(w)
    assert s % 4096 == 0 and e % 4096 == 0 and s < e and w >= 1, l
    assert last is None or w <= last, "not hottest first: " + l
    last = w
    for a in range(s, e, 4096):
        assert (vpid, a) not in pages, "page twice: " + l
        pages[(vpid, a)] = w
want = {}
for l in open(sys.argv[2]):
    if l.startswith("#"):
        continue
    vpid, a, rounds, faults = l.split()
    if int(rounds):
        want[(vpid, int(a, 16))] = int(rounds)
assert pages == want, "map %d pages, --pages %d" % (len(pages), len(want))
PY
}

pid=$(start_writer)
mapfile -t pids < <(echo "$pid"; pgrep -P "$pid")
((${#pids[@]} == 2)) || t_fail "writer should be 2 processes, found ${pids[*]}"

"$FAULTLINE" probe hotness --pid "$pid" --tree --interval 50 --duration 4 --json \
	--map "$out.map" --pages "$out.pages" >"$out.json" 2>"$out.err" </dev/null &
probe=$!
t_track "$probe"
t_wait_for 20 eval "grep -q '\"type\":\"start\"' $(printf %q "$out.json") || ! t_alive $probe" ||
	t_fail "probe did not start within 20 s: $(cat "$out.err")"
if ! t_alive "$probe"; then
	grep -q 'needs Linux 6.7' "$out.err" && t_skip "no async uffd-wp here: $(cat "$out.err")"
	t_fail "probe exited at startup: $(cat "$out.err")"
fi
grep -q '"vpid":2' "$out.json" || t_fail "probe did not attach the child (--tree): $(head -1 "$out.json")"
bpf=1
grep -q '"bpf":true' "$out.json" || { bpf=0; t_log "no BPF here: $(head -2 "$out.err")"; }

touch "$wl/go"
rc=0
t_wait_exit "$probe" 30 || t_fail "probe still runs after 30 s"
wait "$probe" || rc=$?
((rc == 0)) || t_fail "probe exited with $rc: $(cat "$out.err")"
[[ -s $wl/written.1 && -s $wl/written.2 ]] || t_fail "the writer did not log its writes"

# 1 + 2: exact pages and counts, per process.
for v in 1 2; do
	read -r base npages <"$wl/ready.$v"
	awk -v vpid="$v" -v base="$base" -v npages="$npages" -v bpf="$bpf" -f "$CHECK_AWK" \
		"$wl/written.$v" "$out.pages" >"$out.check.$v" || t_fail "$(cat "$out.check.$v")"
done
check_map
rounds=$(grep -c '"type":"round"' "$out.json")
((rounds >= 60 && rounds <= 81)) || t_fail "$rounds rounds in 4 s at 50 ms"
grep -q '"type":"summary"' "$out.json" || t_fail "no summary line"

# 3: clean, then dump and restore.
for p in "${pids[@]}"; do check_clean "$p"; done
t_require_criu "$CRIU"
t_dump "$pid" "$T_OUT/img" || t_fail "criu dump failed right after the probe"
t_wait_exit "$pid" 10 || t_fail "dumped task $pid still runs"
t_restore "$T_OUT/img" || t_fail "restore failed"
touch "$wl/check"
t_wait_for 30 test -s "$wl/result.1" -a -s "$wl/result.2" || t_fail "restored writers did not verify"
for v in 1 2; do
	[[ $(cat "$wl/result.$v") == OK* ]] || t_fail "restored vpid $v: $(cat "$wl/result.$v")"
done
t_pass "$(cat "$out.check.1" "$out.check.2" | tr '\n' ' ')bpf=$bpf, $rounds rounds, $(wc -l <"$out.map") map lines"
