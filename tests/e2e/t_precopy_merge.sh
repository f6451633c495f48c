#!/usr/bin/env bash
# precopy recv + merge with real CRIU dumps (64 MiB memfill, stopped with SIGSTOP so that
# its pages are the same in every copy):
#   full: an FLPC stream of every private anonymous page (tests/e2e/flpc_make.py reads
#     /proc/PID/mem), then `criu dump --lazy-pages` (images copied once it serves, then
#     it and the source are killed); `precopy recv` + `precopy merge --mode full`; a
#     plain `criu restore` of the merged images; every byte verified.
#   lazy: a stream of about half the pages, some of them invalidated afterwards; a
#     normal `criu dump --leave-running` (served by `faultline page-server -D` over TLS:
#     the source of the remote half) and a `criu dump --lazy-pages` of the same task;
#     `precopy merge --mode lazy`; `faultline lazy-pages --page-server` + `criu restore
#     --lazy-pages`; every byte verified, and the summary's local pages must equal the
#     merge's local pages, its remote pages the merge's remote ones.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

MAKE_FLPC=$(dirname "$0")/flpc_make.py
mib=64 pki=$T_OUT/pki
t_init
lp_require

# lazy_dump PID IMG: `criu dump --lazy-pages` of PID; once it serves (images written),
# copy its image dir to IMG, SIGKILL it and the dumped task.
lazy_dump() {
	local pid=$1 img=$2 src=$2.src port dump
	port=$(t_free_port)
	mkdir -p "$src"
	"$CRIU" dump -t "$pid" -D "$src" -o dump.log -v4 --lazy-pages --address 127.0.0.1 \
		--port "$port" </dev/null >"$src.out" 2>&1 &
	dump=$!
	t_track "$dump"
	t_wait_for 60 eval "grep -q 'Starting page server on port' $(printf %q "$src")/dump.log \
		2>/dev/null || ! t_alive $dump" || t_fail "criu dump --lazy-pages did not serve in 60 s"
	t_alive "$dump" || { t_criu_log "$src/dump.log"; t_fail "criu dump --lazy-pages failed"; }
	compgen -G "$src/pagemap-*.img" >/dev/null || t_fail "no pagemap images in $src"
	cp -a "$src" "$img"
	kill -KILL "$dump" "$pid"
	{ wait "$dump"; } 2>/dev/null || true
	t_wait_exit "$pid" 10 || t_fail "dumped task $pid still runs"
}

# json FILE KEY: a top-level number from a stats file.
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# --- full mode: plain restore from merged images ---
wl=$T_OUT/wl1 img=$T_OUT/img1 store=$T_OUT/store1
pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
kill -STOP "$pid"
python3 "$MAKE_FLPC" --pid "$pid" --out "$T_OUT/full.flpc" >"$T_OUT/full.make" ||
	t_fail "flpc_make.py failed"
lazy_dump "$pid" "$img"
"$FAULTLINE" precopy recv -D "$store" --stats "$T_OUT/recv1.json" <"$T_OUT/full.flpc" \
	2>"$T_OUT/recv1.err" || t_fail "precopy recv: $(cat "$T_OUT/recv1.err")"
rm -f "$T_OUT/full.flpc"
"$FAULTLINE" precopy merge --store "$store" -D "$img" --mode full --stats "$T_OUT/merge1.json" \
	2>"$T_OUT/merge1.err" || t_fail "precopy merge --mode full: $(cat "$T_OUT/merge1.err")"
full_local=$(json "$T_OUT/merge1.json" local)
((full_local >= mib * 256)) || t_fail "merge made only $full_local pages local"
t_restore "$img" || t_fail "plain restore of the merged images failed"
kill -CONT "$(cat "$img/restored.pid")"
t_verify "$wl" 60 || t_fail "full mode: memory verification failed"

# --- lazy mode: half local, the rest from faultline page-server ---
wl=$T_OUT/wl2 img=$T_OUT/img2 imgn=$T_OUT/imgn store=$T_OUT/store2 wd=$T_OUT/dst
pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
kill -STOP "$pid"
python3 "$MAKE_FLPC" --pid "$pid" --out "$T_OUT/half.flpc" --half --invalidate-every 4 \
	>"$T_OUT/half.make" || t_fail "flpc_make.py failed"
t_dump "$pid" "$imgn" --leave-running || t_fail "normal dump failed"
lazy_dump "$pid" "$img"
"$FAULTLINE" precopy recv -D "$store" --stats "$T_OUT/recv2.json" <"$T_OUT/half.flpc" \
	2>"$T_OUT/recv2.err" || t_fail "precopy recv: $(cat "$T_OUT/recv2.err")"
rm -f "$T_OUT/half.flpc"
valid=$(json "$T_OUT/recv2.json" valid) inval=$(json "$T_OUT/recv2.json" invalidated)
((inval > 0)) || t_fail "the stream invalidated nothing"
"$FAULTLINE" precopy merge --store "$store" -D "$img" --mode lazy --stats "$T_OUT/merge2.json" \
	2>"$T_OUT/merge2.err" || t_fail "precopy merge --mode lazy: $(cat "$T_OUT/merge2.err")"
want_local=$(json "$T_OUT/merge2.json" local) want_remote=$(json "$T_OUT/merge2.json" remote)
((want_local > mib * 256 / 4 && want_local <= valid && want_remote > mib * 256 / 4)) ||
	t_fail "merge: $want_local local, $want_remote remote ($valid valid): not about half"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$imgn" --pki "$pki" || t_fail "page-server did not start"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" -v
grep -q 'pages from local images and the page server' "$wd/lp.log" ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages does not read the merged pages locally"; }
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
kill -CONT "$(cat "$wd/restored.pid")"
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "lazy mode: memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
read -r f p z < <(lp_check_summary "$wd" "$((want_local + want_remote))")
read -r got_local got_remote < <(sed -n 's/.*summary: .*; \([0-9]*\) pages local, \([0-9]*\) remote.*/\1 \2/p' \
	"$wd/lp.log" | tail -1)
((got_local == want_local && got_remote == want_remote)) ||
	t_fail "lazy-pages: $got_local local + $got_remote remote, merge said $want_local + $want_remote"
kill -TERM "$T_PS_PID"
t_fl_ps_wait 10 || t_fail "page-server did not stop cleanly"

t_pass "full: $full_local pages merged, plain restore verified; lazy: $got_local local +" \
	"$got_remote remote ($f faulted, $p prefetched; $inval invalidated), verified"
