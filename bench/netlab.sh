#!/usr/bin/env bash
# netlab: a two-host lab on one machine, for migrations and benchmarks (docs/netlab.md).
#
# A lab NAME is two network namespaces, NAME-src and NAME-dst, joined by a veth pair:
#   NAME-src: nl-src 10.213.0.1/30, lo up      NAME-dst: nl-dst 10.213.0.2/30, lo up
# The addresses exist only inside the two namespaces (each lab has its own pair, so
# labs do not collide). Optional rate shaping is tc tbf on the egress of both veth
# ends, with two bands under it: packets marked IP TOS 0x10 (low delay) before the rest;
# both namespaces reflect a connection's TOS in their replies (tcp_reflect_tos).
# ends. netem is not built on the platform, so latency comes from build/bench/relay
# (bench/relay.c), a TCP relay that delays every byte, started by `netlab relay`.
#
# usage: bench/netlab.sh COMMAND ...      or, as a library:  . bench/netlab.sh; netlab ...
#   up NAME [--rate RATE] [--delay MS] [--queue MS]
#       Create the lab, or bring an existing one to exactly this configuration
#       (idempotent: no --rate removes the shaping). RATE is a tc rate with its unit
#       (100mbit, 1gbit, 12500kbps, ...), applied to each direction. --delay MS is the
#       default one-way delay of `netlab relay` (default 0). --queue MS: tbf queue
#       length in time at RATE (default 20; at least 512 KiB). A failed `up` leaves
#       nothing behind.
#       --client also creates NAME-cli, a third namespace for clients of the migrated
#       workload, with one unshaped veth to each side and the service address
#       10.213.1.1 (on lo of the side that owns it, src at first). Clients in NAME-cli
#       reach it from 10.213.9.2, so a TCP connection to 10.213.1.1 can live through a
#       migration that moves the address (see `service`).
#   service NAME src|dst
#       Move the service address 10.213.1.1 to that side and point NAME-cli's route at
#       it. Established connections to it survive a CRIU --tcp-established migration.
#   down NAME
#       Stop the lab's relays, kill every process still running in its namespaces,
#       delete them (the veth pair goes with them) and its state. Idempotent.
#   exec NAME src|dst|cli CMD [ARGS...]
#       Run CMD in one side (ip netns exec).
#   status [NAME]
#       Describe the lab (exit 0 if up, 1 if not); without NAME, list the labs.
#   relay NAME PORT [--delay MS] [--rate BYTES/s] [--listen-port P] [--side dst|src]
#                   [--lifetime SECS]
#       Start a delaying relay for a server listening on PORT in NAME-src, and print
#       the address to connect to instead. --side dst (default): the relay runs in
#       NAME-dst on 127.0.0.1:P and forwards across the veth to 10.213.0.1:PORT.
#       --side src: it runs in NAME-src on 10.213.0.1:P and forwards to
#       127.0.0.1:PORT there. P defaults to PORT. --delay defaults to the lab's.
#       A relay already on that side and port is replaced. It runs until
#       `relay-stop`, `down`, or --lifetime seconds (default 0: no limit).
#   relay-stop NAME [P]
#       Stop the lab's relay listening on port P, or all of its relays.
# Environment: NETLAB_STATE (default /run/faultline-netlab), NETLAB_RELAY (default
# build/bench/relay). Needs root. Messages go to stderr, prefixed "netlab:"; the only
# output on stdout is the address printed by `relay`.

NETLAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETLAB_SRC_ADDR=10.213.0.1
NETLAB_DST_ADDR=10.213.0.2
NETLAB_PREFIX=30
NETLAB_SRC_DEV=nl-src
NETLAB_DST_DEV=nl-dst
NETLAB_SVC_ADDR=10.213.1.1
NETLAB_CLI_ADDR=10.213.9.2
NETLAB_STATE=${NETLAB_STATE:-/run/faultline-netlab}
NETLAB_RELAY=${NETLAB_RELAY:-$NETLAB_ROOT/build/bench/relay}

_nl_err() { echo "netlab: $*" >&2; return 1; }
_nl_log() { echo "netlab: $*" >&2; }

# _nl_run DESC CMD...: run CMD; on failure print DESC and CMD's stderr, return 1.
_nl_run() {
	local desc=$1 out
	shift
	out=$("$@" 2>&1) && return 0
	_nl_err "$desc failed: ${out:-exit status $?}"
}

