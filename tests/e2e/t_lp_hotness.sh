#!/usr/bin/env bash
# faultline lazy-pages --hotness: the map's ranges come first, hottest first.
#   1. tests/workloads/zipf (32 MiB, Zipf writes at 20000 ops/s, hot pages scattered)
#      in its own pid namespace; `faultline probe hotness --map` on it for 1 s (if the
#      probe cannot run here: a handcrafted map of zipf's 64 hottest pages, from
#      DIR/hot, plus one 16-page range); criu dump.
#   2. faultline page-server -v (TLS; logs every GET in order, per connection);
#      faultline lazy-pages --hotness MAP --bg-pages 4 --bg-depth 1; criu restore
#      --lazy-pages. On the background link, the first GETs must lie inside the map's
#      ranges, in the map's order (each range's index never decreasing), and together
#      with the pages the workload faulted in meanwhile (fault link) cover every lazy
#      page of the map; no later background GET may touch a map page, and no page is
#      fetched twice. The summary accounts for every lazy page, and the restored zipf
#      verifies every byte (pattern, per-page counts against its shadow array).
#   3. Malformed maps (bad hex, unaligned, start >= end, a missing field, a stray
#      word) and a missing one make lazy-pages exit 1 at startup with an error that
#      names the file and, for a malformed one, the line.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

ZIPF=${ZIPF:-$ROOT/build/workloads/zipf}
wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki map=$T_OUT/hot.map mib=32
t_init
lp_require
t_pipe_max_default
[[ -x $ZIPF ]] || t_fail "$ZIPF missing: run make"
ver=$(lp_criu_version)

pid=$(lp_start_prog "$wl" zipf 20 "$ZIPF" --size "$mib" --dir "$wl" --rate 20000) ||
	t_fail "zipf did not start"
sleep 0.3
src=probe
if ! "$FAULTLINE" probe hotness --pid "$pid" --interval 50 --duration 1 --no-bpf --map "$map" \
	>"$T_OUT/probe.out" 2>"$T_OUT/probe.err" </dev/null; then
	t_log "probe hotness cannot run here ($(head -1 "$T_OUT/probe.err")); handcrafted map"
	src=handcrafted
	read -r _ _ base _ <"$wl/ready"
	{
		echo "# faultline-hotness 1"
		echo "# vpid start end writes"
		n=64
		while read -r a; do
			printf '1 %x %x %d\n' "$a" $((a + 4096)) $((n--))
		done <"$wl/hot"
		printf '1 %x %x 1\n' $((base + 4096 * 1000)) $((base + 4096 * 1016))
	} >"$map"
fi
nmap=$(grep -vc '^#' "$map") || t_fail "empty hotness map"
t_dump_gone "$pid" "$img"

# 3 first: bad maps are refused before anything listens.
bad=$T_OUT/bad.map
check_bad() { # CONTENT WHAT LINE: lazy-pages must refuse a map with CONTENT
	local rc=0 err
	printf '%b' "$1" >"$bad"
	"$FAULTLINE" lazy-pages -D "$img" -W "$T_OUT/badwd" --hotness "$bad" \
		</dev/null >"$T_OUT/bad.out" 2>&1 || rc=$?
	err=$(cat "$T_OUT/bad.out")
	((rc == 1)) || t_fail "map with $2: exit $rc, want 1 ($err)"
	[[ $err == *"$bad"*"line $3"* ]] || t_fail "map with $2: error does not name $bad and line $3: $err"
}
mkdir -p "$T_OUT/badwd"
check_bad '# faultline-hotness 1\n1 7f0000000000 7f0000001000 3\n1 7fzz00000000 7f0000002000 2\n' "bad hex" 3
check_bad '1 7f0000000800 7f0000001000 3\n' "an unaligned start" 1
check_bad '# x\n\n1 7f0000002000 7f0000001000 3\n' "start >= end" 3
check_bad '1 7f0000000000 7f0000001000\n' "a missing field" 1
check_bad '1 7f0000000000 7f0000001000 3 extra\n' "a stray word" 1
check_bad '0 7f0000000000 7f0000001000 3\n' "vpid 0" 1
rc=0
"$FAULTLINE" lazy-pages -D "$img" -W "$T_OUT/badwd" --hotness "$T_OUT/none.map" \
	</dev/null >"$T_OUT/bad.out" 2>&1 || rc=$?
if ((rc != 1)) || ! grep -q "$T_OUT/none.map: No such file" "$T_OUT/bad.out"; then
	t_fail "missing map: exit $rc, $(cat "$T_OUT/bad.out")"
fi
[[ ! -e $T_OUT/badwd/lazy-pages.socket ]] || t_fail "lazy-pages listened with a bad map"

