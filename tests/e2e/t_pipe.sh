#!/usr/bin/env bash
# t_pipe: `faultline pipe` between the two namespaces of a netlab lab (listener in
# NAME-dst on 10.213.0.2, connector in NAME-src), with `faultline pki init` certificates.
#  1. TLS, both directions at once: 64 MiB of random data src->dst and 5000 bytes
#     dst->src; sha256 equal both ways, both exit 0, --stats JSON has the exact payload
#     byte counts, wire bytes that agree between the ends and exceed the payload (TLS
#     records), tls true and a TLS 1.3 cipher; the port comes from --port 0 --status-fd.
#  2. A client certificate from another CA: both ends exit 1, the listener naming the
#     verification failure, the connector the peer's "unknown ca" alert.
#  3. The sender killed (SIGKILL) mid-stream: the receiver exits 1 saying the stream is
#     truncated (no close_notify), not 0.
#  4. --no-tls, connector started before the listener (it retries while refused):
#     sha256 equal both ways, stats say tls false. Then --connect-timeout 1 with no
#     listener: exit 1 within a few seconds.
# Takes about 10 s.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=bench/netlab.sh
. "$ROOT/bench/netlab.sh"

LAB=fl-pipe$$
DST=$NETLAB_DST_ADDR
PKI=$T_OUT/pki
BIG=$((64 << 20))
SMALL=5000

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# json FILE KEY: one value of a --stats file.
json() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"; }

# start_listener NAME ARGS...: faultline pipe --listen in dst, stdin NAME.in, stdout
# NAME.out, stderr NAME.err; sets LPID.
start_listener() {
	local n=$1
	shift
	# Not through a function: $! must be faultline itself (ip netns exec execs it).
	ip netns exec "$LAB-dst" "$FAULTLINE" pipe --listen --address "$DST" "$@" <"$T_OUT/$n.in" \
		>"$T_OUT/$n.out" 2>"$T_OUT/$n.err" &
	LPID=$!
	t_track "$LPID"
}

# start_connector NAME ARGS...: the same for --connect in src; sets CPID.
start_connector() {
	local n=$1
	shift
	ip netns exec "$LAB-src" "$FAULTLINE" pipe --connect --address "$DST" "$@" <"$T_OUT/$n.in" \
		>"$T_OUT/$n.out" 2>"$T_OUT/$n.err" &
	CPID=$!
	t_track "$CPID"
}

# expect_rc WANT PID NAME: wait for PID (20 s at most) and check its exit status.
expect_rc() {
	local rc=0
	t_wait_child "$2" 20 "$3" || rc=$?
	[[ $rc -eq $1 ]] || { cat "$T_OUT/$3.err" >&2; t_fail "$3 exited with $rc, not $1"; }
}

setup() {
	command -v python3 >/dev/null || t_skip "needs python3"
	t_on_exit "netlab_down $LAB 2>/dev/null"
	netlab up "$LAB" 2>"$T_OUT/netlab.err" || t_fail "netlab up: $(cat "$T_OUT/netlab.err")"
	"$FAULTLINE" pki init "$PKI" --ip "$DST" >/dev/null || t_fail "pki init"
	"$FAULTLINE" pki init "$T_OUT/other" --ip "$DST" >/dev/null || t_fail "pki init (other CA)"
	head -c "$BIG" /dev/urandom >"$T_OUT/c.in"
	head -c "$SMALL" /dev/urandom >"$T_OUT/l.in"
	: >"$T_OUT/trunc.in"
}

check_stats() {
	local f=$1 sent=$2 recv=$3 tls=$4
	[[ $(json "$f" sent) == "$sent" && $(json "$f" received) == "$recv" ]] ||
		t_fail "$f: sent/received $(json "$f" sent)/$(json "$f" received), want $sent/$recv"
	[[ $(json "$f" tls) == "$tls" && $(json "$f" ok) == true ]] || t_fail "$f: $(cat "$f")"
}