_nl_name_ok() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,27}$ ]] ||
		_nl_err "bad lab name '$1' (letters, digits, _ . -; at most 28)"
}

_nl_ns_exists() { [[ -e /run/netns/$1 ]]; }

# _nl_complete NAME: true if both namespaces, both veth ends and both addresses are there.
_nl_complete() {
	_nl_ns_exists "$1-src" && _nl_ns_exists "$1-dst" || return 1
	ip -n "$1-src" -4 -o addr show dev "$NETLAB_SRC_DEV" 2>/dev/null |
		grep -q " $NETLAB_SRC_ADDR/$NETLAB_PREFIX " &&
		ip -n "$1-dst" -4 -o addr show dev "$NETLAB_DST_DEV" 2>/dev/null |
		grep -q " $NETLAB_DST_ADDR/$NETLAB_PREFIX "
}

# _nl_rate_bps RATE: print a tc rate (number + unit) in bytes/s; 1 if malformed.
_nl_rate_bps() {
	[[ $1 =~ ^([0-9]+(\.[0-9]+)?)([kKmMgGtT]?)(i?)(bit|bps)$ ]] || return 1
	awk -v n="${BASH_REMATCH[1]}" -v p="${BASH_REMATCH[3],,}" -v i="${BASH_REMATCH[4]}" \
		-v u="${BASH_REMATCH[5]}" 'BEGIN {
		b = i == "i" ? 1024 : 1000; m = 1
		e = index("kmgt", p); while (e-- > 0) m *= b
		v = n * m / (u == "bit" ? 8 : 1); if (v < 1000) exit 1; printf "%.0f\n", v }'
}

# _nl_shape NS DEV RATE QUEUE_MS: tbf at RATE on DEV's egress, or no qdisc if RATE is "".
_nl_shape() {
	local ns=$1 dev=$2 rate=$3 q=$4 bps burst limit
	if [[ -z $rate ]]; then
		tc -n "$ns" qdisc show dev "$dev" | grep -q '^qdisc tbf' || return 0
		_nl_run "removing the shaping of $ns/$dev" tc -n "$ns" qdisc del dev "$dev" root
		return
	fi
	bps=$(_nl_rate_bps "$rate") || return 1
	# Bucket: 4 ms at RATE (at least 32 KiB). Queue: QUEUE_MS at RATE, at least 512 KiB
	# and 3 buckets: one TCP flow (BBR, TSQ allowing 4 MiB) overflowed shorter queues
	# here, and the loss and RTO stalls cost 10% of the rate at 10 Mbit/s.
	burst=$((bps / 250 > 32768 ? bps / 250 : 32768))
	limit=$((bps * q / 1000 > 3 * burst ? bps * q / 1000 : 3 * burst))
	limit=$((limit > 524288 ? limit : 524288))
	tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null # the bands below are added anew
	_nl_run "tbf on $ns/$dev" tc -n "$ns" qdisc add dev "$dev" root handle 1: tbf \
		rate "$rate" burst "$burst" limit "$limit" || return 1
	# Under the tbf, two bands: packets marked low-delay (IP TOS 0x10: faultline
	# lazy-pages' fault link, and with tcp_reflect_tos the page server's replies on it)
	# go first; everything else queues in the bulk band (the queue above). Without this,
	# every remote fault waits behind the whole background stream's queue. htb only
	# orders the bands here (both at RATE): the tbf sets the rate.
	_nl_run "priority bands on $ns/$dev" tc -n "$ns" qdisc add dev "$dev" parent 1:1 \
		handle 10: htb default 20 &&
		_nl_run "low-delay band" tc -n "$ns" class add dev "$dev" parent 10: classid 10:10 \
			htb rate "$rate" prio 0 quantum 60000 &&
		_nl_run "bulk band" tc -n "$ns" class add dev "$dev" parent 10: classid 10:20 \
			htb rate "$rate" prio 1 quantum 60000 &&
		_nl_run "low-delay queue" tc -n "$ns" qdisc add dev "$dev" parent 10:10 bfifo \
			limit 262144 &&
		_nl_run "bulk queue" tc -n "$ns" qdisc add dev "$dev" parent 10:20 bfifo limit "$limit" &&
		_nl_run "low-delay filter" tc -n "$ns" filter add dev "$dev" parent 10: protocol ip \
			prio 1 u32 match ip tos 0x10 0xff flowid 10:10
}

