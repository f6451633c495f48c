#!/usr/bin/env bash
# A second real program under CRIU with live clients: memcached (Debian's), in its own pid
# namespace, filled by `loadgen --fill` (20000 keys x 1000 B). While a pinger (memcached
# "version" every 10 ms) and a loadgen (2 connections, GET/SET) keep their connections
# open: criu dump --tcp-established, criu restore --tcp-established (CRIU's default
# iptables network lock is not installed here: --network-lock nftables). Then the
# connections must have survived (pinger and loadgen end without conn_lost, the loadgen
# saw no error), and `loadgen --verify` must read every key back byte for byte.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
LOADGEN=$ROOT/build/bench/loadgen PINGER=$ROOT/build/bench/pinger
img=$T_OUT/img keys=20000 vsize=1000
t_init
t_require_criu
[[ -x $MEMCACHED ]] || t_skip "$MEMCACHED missing (make deps installs memcached)"
[[ -x $LOADGEN && -x $PINGER ]] || t_fail "$LOADGEN or $PINGER missing: run make"
port=$(t_free_port)
lg() { t_with_timeout 60 "$LOADGEN" --connect "127.0.0.1:$port" --proto memcached \
	--keys "$keys" --value-size "$vsize" "$@"; }

unshare -p -f setsid "$MEMCACHED" -u root -U 0 -l 127.0.0.1 -p "$port" -m 256 -t 2 \
	</dev/null >/dev/null 2>&1 & # not a file: unshare writes to it after the dump
upid=$!
t_track "$upid"
t_wait_for 20 eval "'$PINGER' --connect 127.0.0.1:$port --proto memcached --duration 0.05 \
	>/dev/null 2>&1 || ! t_alive $upid" || t_fail "memcached did not answer within 20 s"
pid=$(pgrep -P "$upid" | head -1)
[[ -n $pid && $(cat "/proc/$pid/comm") == memcached ]] || t_fail "no memcached under unshare $upid"
t_track "$pid"
lg --fill >"$T_OUT/fill.json" || t_fail "loadgen --fill: $(cat "$T_OUT/fill.json")"

"$PINGER" --connect "127.0.0.1:$port" --proto memcached --until-file "$T_OUT/stop" \
	--json "$T_OUT/ping.json" 2>"$T_OUT/ping.err" &
ping_pid=$!
# Not through lg (a subshell): the pid tracked must be loadgen's own.
"$LOADGEN" --connect "127.0.0.1:$port" --proto memcached --keys "$keys" --value-size "$vsize" \
	--conns 2 --pipeline 4 --set-ratio 0.2 --until-file "$T_OUT/stop" --stats "$T_OUT/lg.stats" \
	>"$T_OUT/load.json" 2>"$T_OUT/load.err" &
load_pid=$!
t_track "$ping_pid" "$load_pid"
sleep 0.5
t_dump "$pid" "$img" --tcp-established --network-lock nftables || t_fail "dump failed"
t_wait_exit "$pid" 10 || t_fail "dumped memcached $pid still runs"
t_restore "$img" --tcp-established --network-lock nftables || t_fail "restore failed"
restored=$(cat "$img/restored.pid")
sleep 0.5
touch "$T_OUT/stop"
rc=0
t_wait_child "$ping_pid" 40 pinger || rc=$?
((rc == 0)) || t_fail "pinger exited $rc: $(cat "$T_OUT/ping.json" "$T_OUT/ping.err")"
rc=0
t_wait_child "$load_pid" 40 loadgen || rc=$?
((rc == 0)) || t_fail "loadgen exited $rc: $(cat "$T_OUT/load.json" "$T_OUT/load.err")"
ping=$(cat "$T_OUT/ping.json") load=$(cat "$T_OUT/load.json")
[[ $ping == *'"conn_lost":false'* && $ping =~ \"max_gap_ms\":([0-9.]+) ]] ||
	t_fail "pinger: $ping"
gap=${BASH_REMATCH[1]}
[[ $ping =~ \"replies\":([0-9]+) ]] || t_fail "no replies count: $ping"
((BASH_REMATCH[1] >= 50)) || t_fail "too few replies: $ping"
[[ $load == *'"conn_lost":false'* && $load =~ \"ops\":([0-9]+) ]] || t_fail "loadgen: $load"
ops=${BASH_REMATCH[1]}
# Throughput over time: a dip (the freeze: under half the best 100 ms), ops at the end.
awk '{v[NR] = $2} $2 > max {max = $2} NR == 1 || $2 < min {min = $2}
	END {exit !(NR >= 5 && v[NR - 1] > 0 && min * 2 < max)}' "$T_OUT/lg.stats" ||
	t_fail "loadgen stats show no dip with ops after it: $(tr '\n' ' ' <"$T_OUT/lg.stats")"
lg --verify >"$T_OUT/verify.json" || t_fail "loadgen --verify after restore: $(cat "$T_OUT/verify.json")"
t_alive "$restored" || t_fail "restored memcached died"
kill -KILL "$restored"
t_pass "memcached $keys keys x $vsize B dumped and restored with 2 client kinds connected;" \
	"pinger max gap ${gap} ms, loadgen $ops ops, every key verified after the restore"
