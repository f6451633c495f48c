#!/usr/bin/env bash
# The synthetic workload under CRIU with a live client: synth (32 MiB, wss 16 MiB, 4 MB/s,
# zipf, --port, --stats) in its own pid namespace, a pinger connected to its port;
# criu dump --tcp-established + plain criu restore --tcp-established (--network-lock
# nftables: no iptables here). Then: the pinger kept its connection (conn_lost false,
# max_gap_ms present), the stats file's total_ops never went backwards and grew after
# the restore, t_verify says OK. Then the check must be able to fail: one byte of a page
# of the restored process is flipped through /proc/PID/mem and t_verify must say FAIL.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SYNTH=$ROOT/build/workloads/synth PINGER=$ROOT/build/bench/pinger
img=$T_OUT/img wl=$T_OUT/wl
t_init
t_require_criu
[[ -x $SYNTH && -x $PINGER ]] || t_fail "$SYNTH or $PINGER missing: run make"
port=$(t_free_port)
mkdir -p "$wl"

# sh -c 'exec': synth's stderr is a file of its own (unshare writes to its stderr after
# the dump, and CRIU refuses to restore an fd whose file changed size).
# shellcheck disable=SC2016 # $0 and $@ are sh's
unshare -p -f setsid sh -c 'exec "$0" "$@" 2>>"'"$wl"'/synth.err"' "$SYNTH" --size 32 --wss 16 \
	--write-rate 4 --skew zipf --dir "$wl" --port "$port" --stats "$wl/stats" \
	</dev/null >/dev/null 2>&1 &
upid=$!
t_track "$upid"
t_wait_for 20 eval "[[ -e $wl/ready ]] || ! t_alive $upid" || t_fail "synth not ready"
[[ -e $wl/ready ]] || t_fail "synth exited: $(cat "$wl/synth.err")"
pid=$(pgrep -P "$upid" | head -1)
[[ -n $pid && $(cat "/proc/$pid/comm") == synth ]] || t_fail "no synth under unshare $upid"
t_track "$pid"

"$PINGER" --connect "127.0.0.1:$port" --until-file "$T_OUT/stop" --json "$T_OUT/ping.json" \
	--timeline "$T_OUT/ping.tl" 2>"$T_OUT/ping.err" &
ping_pid=$!
t_track "$ping_pid"
sleep 0.5
t_dump "$pid" "$img" --tcp-established --network-lock nftables || t_fail "dump failed"
t_wait_exit "$pid" 10 || t_fail "dumped synth $pid still runs"
dumped_ops=$(tail -1 "$wl/stats" | awk '{print $3}')
t_restore "$img" --tcp-established --network-lock nftables || t_fail "restore failed"
restored=$(cat "$img/restored.pid")
sleep 0.5
touch "$T_OUT/stop"
rc=0
t_wait_child "$ping_pid" 40 pinger || rc=$?
ping=$(cat "$T_OUT/ping.json")
((rc == 0)) || t_fail "pinger exited $rc: $ping $(cat "$T_OUT/ping.err")"
[[ $ping == *'"conn_lost":false'* && $ping =~ \"max_gap_ms\":([0-9.]+) ]] || t_fail "pinger: $ping"
gap=${BASH_REMATCH[1]}
[[ $ping =~ \"replies\":([0-9]+) ]] || t_fail "no replies count: $ping"
((BASH_REMATCH[1] >= 50)) || t_fail "too few replies: $ping"
awk -v d="$dumped_ops" 'NR > 1 && $3 < prev {bad = 1} {prev = $3} END {exit bad || prev <= d}' \
	"$wl/stats" || t_fail "total_ops went backwards or did not grow after the restore (dump at" \
	"$dumped_ops): $(awk '{print $3}' "$wl/stats" | tr '\n' ' ')"

t_verify "$wl" 30 || t_fail "memory differs after the restore"
ok=$(cat "$wl/result")

# The check can fail: flip one bit of page 5 of the restored process.
read -r _ _ base _ <"$wl/ready"
rm -f "$wl/result"
python3 - "$restored" "$base" <<'EOF' || t_fail "cannot write /proc/$restored/mem"
import sys
pid, at = int(sys.argv[1]), int(sys.argv[2], 16) + 5 * 4096 + 100
with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 1]))
EOF
if t_verify "$wl" 30; then t_fail "a corrupted page was not caught: $(cat "$wl/result")"; fi
[[ $(cat "$wl/result") == "FAIL page 5 "* ]] || t_fail "wrong verdict: $(cat "$wl/result")"
kill -KILL "$restored"
t_pass "pinger max gap ${gap} ms over dump + restore; ${ok%$'\n'}; a flipped bit in page 5 caught"
