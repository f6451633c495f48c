#!/usr/bin/env bash
# bench-netlab: how exact the lab's delay and rate are (the tables in docs/netlab.md).
# One lab, a bench/netprobe.py server in NAME-src; every client runs in NAME-dst.
#   delay: median and p90 of RTT (COUNT 64-byte round trips) straight over the veth and
#          through `netlab relay` at each delay in DELAYS; the relay's own report of
#          how late it released bytes (p50/p99).
#   rate:  payload Mbit/s of a transfer src->dst and dst->src, straight and through a
#          5 ms relay, for each tc rate in RATES (bytes: 2.5 s worth at that rate).
#   bulk:  unshaped 1 GiB src->dst, straight and through relays at 0, 5 and 20 ms,
#          3 times each (median, min-max), and the relay's CPU time per GiB.
# usage: bench/bench-netlab.sh [--count N] [--delays "0 1 5 20 50"]
#                              [--rates "10mbit 100mbit 1gbit"] [--bulk-mib N]
# Prints markdown on stdout. Needs root; takes about a minute. Lab name: nlbench$$.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/netlab.sh
. "$ROOT/bench/netlab.sh"
NP=$ROOT/bench/netprobe.py
LAB=nlbench$$
PORT=7000
COUNT=200 DELAYS="0 1 5 20 50" RATES="10mbit 100mbit 1gbit" BULK_MIB=1024

while (($#)); do
	case $1 in
	--count) COUNT=$2 ;;
	--delays) DELAYS=$2 ;;
	--rates) RATES=$2 ;;
	--bulk-mib) BULK_MIB=$2 ;;
	*) echo "usage: see the header of $0" >&2; exit 2 ;;
	esac
	shift 2
done

dst() { timeout 120 ip netns exec "$LAB-dst" python3 "$NP" "$@"; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
relay() { netlab relay "$LAB" "$PORT" --listen-port 7100 --lifetime 300 "$@" 2>/dev/null; }
# late: the relay's "late by p50 <X us ... p99 <Y us" as "X / Y".
late() {
	netlab relay-stop "$LAB" 2>&1 | sed -n 's/.*p50 <\([0-9]*\) us.*p99 <\([0-9]*\) us.*/\1 \/ \2/p'
}

# drops: packets tbf dropped on both veth ends since the lab was made.
drops() {
	{ tc -n "$LAB-src" -s qdisc show dev nl-src; tc -n "$LAB-dst" -s qdisc show dev nl-dst; } |
		sed -n 's/.*dropped \([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}'
}

cleanup() { netlab down "$LAB" >/dev/null 2>&1; }
trap cleanup EXIT
netlab up "$LAB" 2>/dev/null || exit 1
netlab exec "$LAB" src timeout 600 python3 "$NP" server --listen "$NETLAB_SRC_ADDR:$PORT" \
	--lifetime 590 2>/dev/null &
sleep 0.5

echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC on $(nproc) vCPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
echo
echo "## Delay ($COUNT round trips of 64 B each)"
echo
echo "| path | RTT p50 ms | RTT p90 ms | added p50 ms | expected ms | relay late p50 / p99 us |"
echo "|---|---|---|---|---|---|"
out=$(dst rtt --connect "$NETLAB_SRC_ADDR:$PORT" --count "$COUNT")
base=$(field median <<<"$out")
echo "| direct veth | $base | $(field p90 <<<"$out") | | | |"
for d in $DELAYS; do
	a=$(relay --delay "$d") || exit 1
	out=$(dst rtt --connect "$a" --count "$COUNT")
	m=$(field median <<<"$out")
	echo "| relay $d ms | $m | $(field p90 <<<"$out") |" \
		"$(awk -v m="$m" -v b="$base" 'BEGIN { printf "%.3f", m - b }') | $((2 * d)) |" \
		"$(late) |"
done

echo
echo "## Rate (tbf on both veth ends; payload rate, so ~95.6% of the tc rate is exact)"
echo
echo "| tc rate | bytes | direct src->dst Mbit/s | relay 5 ms src->dst | relay 5 ms dst->src | tbf drops |"
echo "|---|---|---|---|---|---|"
for r in $RATES; do
	netlab down "$LAB" >/dev/null 2>&1 # fresh qdisc counters
	netlab up "$LAB" --rate "$r" 2>/dev/null || exit 1
	netlab exec "$LAB" src timeout 600 python3 "$NP" server \
		--listen "$NETLAB_SRC_ADDR:$PORT" --lifetime 590 2>/dev/null &
	sleep 0.3
	n=$(($(_nl_rate_bps "$r") * 5 / 2))
	a=$(relay --delay 5) || exit 1
	echo "| $r | $((n >> 20)) MiB | $(dst bulk --connect "$NETLAB_SRC_ADDR:$PORT" --bytes "$n" | field rate_mbit) |" \
		"$(dst bulk --connect "$a" --bytes "$n" | field rate_mbit) |" \
		"$(dst bulk --connect "$a" --bytes "$n" --up | field rate_mbit) | $(drops) |"
	netlab relay-stop "$LAB" 2>/dev/null
done

# gbps ADDR N: GB/s of "min median max" over 3 transfers of N bytes from ADDR.
gbps() {
	for _ in 1 2 3; do dst bulk --connect "$1" --bytes "$2" | field rate_Bps; done |
		sort -g | awk '{v[NR] = $1 / 1e9} END {printf "%.2f (%.2f-%.2f)", v[2], v[1], v[3]}'
}

echo
echo "## Unshaped throughput, $BULK_MIB MiB src->dst (GB/s: median (min-max) of 3; CPU-bound here)"
echo
echo "| path | GB/s | relay CPU s per GiB (user+sys) |"
echo "|---|---|---|"
netlab up "$LAB" 2>/dev/null || exit 1
n=$((BULK_MIB << 20))
echo "| direct veth | $(gbps "$NETLAB_SRC_ADDR:$PORT" "$n") | |"
for d in 0 5 20; do
	a=$(relay --delay "$d") || exit 1
	pid=$(cut -d' ' -f1 "$NETLAB_STATE/$LAB/relays/dst-7100.pid")
	g=$(gbps "$a" "$n")
	cpu=$(awk -v m="$BULK_MIB" '{printf "%.2f", ($14 + $15) / 100 / (3 * m / 1024)}' "/proc/$pid/stat")
	echo "| relay $d ms | $g | $cpu |"
	netlab relay-stop "$LAB" 2>/dev/null
done