# _nl_create NAME: make the namespaces and the veth pair (no IPv6 link-local address,
# so nothing but the lab's own traffic crosses it). 1 on failure (partial state is
# left for the caller to tear down).
_nl_create() {
	local n=$1
	_nl_run "ip netns add $n-src" ip netns add "$n-src" &&
		_nl_run "ip netns add $n-dst" ip netns add "$n-dst" &&
		_nl_run "creating the veth pair" ip -n "$n-src" link add "$NETLAB_SRC_DEV" \
			type veth peer name "$NETLAB_DST_DEV" netns "$n-dst" &&
		_nl_run "addressing $NETLAB_SRC_DEV" ip -n "$n-src" addr add \
			"$NETLAB_SRC_ADDR/$NETLAB_PREFIX" dev "$NETLAB_SRC_DEV" &&
		_nl_run "addressing $NETLAB_DST_DEV" ip -n "$n-dst" addr add \
			"$NETLAB_DST_ADDR/$NETLAB_PREFIX" dev "$NETLAB_DST_DEV" &&
		_nl_run "addrgenmode" ip -n "$n-src" link set "$NETLAB_SRC_DEV" addrgenmode none &&
		_nl_run "addrgenmode" ip -n "$n-dst" link set "$NETLAB_DST_DEV" addrgenmode none &&
		_nl_run "link up" ip -n "$n-src" link set lo up &&
		_nl_run "link up" ip -n "$n-dst" link set lo up &&
		_nl_run "link up" ip -n "$n-src" link set "$NETLAB_SRC_DEV" up &&
		_nl_run "link up" ip -n "$n-dst" link set "$NETLAB_DST_DEV" up &&
		_nl_run "tcp_reflect_tos" ip netns exec "$n-src" sysctl -qw net.ipv4.tcp_reflect_tos=1 &&
		_nl_run "tcp_reflect_tos" ip netns exec "$n-dst" sysctl -qw net.ipv4.tcp_reflect_tos=1
}

# _nl_client NAME: NAME-cli with a veth to each side (cli .2, side .1 of 10.213.2.0/30
# for src and 10.213.3.0/30 for dst), the client address on its lo, routes back to it,
# and the service address on src.
_nl_client() {
	local n=$1 side net
	_nl_ns_exists "$n-cli" && return 0
	_nl_run "ip netns add $n-cli" ip netns add "$n-cli" &&
		_nl_run "link up" ip -n "$n-cli" link set lo up &&
		_nl_run "client address" ip -n "$n-cli" addr add "$NETLAB_CLI_ADDR/32" dev lo || return 1
	for side in src dst; do
		[[ $side == src ]] && net=10.213.2 || net=10.213.3
		_nl_run "veth $n-cli <-> $n-$side" ip -n "$n-cli" link add "nl-c${side:0:1}" \
			type veth peer name "nl-${side:0:1}c" netns "$n-$side" &&
			_nl_run "addrgenmode" ip -n "$n-cli" link set "nl-c${side:0:1}" addrgenmode none &&
			_nl_run "addrgenmode" ip -n "$n-$side" link set "nl-${side:0:1}c" addrgenmode none &&
			_nl_run "addressing" ip -n "$n-cli" addr add "$net.2/30" dev "nl-c${side:0:1}" &&
			_nl_run "addressing" ip -n "$n-$side" addr add "$net.1/30" dev "nl-${side:0:1}c" &&
			_nl_run "link up" ip -n "$n-cli" link set "nl-c${side:0:1}" up &&
			_nl_run "link up" ip -n "$n-$side" link set "nl-${side:0:1}c" up &&
			_nl_run "route to the client" ip -n "$n-$side" route add "$NETLAB_CLI_ADDR/32" \
				via "$net.2" || return 1
	done
	netlab_service "$n" src
}

netlab_service() {
	local n=${1:-} side=${2:-} other via
	[[ -n $n && ($side == src || $side == dst) ]] ||
		{ _nl_err "usage: netlab service NAME src|dst"; return 2; }
	_nl_ns_exists "$n-cli" || { _nl_err "lab $n has no client side (netlab up $n --client)"; return 1; }
	[[ $side == src ]] && other=dst via=10.213.2.1 || { other=src via=10.213.3.1; }
	ip -n "$n-$other" addr del "$NETLAB_SVC_ADDR/32" dev lo 2>/dev/null
	if ! ip -n "$n-$side" -4 -o addr show dev lo | grep -q " $NETLAB_SVC_ADDR/32 "; then
		_nl_run "service address on $n-$side" ip -n "$n-$side" addr add "$NETLAB_SVC_ADDR/32" \
			dev lo || return 1
	fi
	_nl_run "client route to $n-$side" ip -n "$n-cli" route replace "$NETLAB_SVC_ADDR/32" \
		via "$via" src "$NETLAB_CLI_ADDR"
}

