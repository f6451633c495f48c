#!/usr/bin/env bash
# faultline migrate --pid: a process tree the user started (memfill with 2 threads, 64 MiB,
# in its own pid namespace inside the lab's source namespace) moves by post-copy; migrate
# leaves it running on the destination (it did not start it), where it then checks every
# byte of its memory. Its own verification is the test's.
. "$(dirname "$0")/lib_mig.sh"
t_init
mig_require
"$ROOT/bench/netlab.sh" up "$MIG_LAB" --client 2>/dev/null || t_fail "netlab up"
wl=$T_OUT/wl
rm -rf "$wl" && mkdir -p "$wl"
nsenter --net="/run/netns/$MIG_LAB-src" unshare -p -f setsid sh -c \
	'exec "$@" </dev/null >/dev/null 2>>"$0"' "$wl/memfill.err" "$MEMFILL" --size 64 --threads 2 \
	--dir "$wl" &
up=$!
t_track "$up"
t_wait_for 30 test -e "$wl/ready" || t_fail "memfill not ready: $(cat "$wl/memfill.err")"
pid=$(pgrep -P "$up" | head -1)
[[ $(cat "/proc/$pid/comm" 2>/dev/null) == memfill ]] || t_fail "cannot find memfill under $up"
mig_run 0 --pid "$pid" --mode post-copy --rate 1gbit --no-probe
mig_assert "post-copy ok" "r['mode'] == 'post-copy' and r['result'] == 'ok'"
mig_assert "all memory crossed the link after the freeze" \
	"r['link']['bytes_postcopy'] >= 64 * 1048576"
t_wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || t_fail "the source $pid still runs"
rpid=$(cat "$T_OUT/mig/dst/restored.pid")
t_track "$rpid"
t_alive "$rpid" || t_fail "the migrated process $rpid does not run"
have=$(readlink "/proc/$rpid/ns/net") want=$(nsenter --net="/run/netns/$MIG_LAB-dst" readlink /proc/self/ns/net)
[[ $have == "$want" ]] || t_fail "the migrated process $rpid is in $have, not $MIG_LAB-dst ($want)"
t_verify "$wl" 60 || t_fail "memory differs after the migration"
t_pass "$(mig_json "'freeze %d ms, total %d ms, %.1f MiB on the link' % (r['times_ms']['freeze'], r['times_ms']['total'], r['link']['bytes'] / 1048576)")"
