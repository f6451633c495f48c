#!/usr/bin/env bash
# make bench-pageserver: CRIU's own lazy page server against faultline's, side by side.
#
# One 1 GiB memfill is dumped once with `criu dump`. Then, for each transport (plain TCP,
# TLS) and each CPU pinning, the same images are restored post-copy through CRIU's own
# `criu lazy-pages --page-server` daemon, once from `criu page-server --lazy-pages` and
# once from `faultline page-server --once`, REPS times, alternating which server goes
# first. Per run:
#   - all pages in:  from the start of `criu restore --lazy-pages` until the lazy-pages
#                    daemon exits (it exits once every lazy page is in; its log must say
#                    "UFFD transferred pages: (N/N)" with N = every lazy page);
#   - restore:       how long `criu restore --lazy-pages` itself took;
#   - server CPU and peak RSS: user+sys time of the server process from wait4()
#                    (bench/rtime.py, microseconds), and its max RSS from /usr/bin/time
#                    (%M; rtime's own fork would count Python's RSS), the server run in
#                    the foreground (both servers exit after their one client);
#   - the restored workload checks every byte afterwards; a run that fails it fails the
#     benchmark, so a fast but wrong run cannot count.
# fs.pipe-max-size is raised to 4 MiB only while CRIU's server runs (it fails without;
# see docs/criu-interop.md) and put back right after; faultline runs at the default.
#
# Pinning (taskset):  split = page server on CPU 0; lazy-pages daemon, restore and the
#                             restored task on CPU 1 (the restored task inherits it);
#                     same  = all of them on CPU 0;   none = no pinning.
#
# usage: bench/bench-pageserver.sh [--reps N] [--mib N] [--pin LIST] [--transport LIST]
#                                  [--out FILE | --no-out]
#   --reps N          runs per server and configuration (default 3; medians reported)
#   --mib N           workload size (default 1024)
#   --pin LIST        comma-separated pinnings: split,same,none (default split,same)
#   --transport LIST  tcp,tls (default both)
#   --out FILE        markdown report (default docs/results/pageserver.md); --no-out: none
# Environment: CRIU (default .deps/bin/criu), BENCH_DIR (work dir; default a new
# /tmp/faultline-bench.XXXXXX, removed on success). Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=3 MIB=1024 PINS=split,same TRANSPORTS=tcp,tls OUT=$ROOT/docs/results/pageserver.md
ARGS=("$@")
while [[ $# -gt 0 ]]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--pin) PINS=$2; shift 2 ;;
	--transport) TRANSPORTS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-out) OUT=; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-pageserver: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
[[ $REPS =~ ^[1-9][0-9]*$ && $MIB =~ ^[1-9][0-9]*$ ]] || { echo "bad --reps/--mib" >&2; exit 2; }

T_NAME=bench-pageserver
T_OUT=${BENCH_DIR:-$(mktemp -d /tmp/faultline-bench.XXXXXX)}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

die() { printf 'bench-pageserver: FAILED: %s\n  work dir kept: %s\n' "$*" "$T_OUT" >&2; exit 1; }
say() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s%N; }

[[ $(id -u) -eq 0 ]] || die "needs root"
[[ -x $FAULTLINE && -x $MEMFILL ]] || die "build first: make"
"$CRIU" --version >/dev/null 2>&1 || die "$CRIU does not run (make deps)"
command -v python3 >/dev/null || die "python3 missing"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
command -v taskset >/dev/null || die "taskset missing"
t_init
T_KEEP= # remove the work dir (a 1 GiB dump) on success; t_cleanup keeps it on failure
CRIU_VER=$("$CRIU" --version | sed -n 's/^Version: *//p')
PIPE_DEFAULT=$(cat /proc/sys/fs/pipe-max-size)

img=$T_OUT/img wl=$T_OUT/wl pki=$T_OUT/pki res=$T_OUT/results.tsv
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "work dir $T_OUT; CRIU $CRIU_VER; $REPS runs per server; pinning $PINS; transports $TRANSPORTS"
pid=$(t_start_workload "$wl" "$MIB" --threads 2) || die "workload did not start"
t_dump "$pid" "$img" || die "criu dump failed"
t_wait_exit "$pid" 10 || die "dumped task still runs"
"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 || die "faultline pki init failed"
say "dumped $MIB MiB: $(du -sb "$img" | awk '{printf "%.1f MiB", $1 / 1048576}') of images"