_nl_num_ok() { [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || _nl_err "$1 wants a number, not '$2'"; }

netlab_up() {
	local n=${1:-} rate="" delay=0 queue=20 fresh=0 client=0
	[[ -n $n ]] || { _nl_err "usage: netlab up NAME [--rate RATE] [--delay MS] [--queue MS] [--client]"; return 2; }
	_nl_name_ok "$n" || return 2
	shift
	while (($#)); do
		[[ $1 == --client ]] && { client=1; shift; continue; }
		case $1 in
		--rate) rate=${2-} ;;
		--delay) delay=${2-} ;;
		--queue) queue=${2-} ;;
		*) _nl_err "up: unknown option '$1'"; return 2 ;;
		esac
		(($# >= 2)) || { _nl_err "up: $1 needs a value"; return 2; }
		shift 2
	done
	[[ -z $rate ]] || _nl_rate_bps "$rate" >/dev/null ||
		{ _nl_err "bad --rate '$rate' (a tc rate with its unit, >= 1000 B/s: 100mbit, 1gbit, 12500kbps)"; return 2; }
	_nl_num_ok --delay "$delay" || return 2
	[[ $queue =~ ^[1-9][0-9]{0,3}$ ]] || { _nl_err "bad --queue '$queue' (1 to 9999 ms)"; return 2; }
	[[ $(id -u) -eq 0 ]] || { _nl_err "needs root"; return 1; }
	if ! _nl_complete "$n"; then
		if _nl_ns_exists "$n-src" || _nl_ns_exists "$n-dst"; then
			_nl_log "$n is incomplete: recreating it"
			netlab_down "$n" 2>/dev/null
		fi
		fresh=1
		_nl_create "$n" || { netlab_down "$n" >/dev/null 2>&1; return 1; }
	fi
	if ((client)) && ! _nl_client "$n"; then
		_nl_err "could not create the client side of $n"
		((fresh)) && netlab_down "$n" >/dev/null 2>&1
		return 1
	fi
	if ! _nl_shape "$n-src" "$NETLAB_SRC_DEV" "$rate" "$queue" ||
		! _nl_shape "$n-dst" "$NETLAB_DST_DEV" "$rate" "$queue" ||
		! mkdir -p "$NETLAB_STATE/$n/relays" ||
		! printf 'rate=%s\ndelay=%s\nqueue=%s\n' "$rate" "$delay" "$queue" \
			>"$NETLAB_STATE/$n/conf"; then
		((fresh)) && netlab_down "$n" >/dev/null 2>&1
		return 1
	fi
	_nl_log "$n up$( ((fresh)) || echo " (already; reconfigured)"):" \
		"$n-src $NETLAB_SRC_ADDR <-> $n-dst $NETLAB_DST_ADDR, rate ${rate:-unlimited}," \
		"relay delay $delay ms"
}

# _nl_kill_ns NS: TERM, then after up to 2 s KILL, every process in NS.
_nl_kill_ns() {
	local pids i
	_nl_ns_exists "$1" || return 0
	for i in $(seq 1 22); do
		pids=$(ip netns pids "$1" 2>/dev/null)
		[[ -n $pids ]] || return 0
		# shellcheck disable=SC2086 # a list of pids
		if ((i < 21)); then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
		sleep 0.1
	done
	_nl_log "processes left in $1: $(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')"
}

netlab_down() {
	local n=${1:-} had=0 s
	[[ -n $n ]] || { _nl_err "usage: netlab down NAME"; return 2; }
	_nl_name_ok "$n" || return 2
	[[ -d $NETLAB_STATE/$n ]] && had=1 && netlab_relay_stop "$n" 2>/dev/null
	for s in cli src dst; do
		_nl_ns_exists "$n-$s" || continue
		had=1
		_nl_kill_ns "$n-$s"
		_nl_run "ip netns del $n-$s" ip netns del "$n-$s" || return 1
	done
	rm -rf "${NETLAB_STATE:?}/$n"
	if ((had)); then _nl_log "$n down"; else _nl_log "$n was not up"; fi
}

netlab_exec() {
	local n=${1:-} side=${2:-}
	[[ -n $n && ($side == src || $side == dst || $side == cli) && $# -ge 3 ]] ||
		{ _nl_err "usage: netlab exec NAME src|dst|cli CMD [ARGS...]"; return 2; }
	_nl_name_ok "$n" || return 2
	_nl_ns_exists "$n-$side" || { _nl_err "lab $n is not up (no namespace $n-$side)"; return 1; }
	shift 2
	ip netns exec "$n-$side" "$@"
}

# _nl_conf NAME KEY: a value from the lab's conf file.
_nl_conf() { sed -n "s/^$2=//p" "$NETLAB_STATE/$1/conf" 2>/dev/null; }

# _nl_starttime PID: start time in clock ticks (to tell a reused pid apart).
_nl_starttime() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	awk '{print $20}' <<<"$st"
}

# _nl_relay_alive PIDFILE: true if the relay recorded in PIDFILE ("pid starttime") runs.
_nl_relay_alive() {
	local pid st
	read -r pid st <"$1" 2>/dev/null || return 1
	[[ -n $pid && -n $st && $(_nl_starttime "$pid") == "$st" ]]
}

# _nl_relay_kill PIDFILE: stop that relay (TERM, KILL after 2 s) and remove its files.
_nl_relay_kill() {
	local f=$1 pid st i
	read -r pid st <"$f" 2>/dev/null
	for i in $(seq 1 20); do
		_nl_relay_alive "$f" || break
		kill -TERM "$pid" 2>/dev/null
		sleep 0.1
	done
	_nl_relay_alive "$f" && kill -KILL "$pid" 2>/dev/null
	rm -f "$f" "${f%.pid}.info"
}

# _nl_relay_start NS LOG ARGS...: start the relay detached in NS, wait until it listens
# and print its pid. 1 (with its log) if it does not.
_nl_relay_start() {
	local ns=$1 log=$2 pid i
	shift 2
	ip netns exec "$ns" setsid -f "$NETLAB_RELAY" "$@" </dev/null >"$log" 2>&1 ||
		{ _nl_err "cannot start the relay in $ns: $(cat "$log")"; return 1; }
	for i in $(seq 1 100); do
		pid=$(sed -n 's/^relay: listening on .*, pid \([0-9]*\)$/\1/p' "$log")
		[[ -n $pid ]] && { echo "$pid"; return 0; }
		grep -q '^relay: \(cannot\|bad\|usage\|--\)' "$log" && break
		sleep 0.05
	done
	_nl_err "the relay did not start in $ns: $(cat "$log")"
}

netlab_relay() {
	local n=${1:-} port=${2:-} delay="" rate=0 lport="" side=dst life=0
	local ns listen target addr f pid
	[[ -n $n && $port =~ ^[0-9]+$ ]] || {
		_nl_err "usage: netlab relay NAME PORT [--delay MS] [--rate BYTES/s]" \
			"[--listen-port P] [--side dst|src] [--lifetime SECS]"
		return 2
	}
	_nl_name_ok "$n" || return 2
	shift 2
	while (($#)); do
		case $1 in
		--delay) delay=${2-} ;;
		--rate) rate=${2-} ;;
		--listen-port) lport=${2-} ;;
		--side) side=${2-} ;;
		--lifetime) life=${2-} ;;
		*) _nl_err "relay: unknown option '$1'"; return 2 ;;
		esac
		(($# >= 2)) || { _nl_err "relay: $1 needs a value"; return 2; }
		shift 2
	done
	_nl_complete "$n" || { _nl_err "lab $n is not up (netlab up $n)"; return 1; }
	[[ -x $NETLAB_RELAY ]] || { _nl_err "$NETLAB_RELAY missing: run make"; return 1; }
	[[ -n $delay ]] || delay=$(_nl_conf "$n" delay)
	lport=${lport:-$port}
	[[ $port -ge 1 && $port -le 65535 && $lport =~ ^[0-9]+$ && $lport -ge 1 && $lport -le 65535 ]] ||
		{ _nl_err "bad port (1 to 65535)"; return 2; }
	_nl_num_ok --delay "${delay:-0}" || return 2
	case $side in
	dst) ns=$n-dst listen=127.0.0.1:$lport target=$NETLAB_SRC_ADDR:$port ;;
	src) ns=$n-src listen=$NETLAB_SRC_ADDR:$lport target=127.0.0.1:$port ;;
	*) _nl_err "--side is dst or src, not '$side'"; return 2 ;;
	esac
	f=$NETLAB_STATE/$n/relays/$side-$lport.pid
	mkdir -p "${f%/*}" || return 1
	[[ -f $f ]] && _nl_relay_kill "$f"
	pid=$(_nl_relay_start "$ns" "${f%.pid}.log" --listen "$listen" --target "$target" \
		--delay "${delay:-0}" --rate "$rate" --lifetime "$life") || return 1
	echo "$pid $(_nl_starttime "$pid")" >"$f"
	echo "$side $listen -> $target, delay ${delay:-0} ms, rate $rate B/s" >"${f%.pid}.info"
	addr=${listen%:*}
	_nl_log "$n: relay in $ns on $addr:$lport -> $target, delay ${delay:-0} ms (pid $pid)"
	echo "$addr:$lport"
}

