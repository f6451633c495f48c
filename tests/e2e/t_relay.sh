#!/usr/bin/env bash
# t_relay: build/bench/relay (bench/relay.c) on loopback: it relays byte-exact, keeps
# its memory bounded, delays the connect, refuses beyond --max-conns, exits by itself.
#
#  1. Integrity: 4 connections x 16 MiB of pseudo-random bytes echoed back through a
#     2 ms relay with --buffer 1Mi (so it fills and stops reading), then 200
#     connections x 3000 bytes; each half-closes and must read back the same stream
#     (sha256) then EOF: order, FIN passing and many connections at once.
#  2. Backpressure: a client that sends 100 MiB and never reads. The relay's peak RSS
#     must stay under 16 MiB and the client must be stopped by TCP flow control.
#  3. A target that refuses: the client is reset, no earlier than the 50 ms delay
#     (the connect is delayed like the data).
#  4. --max-conns 2: a third connection is closed at once, the first two stay.
#  5. Usage errors exit 2, --help 0; SIGTERM and --lifetime end it with status 0 and
#     its totals.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

NETPROBE=$ROOT/bench/netprobe.py
RELAY=$ROOT/build/bench/relay

# start_relay NAME ARGS...: run the relay in the background (log $T_OUT/NAME.log),
# wait until it listens; sets RELAY_PID.
start_relay() {
	local name=$1
	shift
	"$RELAY" --lifetime 60 "$@" 2>"$T_OUT/$name.log" &
	RELAY_PID=$!
	t_track "$RELAY_PID"
	t_wait_for 5 grep -q '^relay: listening' "$T_OUT/$name.log" ||
		t_fail "relay $name did not start: $(cat "$T_OUT/$name.log")"
}

# stop_relay NAME: SIGTERM the last started relay; it must exit 0 and print totals.
stop_relay() {
	local rc=0
	kill -TERM "$RELAY_PID"
	t_wait_exit "$RELAY_PID" 5 || t_fail "relay $1 ignores SIGTERM"
	wait "$RELAY_PID" || rc=$?
	[[ $rc -eq 0 ]] || t_fail "relay $1 exited $rc after SIGTERM: $(tail -3 "$T_OUT/$1.log")"
	grep -q '^relay: exit: ' "$T_OUT/$1.log" || t_fail "relay $1 printed no totals"
}

probe() { t_with_timeout 60 python3 "$NETPROBE" "$@"; }

check_usage() {
	local rc
	"$RELAY" >/dev/null 2>&1; rc=$?
	[[ $rc -eq 2 ]] || t_fail "no arguments: exit $rc, not 2"
	"$RELAY" --listen 127.0.0.1:0 --target 127.0.0.1:1 --delay x >/dev/null 2>&1; rc=$?
	[[ $rc -eq 2 ]] || t_fail "--delay x: exit $rc, not 2"
	"$RELAY" --listen nohost:1 --target 127.0.0.1:1 --delay 1 >/dev/null 2>&1; rc=$?
	[[ $rc -eq 2 ]] || t_fail "a host name: exit $rc, not 2"
	"$RELAY" --help | grep -q -- '--delay MS' || t_fail "--help"
}

check_integrity() {
	local out
	start_relay echo --listen "127.0.0.1:$RPORT" --target "127.0.0.1:$SPORT" --delay 2 \
		--buffer 1Mi
	out=$(probe stream --connect "127.0.0.1:$RPORT" --bytes $((16 << 20)) --conns 4) ||
		t_fail "4 x 16 MiB through the relay: $out"
	t_log "$out"
	out=$(probe stream --connect "127.0.0.1:$RPORT" --bytes 3000 --conns 200) ||
		t_fail "200 x 3000 B through the relay: $out"
	t_log "$out"
}

check_backpressure() {
	local out hwm sent
	out=$(probe stream --connect "127.0.0.1:$RPORT" --bytes $((100 << 20)) --no-read \
		--timeout 2) || t_fail "stream --no-read: $out"
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$RELAY_PID/status")
	sent=${out##*sent=}
	t_log "a client that never reads sent $((sent >> 20)) MiB of 100; relay peak RSS $((hwm >> 10)) MiB"
	((sent < 100 << 20)) || t_fail "flow control did not stop the sender"
	((hwm < 16 << 10)) || t_fail "relay peak RSS ${hwm} kB with --buffer 1Mi"
	stop_relay echo
}

check_refused() {
	local ms
	start_relay refused --listen "127.0.0.1:$RPORT" --target "127.0.0.1:$DEADPORT" --delay 50
	ms=$(python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
t0 = time.monotonic()
try:
    d = s.recv(1)
except ConnectionResetError:
    d = b""
print("%.1f" % ((time.monotonic() - t0) * 1000) if d == b"" else "data")' "$RPORT")
	t_log "refused target: client closed after $ms ms (delay 50)"
	awk -v m="$ms" 'BEGIN { exit !(m >= 49 && m < 1000) }' ||
		t_fail "refused target: closed after $ms ms, not after the 50 ms delay"
	stop_relay refused
}

check_max_conns() {
	local out
	start_relay max --listen "127.0.0.1:$RPORT" --target "127.0.0.1:$SPORT" --delay 0 \
		--max-conns 2
	out=$(python3 -c '
import socket, sys
a = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) for _ in range(3)]
try:
    third = a[2].recv(1) == b""
except ConnectionResetError:
    third = True
a[0].settimeout(0.3)
try:
    a[0].recv(1)
    first = False
except socket.timeout:
    first = True
print("ok" if third and first else "third closed %s, first open %s" % (third, first))' "$RPORT")
	[[ $out == ok ]] || t_fail "--max-conns 2: $out"
	grep -q 'refusing connections beyond --max-conns 2' "$T_OUT/max.log" ||
		t_fail "no refusal logged"
	stop_relay max
}

check_lifetime() {
	local t0=$SECONDS rc=0
	"$RELAY" --listen "127.0.0.1:$RPORT" --target "127.0.0.1:$SPORT" --delay 1 \
		--lifetime 1 2>"$T_OUT/life.log" &
	t_track $!
	t_wait_exit $! 5 || t_fail "--lifetime 1 still runs after 5 s"
	wait $! || rc=$?
	[[ $rc -eq 0 ]] || t_fail "--lifetime 1 exited $rc: $(cat "$T_OUT/life.log")"
	t_log "--lifetime 1 exited after $((SECONDS - t0)) s"
}

t_init
[[ -x $RELAY ]] || t_fail "$RELAY missing: run make"
SPORT=$(t_free_port)
RPORT=$(t_free_port)
DEADPORT=$(t_free_port)
[[ $SPORT != "$RPORT" && $DEADPORT != "$SPORT" && $DEADPORT != "$RPORT" ]] ||
	t_skip "t_free_port gave the same port twice; run again"
python3 "$NETPROBE" server --listen "127.0.0.1:$SPORT" --lifetime 100 2>"$T_OUT/server.log" &
t_track $!
disown
t_wait_for 10 grep -q listening "$T_OUT/server.log" || t_fail "netprobe server did not start"
check_usage
check_integrity
check_backpressure
check_refused
check_max_conns
check_lifetime
t_pass