# pin_cmd ROLE: the taskset prefix for ROLE (server|client) under pinning $PIN.
pin_cmd() {
	case $PIN:$1 in
	split:server | same:*) echo "taskset -c 0" ;;
	split:client) echo "taskset -c 1" ;;
	*) echo "" ;;
	esac
}

# wait_status FIFO: 0 once a process wrote its --status-fd byte into FIFO (30 s limit).
wait_status() {
	[[ $(timeout 30 head -c1 "$1" 2>/dev/null | wc -c) -eq 1 ]]
}

# run_one SERVER TRANSPORT PIN REP: one restore; appends a line to $res.
run_one() {
	local srv=$1 tr=$2 rep=$4 run ps lp port t0 t1 t2 rc=0 sum wd_pid u s cpu rss lu ls lpcpu
	local -a spin cpin tls_s=() tls_c=() cmd
	PIN=$3
	run=$T_OUT/run/$tr-$PIN-$srv-$rep
	mkdir -p "$run"
	mkfifo "$run/ps.status" "$run/lp.status"
	read -ra spin <<<"$(pin_cmd server)"
	read -ra cpin <<<"$(pin_cmd client)"
	if [[ $tr == tls ]]; then
		tls_c=(--tls --tls-cacert "$pki/ca.pem" --tls-cert "$pki/client.pem" --tls-key "$pki/client.key")
		tls_s=(--tls-cacert "$pki/ca.pem" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key")
	fi
	rm -f "$wl/go" "$wl/result"
	port=$(t_free_port)
	if [[ $srv == criu ]]; then
		t_pipe_max_raise 4194304
		[[ $tr == tls ]] && tls_s=(--tls "${tls_s[@]}")
		cmd=("$CRIU" page-server --lazy-pages -D "$img" -W "$run" --address 127.0.0.1
			--port "$port" -o ps.log "${tls_s[@]}")
	else
		[[ $tr == tcp ]] && tls_s=(--no-tls)
		cmd=("$FAULTLINE" page-server -D "$img" --address 127.0.0.1 --port "$port" --once
			-o "$run/ps.log" "${tls_s[@]}")
	fi
	"${spin[@]}" python3 "$ROOT/bench/rtime.py" "$run/ps.time" /usr/bin/time -o "$run/ps.rss" -f "%U %S %M" "${cmd[@]}" --status-fd 3 \
		3>"$run/ps.status" </dev/null >"$run/ps.out" 2>&1 &
	ps=$!
	t_track "$ps"
	wait_status "$run/ps.status" || die "$srv page server did not start ($run)"
	"${cpin[@]}" python3 "$ROOT/bench/rtime.py" "$run/lp.time" "$CRIU" lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$img" \
		-W "$run" -o lp.log -v4 "${tls_c[@]}" --status-fd 3 3>"$run/lp.status" \
		</dev/null >"$run/lp.out" 2>&1 &
	lp=$!
	t_track "$lp"
	wait_status "$run/lp.status" || die "criu lazy-pages did not start ($run)"
	(sleep 180 && kill -KILL "$lp" "$ps" 2>/dev/null) &
	wd_pid=$!

	t0=$(now)
	"${cpin[@]}" timeout 60 "$CRIU" restore --lazy-pages -D "$img" -W "$run" -d \
		--pidfile restored.pid -o restore.log -v4 </dev/null >"$run/restore.out" 2>&1 ||
		die "criu restore failed ($run/restore.log)"
	t1=$(now)
	t_track "$(cat "$run/restored.pid")"
	wait "$lp" || rc=$?
	read -r _ lu ls _ t2 <"$run/lp.time" || die "no timing from lazy-pages ($run)"
	[[ $rc -eq 0 ]] || die "criu lazy-pages exited with $rc ($run/lp.log)"
	rc=0
	wait "$ps" || rc=$?
	kill "$wd_pid" 2>/dev/null || true
	wait "$wd_pid" 2>/dev/null || true
	[[ $srv == criu ]] && t_pipe_max_restore
	[[ $rc -eq 0 ]] || die "$srv page server exited with $rc ($run)"
	[[ $(cat /proc/sys/fs/pipe-max-size) -eq $PIPE_DEFAULT ]] || die "fs.pipe-max-size not put back"

	sum=$(t_lp_summary "$run/lp.log")
	[[ -n $sum && ${sum% *} -eq ${sum#* } && ${sum#* } -gt 0 ]] ||
		die "lazy-pages did not transfer every page: '$sum' ($run/lp.log)"
	[[ -z $LAZY_PAGES || ${sum#* } -eq $LAZY_PAGES ]] ||
		die "lazy-pages transferred ${sum#* } pages, the dump has $LAZY_PAGES lazy pages"
	t_verify "$wl" 120 || die "restored memory is wrong after $srv/$tr/$PIN run $rep"
	t_wait_exit "$(cat "$run/restored.pid")" 10 || true
	read -r _ u s _ <"$run/ps.time"
	cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", (u + s) * 1000 }')
	lpcpu=$(awk -v u="$lu" -v s="$ls" 'BEGIN { printf "%.0f", (u + s) * 1000 }')
	rss=$(tail -1 "$run/ps.rss" | awk "{print \$3}")
	printf '%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n' "$tr" "$PIN" "$srv" "$rep" \
		$(((t2 - t0) / 1000000)) $(((t1 - t0) / 1000000)) "$cpu" "$rss" "$lpcpu" \
		"${sum#* }" >>"$res"
	say "$(printf '%-4s %-5s %-9s run %d: all pages in %5d ms, restore %4d ms, server CPU %4d ms, RSS %6d KiB, lazy-pages CPU %4d ms, verified' \
		"$tr" "$PIN" "$srv" "$rep" $(((t2 - t0) / 1000000)) $(((t1 - t0) / 1000000)) "$cpu" "$rss" "$lpcpu")"
	rm -f "$run/ps.status" "$run/lp.status"
}

# The number of lazy pages in the dump, from faultline's startup line.
t_fl_page_server "$T_OUT/probe.log" "$img" --no-tls || die "faultline page-server rejects the dump"
LAZY_PAGES=$T_PS_LAZY
kill -TERM "$T_PS_PID"
t_fl_ps_wait 10 >/dev/null || die "faultline page-server did not stop"
say "$LAZY_PAGES lazy pages to serve per restore"

printf 'transport\tpin\tserver\trep\tallin_ms\trestore_ms\tcpu_ms\trss_kib\tlp_cpu_ms\tpages\n' >"$res"
IFS=, read -ra pins <<<"$PINS"
IFS=, read -ra transports <<<"$TRANSPORTS"
for tr in "${transports[@]}"; do
	[[ $tr == tcp || $tr == tls ]] || die "unknown transport $tr"
	for pin in "${pins[@]}"; do
		[[ $pin == split || $pin == same || $pin == none ]] || die "unknown pinning $pin"
		for ((rep = 1; rep <= REPS; rep++)); do
			if ((rep % 2)); then order=(criu faultline); else order=(faultline criu); fi
			for srv in "${order[@]}"; do run_one "$srv" "$tr" "$pin" "$rep"; done
		done
	done
done

# The report: medians (and min-max) per transport, pinning and server.
table=$(awk -F'\t' '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
NR > 1 {
	k = $1 SUBSEP $2 SUBSEP $3
	if (!(k in n)) order[++nk] = k
	n[k]++; allin[k] = allin[k] " " $5; rst[k] = rst[k] " " $6; cpu[k] = cpu[k] " " $7; rss[k] = rss[k] " " $8
	lpc[k] = lpc[k] " " $9
}
END {
	print "| transport | pinning | server | all pages in: median (min–max) | restore | server CPU (user+sys) | server peak RSS | lazy-pages daemon CPU | runs, all verified |"
	print "|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nk; i++) {
		k = order[i]; split(k, f, SUBSEP)
		m = median(allin[k]); l = lo; h = hi
		r = median(rst[k]); c = median(cpu[k]); s = median(rss[k]); lc = median(lpc[k])
		name = f[3] == "criu" ? "`criu page-server --lazy-pages`" : "`faultline page-server`"
		printf "| %s | %s | %s | **%d ms** (%d–%d) | %d ms | %d ms | %.1f MiB | %d ms | %d |\n", \
			toupper(f[1]), f[2], name, m, l, h, r, c, s / 1024, lc, n[k]
		med[f[1] SUBSEP f[2] SUBSEP f[3]] = m; mrss[f[1] SUBSEP f[2] SUBSEP f[3]] = s
		cf[f[1] SUBSEP f[2]] = 1
	}
	print ""
	for (i = 1; i <= nk; i++) {
		k = order[i]; split(k, f, SUBSEP); c2 = f[1] SUBSEP f[2]
		if (!(c2 in cf) || done[c2]++) continue
		a = med[c2 SUBSEP "criu"]; b = med[c2 SUBSEP "faultline"]
		if (a && b) printf "- %s, %s pinning: faultline takes %.2f× CRIU'"'"'s time (%d vs %d ms)%s; peak RSS %.1f MiB (goal < 64 MiB).\n", \
			toupper(f[1]), f[2], b / a, b, a, b <= a * 1.05 ? ", matching or beating it" : ", SLOWER", \
			mrss[c2 SUBSEP "faultline"] / 1024
	}
}' "$res")

make_note=
# shellcheck disable=SC2016 # backquotes are markdown
[[ ${#ARGS[@]} -gt 0 ]] || make_note=' (`make bench-pageserver`)'
cpu_model=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
report=$(
	cat <<EOF
# Page server benchmark: \`criu page-server --lazy-pages\` vs \`faultline page-server\`

$table

**Setup.** A ${MIB} MiB, two-thread memfill in its own pid namespace, dumped once with
\`criu dump\` ($LAZY_PAGES lazy pages). Each run restores those images post-copy through
CRIU's own \`criu lazy-pages --page-server\` (+ \`criu restore --lazy-pages\`) from one of the
two servers, over loopback. $REPS run(s) per server and configuration, alternating which
server goes first; medians shown. Every run's restored workload checked all of its
memory, and every lazy-pages log reported all $LAZY_PAGES pages transferred.

- *all pages in*: from the start of \`criu restore --lazy-pages\` until the lazy-pages daemon
  exits, which it does once every lazy page is in (CRIU's background prefetch: one request
  in flight, chunks growing from 64 KiB to 4 MiB).
- *restore*: \`criu restore --lazy-pages\` alone, until the task resumed.
- *lazy-pages daemon CPU*: user+sys time of \`criu lazy-pages\` (the same client for both
  servers): it asks for one chunk at a time, so the transfer is a loop of server time and
  client time, and the client's share is the floor no server can remove.
- *server CPU* and *peak RSS*: user+sys time and max RSS of the page server process
  (wait4() rusage, and \`/usr/bin/time -f %M\`, of the server run in the foreground; both
  exit after their one client; the CPU time includes about 2 ms of /usr/bin/time itself).
  CRIU's server holds the pages it serves in pipe buffers, which are kernel memory and do
  not show in its RSS.
- *pinning*: split = page server on CPU 0, lazy-pages + restore + restored task on CPU 1;
  same = all on CPU 0 (\`taskset\`).
- fs.pipe-max-size was raised to 4 MiB only while CRIU's server ran (it fails without:
  docs/criu-interop.md) and was $PIPE_DEFAULT otherwise, including all faultline runs.
- TLS: certificates from \`faultline pki init\`, names verified at both ends, TLS 1.3
  (CRIU: GnuTLS; faultline: OpenSSL 3.0, no kTLS on this kernel).

**Run.** \`bench/bench-pageserver.sh${ARGS[*]:+ ${ARGS[*]}}\`$make_note,
$(date -u '+%Y-%m-%d %H:%M UTC'); CRIU $CRIU_VER; Linux $(uname -r); $(nproc) vCPUs ($cpu_model);
faultline $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown); load average
$LOAD_START at the start, $LOAD_END at the end (other work on the machine adds noise).

<details><summary>All runs</summary>

| transport | pinning | server | run | all pages in (ms) | restore (ms) | server CPU (ms) | server peak RSS (KiB) | lazy-pages CPU (ms) | pages |
|---|---|---|---|---|---|---|---|---|---|
$(awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$res")

</details>
EOF
)
echo
echo "$report"
if [[ -n $OUT ]]; then
	mkdir -p "$(dirname "$OUT")"
	echo "$report" >"$OUT"
	say "report written to $OUT"
fi
