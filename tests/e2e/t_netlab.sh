#!/usr/bin/env bash
# t_netlab: the two-host lab (bench/netlab.sh) and the delaying relay (bench/relay.c)
# give the latency and the rate that were asked for, and `netlab down` leaves nothing.
#
#  1. `netlab up` (twice: idempotent; a half-made lab is recreated, a bad --rate
#     creates nothing); a netprobe server in NAME-src on 10.213.0.1.
#  2. RTT: median of 50 64-byte round trips from NAME-dst, straight over the veth and
#     through `netlab relay` at delays 0, 5 and 20 ms. The RTT added over the direct
#     path must be 2*delay, -0.1 ms / +(0.5 ms + 2%): the relay never releases early;
#     the slack covers timer wakeups and the extra loopback hop (its overhead at
#     delay 0 is printed).
#  3. Rate: the lab re-upped with --rate 100mbit (tbf on both veth ends); 20 MiB
#     src->dst straight, and both ways through a 5 ms relay, must each run at
#     100 Mbit/s +-15% (payload rate; tbf counts Ethernet/IP/TCP headers too, so
#     ~95.5 is exact). Then a relay's own --rate 5M: 10 MiB at 5 MB/s +-15%.
#  4. `netlab down`: no namespace in `ip netns list`, no state, no relay left.
# Prints a table of the measurements. Takes about 15 s.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

NETPROBE=$ROOT/bench/netprobe.py
RELAY=$ROOT/build/bench/relay
LAB=fl-t$$
PORT=7000

# shellcheck source=bench/netlab.sh
. "$ROOT/bench/netlab.sh"

# within X LO HI: LO <= X <= HI, as decimals.
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

# rtt_median ADDR: median RTT (ms) of 50 round trips from the dst side to ADDR.
rtt_median() {
	local out
	out=$(t_with_timeout 30 ip netns exec "$LAB-dst" python3 "$NETPROBE" rtt \
		--connect "$1" --count 50) || t_fail "rtt to $1 failed"
	sed -n 's/^rtt_ms median=\([0-9.]*\) .*/\1/p' <<<"$out"
}

# bulk_mbit ADDR [--up]: payload rate (Mbit/s) of 20 MiB (or BULK_BYTES) to/from ADDR.
bulk_mbit() {
	local out
	out=$(t_with_timeout 30 ip netns exec "$LAB-dst" python3 "$NETPROBE" bulk \
		--connect "$1" --bytes "${BULK_BYTES:-20971520}" "${@:2}") ||
		t_fail "bulk transfer with $1 failed"
	sed -n 's/.* rate_mbit=\([0-9.]*\)$/\1/p' <<<"$out"
}

lab_gone() {
	! ip netns list | grep -qE "^$1-(src|dst)( |$)" && [[ ! -e $NETLAB_STATE/$1 ]]
}

