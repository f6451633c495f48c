#!/usr/bin/env bash
# A real application through faultline's post-copy path: redis-server (Debian's) with
# over 200 MiB of data (DEBUG POPULATE 200000 data 1024), in its own pid namespace.
#   DEBUG DIGEST + DBSIZE; criu dump (its listening socket needs CRIU 4.2); faultline
#   page-server over TLS; faultline lazy-pages with a slow background (--bg-pages 1
#   --bg-depth 1, a few seconds); criu restore --lazy-pages.
# While the background fetch is still running (asserted), 20 random keys are read and
# checked, then redis-benchmark sends 20000
# read-only requests, each a Lua GET of a random populated key (so they fault in real
# data); then, once lazy-pages has exited 0 with every lazy page accounted for, DEBUG
# DIGEST and DBSIZE must equal their values before the dump.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki keys=200000
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
t_init
lp_require
for c in "$REDIS_SERVER" redis-cli redis-benchmark; do
	command -v "$c" >/dev/null || t_skip "$c missing (make deps installs redis-server, redis-tools)"
done
port=$(t_free_port)
rcli() { timeout 60 redis-cli -h 127.0.0.1 -p "$port" "$@"; }
# A read-only Lua GET of key data:N, N random in [0, keys): DEBUG POPULATE's names.
script="return redis.call('GET', 'data:' .. tonumber(ARGV[1]))"

mkdir -p "$T_OUT/redis"
unshare -p -f setsid "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --daemonize no \
	--save '' --appendonly no --enable-debug-command yes --dir "$T_OUT/redis" \
	</dev/null >/dev/null 2>&1 &
upid=$!
t_track "$upid"
t_wait_for 20 eval "rcli ping 2>/dev/null | grep -q PONG || ! t_alive $upid" ||
	t_fail "redis-server did not answer within 20 s"
t_alive "$upid" || t_fail "redis-server exited at startup"
pid=$(lp_child "$upid" redis-server) || t_fail "cannot find redis-server under unshare $upid"
t_track "$pid"

[[ $(rcli DEBUG POPULATE "$keys" data 1024) == OK ]] || t_fail "DEBUG POPULATE failed"
used=$(rcli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
((used >= 200 * 1048576)) || t_fail "redis holds only $used bytes"
digest=$(rcli DEBUG DIGEST) n=$(rcli DBSIZE)
[[ $n -eq $keys && $digest =~ ^[0-9a-f]{40}$ ]] || t_fail "DBSIZE $n, DEBUG DIGEST '$digest'"
[[ $(rcli EVAL "$script" 0 000000123456) == value:123456* ]] || t_fail "the Lua GET does not find data"
# No client connection is open from here on: the dump has only the listening socket.

t_dump "$pid" "$img" || t_fail "dump failed"
t_wait_exit "$pid" 10 || t_fail "dumped redis $pid still runs"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || t_fail "page-server did not start"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--bg-pages 1 --bg-depth 1 -v
t0=$(date +%s%N)
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
restored=$(cat "$wd/restored.pid")

t_alive "$LP_PID" || { lp_log_tail "$wd"; t_fail "lazy-pages had finished before the benchmark"; }
at_start=$(lp_progress "$wd")
for k in $(shuf -i 0-$((keys - 1)) -n 20); do # lazily read data is right
	v=$(rcli EVAL "$script" 0 "$k" | head -c 20)
	[[ $v == "value:$k"* ]] || t_fail "GET data:$k during the transfer gave '$v'"
done
timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -r "$keys" -q \
	EVAL "$script" 0 __rand_int__ >"$T_OUT/bench.out" 2>&1 ||
	{ cat "$T_OUT/bench.out" >&2; lp_log_tail "$wd"; t_fail "redis-benchmark failed"; }
t1=$(date +%s%N)
rps=$(grep -o '[0-9.]* requests per second' "$T_OUT/bench.out" | tail -1)
[[ -n $rps ]] || { cat "$T_OUT/bench.out" >&2; t_fail "redis-benchmark reported nothing"; }
bg_during=0
t_alive "$LP_PID" && bg_during=1

rc=0
lp_wait 60 || rc=$?
t2=$(date +%s%N)
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
read -r f p z < <(lp_check_summary "$wd" "$T_PS_LAZY")
((f > 1000)) || t_fail "only $f pages faulted: the benchmark did not run on lazy memory"
t_alive "$restored" || t_fail "restored redis died"
d1=$(rcli DEBUG DIGEST) n1=$(rcli DBSIZE)
[[ $d1 == "$digest" ]] || t_fail "DEBUG DIGEST $d1 after the migration, $digest before"
[[ $n1 == "$n" ]] || t_fail "DBSIZE $n1 after the migration, $n before"
kill -TERM "$restored" "$T_PS_PID"
t_wait_exit "$restored" 10 || t_fail "restored redis ignored SIGTERM"

t_pass "$((used >> 20)) MiB redis; benchmark started at $at_start/$T_PS_LAZY pages in," \
	"$rps, took $(((t1 - t0) / 1000000)) ms after restore began (background still" \
	"running at its end: $bg_during); all in $(((t2 - t0) / 1000000)) ms; $f faulted +" \
	"$p prefetched; DEBUG DIGEST and DBSIZE ($n) unchanged"