netlab_relay_stop() {
	local n=${1:-} p=${2:-} f pat='*.pid'
	[[ -n $n && $p =~ ^[0-9]*$ ]] || { _nl_err "usage: netlab relay-stop NAME [PORT]"; return 2; }
	_nl_name_ok "$n" || return 2
	[[ -z $p ]] || pat="*-$p.pid"
	# shellcheck disable=SC2231 # $pat is a glob
	for f in "$NETLAB_STATE/$n"/relays/$pat; do
		[[ -f $f ]] || continue
		_nl_relay_kill "$f"
		sed -n 's/^relay: \(exit\|[0-9]* releases\)/netlab: '"$n"': relay \1/p' \
			"${f%.pid}.log" >&2
	done
}

_nl_status_side() {
	local ns=$1 dev=$2 a q
	a=$(ip -n "$ns" -br addr show dev "$dev" 2>/dev/null | awk '{print $2, $3}')
	q=$(tc -n "$ns" qdisc show dev "$dev" 2>/dev/null | head -1 |
		sed 's/^qdisc \([^ ]*\) [^ ]* \(dev [^ ]* \)\{0,1\}root refcnt [0-9]* */\1 /; s/ *$//')
	printf '  %s: %s %s; qdisc %s; %d processes\n' "$ns" "$dev" "${a:-missing}" "${q:-none}" \
		"$(ip netns pids "$ns" 2>/dev/null | wc -l)"
}