# relay_pids: pids of the lab's relays, from its state.
relay_pids() { cat "$NETLAB_STATE/$LAB"/relays/*.pid 2>/dev/null | cut -d' ' -f1; }

setup() {
	command -v tc >/dev/null || t_skip "needs tc"
	command -v python3 >/dev/null || t_skip "needs python3"
	[[ -x $RELAY ]] || t_fail "$RELAY missing: run make"
	t_on_exit "netlab_down $LAB 2>/dev/null; netlab_down ${LAB}p 2>/dev/null; netlab_down ${LAB}b 2>/dev/null"
	if netlab up "${LAB}b" --rate 100 2>/dev/null; then t_fail "a rate without unit was taken"; fi
	lab_gone "${LAB}b" || t_fail "a refused netlab up left something behind"
	ip netns add "${LAB}p-src" || t_fail "ip netns add"
	netlab up "${LAB}p" || t_fail "netlab up over a half-made lab"
	_nl_complete "${LAB}p" || t_fail "half-made lab not completed"
	netlab down "${LAB}p" || t_fail "netlab down ${LAB}p"
	lab_gone "${LAB}p" || t_fail "netlab down ${LAB}p left something behind"
	netlab up "$LAB" --delay 5 || t_fail "netlab up"
	netlab up "$LAB" --delay 5 || t_fail "netlab up, second time"
	netlab status "$LAB" >"$T_OUT/status" || t_fail "netlab status says not up"
	grep -q "nl-src UP 10.213.0.1/30" "$T_OUT/status" || t_fail "status: $(cat "$T_OUT/status")"
	ip netns exec "$LAB-src" python3 "$NETPROBE" server --listen "$NETLAB_SRC_ADDR:$PORT" \
		--lifetime 100 2>"$T_OUT/server.log" &
	t_track $!
	t_wait_for 10 grep -q listening "$T_OUT/server.log" || t_fail "netprobe server did not start"
}

check_delay() {
	local direct d a med added lo hi
	direct=$(rtt_median "$NETLAB_SRC_ADDR:$PORT")
	[[ -n $direct ]] || t_fail "no direct RTT"
	printf '%-40s %10s %10s %12s\n' "path" "RTT p50" "added" "expected" >>"$T_OUT/table"
	printf '%-40s %7s ms %10s %12s\n' "direct veth" "$direct" "" "" >>"$T_OUT/table"
	for d in 0 5 20; do
		a=$(netlab relay "$LAB" "$PORT" --listen-port $((PORT + 100 + d)) --delay "$d" \
			--lifetime 100) || t_fail "netlab relay --delay $d"
		med=$(rtt_median "$a")
		added=$(calc "$med - $direct")
		lo=$(calc "2 * $d - 0.1")
		hi=$(calc "2 * $d + 0.5 + 0.04 * $d")
		printf '%-40s %7s ms %7s ms %9s ms\n' "relay --delay $d (dst, $a)" "$med" "$added" \
			"$((2 * d))" >>"$T_OUT/table"
		within "$added" "$lo" "$hi" ||
			t_fail "delay $d ms: RTT $med ms adds $added ms over direct $direct ms, not in [$lo, $hi]"
	done
	netlab relay-stop "$LAB" 2>>"$T_OUT/relays.log"
}

check_rate() {
	local a m what
	netlab up "$LAB" --rate 100mbit --delay 5 || t_fail "netlab up --rate (reconfigure)"
	tc -n "$LAB-src" qdisc show dev nl-src | grep -q 'tbf.*rate 100Mbit' || t_fail "no tbf on nl-src"
	tc -n "$LAB-dst" qdisc show dev nl-dst | grep -q 'tbf.*rate 100Mbit' || t_fail "no tbf on nl-dst"
	a=$(netlab relay "$LAB" "$PORT" --lifetime 100) || t_fail "netlab relay (lab delay)"
	printf '\n%-46s %12s %10s\n' "20 MiB, lab --rate 100mbit" "Mbit/s" "expected" >>"$T_OUT/table"
	for what in "direct src->dst|$NETLAB_SRC_ADDR:$PORT" "relay 5 ms src->dst|$a" \
		"relay 5 ms dst->src|$a|--up"; do
		IFS='|' read -r -a w <<<"$what"
		m=$(bulk_mbit "${w[1]}" ${w[2]:+"${w[2]}"})
		printf '%-46s %12s %10s\n' "${w[0]}" "$m" "100 +-15%" >>"$T_OUT/table"
		within "$m" 85 115 || t_fail "${w[0]}: $m Mbit/s, not 100 +-15%"
	done
	a=$(netlab relay "$LAB" "$PORT" --listen-port $((PORT + 1)) --delay 0 --rate 5M \
		--lifetime 100) || t_fail "netlab relay --rate 5M"
	m=$(BULK_BYTES=10485760 bulk_mbit "$a")
	printf '%-46s %12s %10s\n' "10 MiB, relay --rate 5M (5 MB/s = 40 Mbit/s)" "$m" "40 +-15%" \
		>>"$T_OUT/table"
	within "$m" 34 46 || t_fail "relay --rate 5M: $m Mbit/s, not 40 +-15%"
}

check_down() {
	local pids p
	pids=$(relay_pids)
	[[ -n $pids ]] || t_fail "no relay recorded before down"
	netlab down "$LAB" || t_fail "netlab down"
	lab_gone "$LAB" || t_fail "lab $LAB left behind: $(ip netns list)"
	for p in $pids; do
		[[ ! -e /proc/$p ]] || t_fail "relay $p still runs after down"
	done
	netlab down "$LAB" 2>/dev/null || t_fail "netlab down is not idempotent"
	if netlab status "$LAB" >/dev/null; then t_fail "status says up after down"; fi
}

t_init
setup
check_delay
check_rate
check_down
sed 's/^/    /' "$T_OUT/table" >&2
grep -h 'releases late' "$T_OUT/relays.log" | sed 's/^/    /' >&2
t_pass