check_tls_duplex() {
	local port w1 w2
	start_listener l --port 0 --pki "$PKI" --status-fd 3 --stats "$T_OUT/l.json" 3>"$T_OUT/port"
	t_wait_for 10 test -s "$T_OUT/port" || t_fail "no port on --status-fd: $(cat "$T_OUT/l.err")"
	port=$(cat "$T_OUT/port")
	[[ $port =~ ^[0-9]+$ && $port -gt 0 ]] || t_fail "--status-fd wrote '$port'"
	start_connector c --port "$port" --pki "$PKI" --stats "$T_OUT/c.json"
	expect_rc 0 "$CPID" c
	expect_rc 0 "$LPID" l
	[[ $(sha "$T_OUT/c.in") == $(sha "$T_OUT/l.out") ]] || t_fail "64 MiB src->dst differ"
	[[ $(sha "$T_OUT/l.in") == $(sha "$T_OUT/c.out") ]] || t_fail "$SMALL bytes dst->src differ"
	check_stats "$T_OUT/c.json" "$BIG" "$SMALL" true
	check_stats "$T_OUT/l.json" "$SMALL" "$BIG" true
	w1=$(json "$T_OUT/c.json" wire_sent) w2=$(json "$T_OUT/l.json" wire_received)
	[[ $w1 == "$w2" && $w1 -gt $BIG ]] || t_fail "wire bytes src->dst: sent $w1, received $w2"
	[[ $(json "$T_OUT/c.json" cipher) == TLSv1.3* ]] || t_fail "cipher: $(cat "$T_OUT/c.json")"
	grep -q 'peer CN=faultline-client' "$T_OUT/l.err" || t_fail "listener: $(cat "$T_OUT/l.err")"
	T_RATE=$(awk -v b="$BIG" -v s="$(json "$T_OUT/c.json" seconds)" \
		'BEGIN { printf "%.0f", b / s / 1e6 }')
}

check_wrong_ca() {
	cp "$T_OUT/l.in" "$T_OUT/bad.in"
	cp "$T_OUT/l.in" "$T_OUT/bad-c.in"
	start_listener bad --port 7101 --pki "$PKI"
	start_connector bad-c --port 7101 --tls-cacert "$PKI/ca.pem" \
		--tls-cert "$T_OUT/other/client.pem" --tls-key "$T_OUT/other/client.key"
	expect_rc 1 "$CPID" bad-c
	expect_rc 1 "$LPID" bad
	grep -q 'peer certificate rejected.*unable to get local issuer certificate' "$T_OUT/bad.err" ||
		t_fail "listener does not name the certificate problem: $(cat "$T_OUT/bad.err")"
	if ! grep -q 'alert unknown ca' "$T_OUT/bad-c.err" ||
		! grep -q 'rejected this end.s certificate' "$T_OUT/bad-c.err"; then
		t_fail "connector does not name the certificate problem: $(cat "$T_OUT/bad-c.err")"
	fi
}

check_truncation() {
	start_listener trunc --port 7102 --pki "$PKI"
	ip netns exec "$LAB-src" "$FAULTLINE" pipe --connect --address "$DST" --port 7102 --pki "$PKI" \
		</dev/urandom >/dev/null 2>"$T_OUT/sender.err" &
	CPID=$!
	t_track "$CPID"
	t_wait_for 5 eval "[[ \$(cat /proc/$CPID/comm 2>/dev/null) == faultline ]]" ||
		t_fail "pid $CPID is not the sender"
	t_wait_for 10 eval "(( \$(stat -c %s $T_OUT/trunc.out) > 4 << 20 ))" ||
		t_fail "no data reached the receiver: $(cat "$T_OUT/sender.err" "$T_OUT/trunc.err")"
	kill -KILL "$CPID"
	wait "$CPID" 2>/dev/null
	expect_rc 1 "$LPID" trunc
	grep -q 'without a TLS close_notify .*truncated' "$T_OUT/trunc.err" ||
		t_fail "receiver does not report truncation: $(cat "$T_OUT/trunc.err")"
}

check_plain() {
	head -c $((1 << 20)) /dev/urandom >"$T_OUT/pc.in"
	start_connector pc --port 7103 --no-tls --stats "$T_OUT/pc.json"
	sleep 0.5
	t_alive "$CPID" || t_fail "connector gave up before the listener came: $(cat "$T_OUT/pc.err")"
	cp "$T_OUT/l.in" "$T_OUT/pl.in"
	start_listener pl --port 7103 --no-tls --stats "$T_OUT/pl.json"
	expect_rc 0 "$CPID" pc
	expect_rc 0 "$LPID" pl
	[[ $(sha "$T_OUT/pc.in") == $(sha "$T_OUT/pl.out") ]] || t_fail "--no-tls: src->dst differ"
	[[ $(sha "$T_OUT/pl.in") == $(sha "$T_OUT/pc.out") ]] || t_fail "--no-tls: dst->src differ"
	check_stats "$T_OUT/pc.json" $((1 << 20)) "$SMALL" false
	check_stats "$T_OUT/pl.json" "$SMALL" $((1 << 20)) false
	local t0=$SECONDS
	start_connector pc --port 7104 --no-tls --connect-timeout 1
	expect_rc 1 "$CPID" pc
	((SECONDS - t0 <= 4)) || t_fail "--connect-timeout 1 took $((SECONDS - t0)) s"
	grep -q 'cannot connect to .*Connection refused' "$T_OUT/pc.err" || t_fail "$(cat "$T_OUT/pc.err")"
}

t_init
setup
check_tls_duplex
check_wrong_ca
check_truncation
check_plain
t_pass "64 MiB + $SMALL B duplex over TLS at ${T_RATE} MB/s; wrong CA, truncation, --no-tls"