netlab_status() {
	local n=${1:-} f st r
	if [[ -z $n ]]; then
		for f in /run/netns/*-src; do
			[[ -e $f ]] || continue
			n=$(basename "$f" -src)
			_nl_ns_exists "$n-dst" && echo "$n"
		done
		return 0
	fi
	_nl_name_ok "$n" || return 2
	if _nl_complete "$n"; then st=up
	elif _nl_ns_exists "$n-src" || _nl_ns_exists "$n-dst"; then st=incomplete
	else echo "lab $n: down"; return 1; fi
	echo "lab $n: $st (src $NETLAB_SRC_ADDR, dst $NETLAB_DST_ADDR)"
	_nl_status_side "$n-src" "$NETLAB_SRC_DEV"
	_nl_status_side "$n-dst" "$NETLAB_DST_DEV"
	r=$(_nl_conf "$n" rate)
	echo "  rate ${r:-unlimited} each way, default relay delay $(_nl_conf "$n" delay) ms"
	for f in "$NETLAB_STATE/$n"/relays/*.pid; do
		[[ -f $f ]] || continue
		printf '  relay %s: %s\n' "$(cat "${f%.pid}.info" 2>/dev/null)" \
			"$(_nl_relay_alive "$f" && echo "running, pid $(cut -d' ' -f1 "$f")" || echo exited)"
	done
	[[ $st == up ]]
}

# netlab COMMAND ARGS...: the CLI (also usable after sourcing this file).
netlab() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up) netlab_up "$@" ;;
	down) netlab_down "$@" ;;
	exec) netlab_exec "$@" ;;
	status) netlab_status "$@" ;;
	relay) netlab_relay "$@" ;;
	relay-stop) netlab_relay_stop "$@" ;;
	service) netlab_service "$@" ;;
	-h | --help | help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$NETLAB_ROOT/bench/netlab.sh" ;;
	*) _nl_err "usage: netlab up|down|exec|status|relay|relay-stop|service ... (netlab --help)"; return 2 ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -uo pipefail
	netlab "$@"
	exit $?
fi