# 2: the migration.
lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" -v || t_fail "page-server did not start"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--criu-version "$ver" --hotness "$map" --hotness-block 1 --bg-pages 4 --bg-depth 1 -v
grep -q "hotness map $map: $nmap ranges to prefetch first" "$wd/lp.log" ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages did not load the map"; }
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
rc=0
lp_wait 60 || rc=$?
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
t_verify "$wl" 60 || t_fail "memory verification failed"
read -r f p z < <(lp_check_summary "$wd" "$T_PS_LAZY")
grep -q 'background link connected' "$wd/lp.log" || t_fail "no background link"
! grep -q 'background shares the fault link' "$wd/lp.log" || t_fail "background link failed"
kill -TERM "$T_PS_PID"
t_fl_ps_wait 10 || t_fail "page-server did not stop cleanly"

# The server logs "<peer>: connected (TLS)" per link, the fault link first (lazy-pages
# opens it at startup, the background link after the restore), then every GET.
bgpeer=$(sed -n 's/.* \([^ ]*\): connected (TLS).*/\1/p' "$T_OUT/ps.log" | sed -n 2p)
[[ -n $bgpeer ]] || { t_criu_log "$T_OUT/ps.log"; t_fail "no second connection in the server log"; }
dup=$(lp_dup "$wd")
check=$(python3 - "$map" "$T_OUT/ps.log" "$bgpeer" "$dup" <<'PY'
import re, sys
mapf, log, bgpeer, ndup = sys.argv[1:]
ranges = []                     # (vpid, start, end) in file order
for l in open(mapf):
    if l.strip() and not l.startswith("#"):
        v, s, e, _ = l.split()
        ranges.append((int(v), int(s, 16), int(e, 16)))
owner = {}                      # (vpid, page) -> index of its map range
for i, (v, s, e) in enumerate(ranges):
    for a in range(s, e, 4096):
        owner.setdefault((v, a), i)
bg, fault = [], []
for l in open(log):
    m = re.search(r" (\S+): GET pid (\d+) vaddr 0x([0-9a-f]+) nr (\d+)", l)
    if m:
        pages = [(int(m[2]), int(m[3], 16) + 4096 * k) for k in range(int(m[4]))]
        (bg if m[1] == bgpeer else fault).append(pages)
def fail(msg):
    print(msg)
    sys.exit(1)
if not bg:
    fail("no background GET")
# Each page once per link at most. A page on both links: a fault asked again, alone,
# for a page still in flight in the background (lazy-pages counts these).
seen_bg, seen_fault, again = set(), set(), 0
for g in bg:
    for pg in g:
        if pg in seen_bg:
            fail("page %d:%x fetched twice in the background" % pg)
        seen_bg.add(pg)
for g in fault:
    for pg in g:
        if pg in seen_fault:
            fail("page %d:%x fetched twice on the fault link" % pg)
        seen_fault.add(pg)
        if pg in seen_bg:
            if len(g) != 1:
                fail("page %d:%x in a background GET and a %d-page fault GET" % (pg + (len(g),)))
            again += 1
if again != int(ndup):
    fail("%d pages came on both links, lazy-pages says it asked again for %s" % (again, ndup))
seen = seen_bg | seen_fault
lead, last = 0, -1
while lead < len(bg) and all(pg in owner for pg in bg[lead]):
    idx = {owner[pg] for pg in bg[lead]}
    if len(idx) != 1:
        fail("background GET %d spans map ranges %s" % (lead, sorted(idx)))
    i = idx.pop()
    if i < last:
        fail("background GET %d is from map range %d after range %d: not hottest first" % (lead, i, last))
    last, lead = i, lead + 1
for k, g in enumerate(bg[lead:], lead):
    if any(pg in owner for pg in g):
        fail("background GET %d (after %d map GETs) touches a map page" % (k, lead))
lazy_map = {pg for pg in owner if pg in seen}
first = {pg for g in bg[:lead] for pg in g}
faulted = {pg for g in fault for pg in g}
missing = lazy_map - first - faulted
if missing:
    fail("%d lazy map pages neither in the first background GETs nor faulted" % len(missing))
if not first:
    fail("no map page came through the background")
print("%d map ranges, %d lazy map pages: %d in the first %d background GETs (of %d), %d faulted"
      % (len(ranges), len(lazy_map), len(first & lazy_map), lead, len(bg), len(lazy_map & faulted)))
PY
) || t_fail "background order: $check"
t_pipe_max_default
t_pass "CRIU $("$CRIU" --version | sed -n 's/Version: //p'), $src map: $check;" \
	"$f faulted + $p prefetched = $T_PS_LAZY"
