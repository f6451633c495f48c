#!/usr/bin/env bash
# make demo: a live post-copy migration of a sample workload on this machine, over TLS.
#
#   source side:       memfill (its own pid namespace) --criu dump--> images
#                      faultline page-server (TLS, client certificates) serves the lazy pages
#   destination side:  faultline lazy-pages --page-server (TLS)  +  criu restore --lazy-pages
#
# The restored workload resumes before its memory is there; its pages arrive on demand
# and in the background. At the end the workload checks every byte, and a report gives
# the sizes and times. fs.pipe-max-size is left as it is (faultline does not need it).
#
# Environment: DEMO_MIB (default 512), DEMO_THREADS (2), DEMO_DIR (default: a new
# /tmp/faultline-demo.XXXXXX; logs stay there), DEMO_KEEP_IMAGES=1 keeps the page images
# (removed after a successful run, as they are as big as the workload), CRIU (criu binary,
# default .deps/bin/criu). Needs root. Exit status 0 only if the memory verified.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIB=${DEMO_MIB:-512}
THREADS=${DEMO_THREADS:-2}
T_NAME=demo
T_OUT=${DEMO_DIR:-$(mktemp -d /tmp/faultline-demo.XXXXXX)}
T_KEEP=1
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$ROOT/tests/e2e/lib_lp.sh"

T0=$(date +%s%N)
say() { printf '[demo %6.2fs] %s\n' "$(awk -v n="$(date +%s%N)" -v t="$T0" 'BEGIN { print (n - t) / 1e9 }')" "$*"; }
die() { printf 'demo: FAILED: %s\n  logs: %s\n' "$*" "$T_OUT" >&2; exit 1; }
ms() { echo $((($2 - $1) / 1000000)); }
secs() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }
mib_of() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

[[ $(id -u) -eq 0 ]] || die "needs root (CRIU dumps and restores processes)"
[[ -x $FAULTLINE && -x $MEMFILL ]] || die "build first: make"
"$CRIU" --version >/dev/null 2>&1 || die "$CRIU does not run (make deps)"
[[ -e /dev/userfaultfd || -e /proc/sys/vm/unprivileged_userfaultfd ]] || die "no userfaultfd"
t_init
CRIU_VER=$("$CRIU" --version | sed -n 's/^Version: *//p')

img=$T_OUT/img dst=$T_OUT/dst wl=$T_OUT/wl pki=$T_OUT/pki
echo "faultline demo: post-copy live migration over TLS, on this machine (loopback)"
echo "  CRIU $CRIU_VER, Linux $(uname -r), fs.pipe-max-size $(cat /proc/sys/fs/pipe-max-size) (left as is)"
echo "  work dir $T_OUT"

say "starting the workload: memfill, $MIB MiB, $THREADS threads, in its own pid namespace"
pid=$(t_start_workload "$wl" "$MIB" --threads "$THREADS") || die "workload did not start"
read -r _ bytes base fill_ms <"$wl/ready"
say "workload pid $pid filled $(mib_of "$bytes") at $base in $fill_ms ms"

say "creating a throwaway CA and certificates (faultline pki init $pki)"
"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 || die "faultline pki init: $(cat "$T_OUT/pki.log")"

say "source: criu dump (freeze, then write the images to $img)"
t_freeze=$(date +%s%N)
t_dump "$pid" "$img" || die "criu dump failed (see $img/dump.log)"
t_dumped=$(date +%s%N)
t_wait_exit "$pid" 10 || die "the dumped task still runs"
img_bytes=$(du -sb "$img" | cut -f1)
say "dumped in $(ms "$t_freeze" "$t_dumped") ms: $(mib_of "$img_bytes") of images"

say "source: faultline page-server --pki (TLS, client certificates, names verified)"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" ||
	die "faultline page-server did not start (see $T_OUT/ps.log)"
say "page server pid $T_PS_PID on 127.0.0.1 port $T_PS_PORT, $T_PS_LAZY lazy pages ($(mib_of $((T_PS_LAZY * 4096))))"

say "destination: faultline lazy-pages --page-server --pki (work dir $dst)"
lp_start "$dst" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki"

say "destination: criu restore --lazy-pages"
t_restore_start=$(date +%s%N)
t_restore_wd "$dst" "$img" --lazy-pages || die "criu restore failed (see $dst/restore.log)"
t_resumed=$(date +%s%N)
rpid=$(cat "$dst/restored.pid")
say "resumed as pid $rpid after $(ms "$t_restore_start" "$t_resumed") ms; pages are streaming in"

lp_rc=0
lp_wait 120 || lp_rc=$?
t_allin=$(date +%s%N)
[[ $lp_rc -eq 0 ]] || die "faultline lazy-pages failed with status $lp_rc (see $dst/lp.log)"
say "all pages in: faultline lazy-pages finished $(ms "$t_restore_start" "$t_allin") ms after restore began"
kill -TERM "$T_PS_PID" 2>/dev/null
ps_rc=0
t_fl_ps_wait 10 || ps_rc=$?

say "telling the restored workload to check every byte"
verdict=FAILED
t_verify "$wl" 120 && verdict=OK
result=$(cat "$wl/result" 2>/dev/null || echo "no result")
say "workload says: $result"

# What the two daemons logged: one session per link (faults, background).
read -r s_sessions s_gets s_pages < <(sed -n 's/.*session closed: \([0-9]*\) GETs, \([0-9]*\) pages.*/\1 \2/p' \
	"$T_OUT/ps.log" | awk '{ g += $1; p += $2; n++ } END { print n + 0, g + 0, p + 0 }')
proto=$(sed -n 's/.*client speaks the \(CRIU [^ ]*\) page-server protocol.*/\1/p' "$T_OUT/ps.log" | head -1)
read -r lp_faulted lp_prefetched lp_zero <<<"$(lp_summary "$dst/lp.log")"
lp_line=$(sed -n 's/.*summary: //p' "$dst/lp.log" | tail -1)

ok=1
[[ $verdict == OK ]] || ok=0
[[ $ps_rc -eq 0 && $s_sessions -ge 1 ]] || ok=0
[[ $s_pages -eq $T_PS_LAZY && $((lp_faulted + lp_prefetched)) -eq $T_PS_LAZY ]] || ok=0

if [[ $ok -eq 1 && -z ${DEMO_KEEP_IMAGES:-} ]]; then
	rm -f "$img"/pages-*.img
	img_note="page images removed (DEMO_KEEP_IMAGES=1 keeps them)"
else
	img_note="images kept in $img"
fi

cat <<EOF

=============================== faultline demo report ===============================
 workload        memfill, $(mib_of "$bytes"), $THREADS threads, own pid namespace
 images          $(mib_of "$img_bytes") (criu dump); $T_PS_LAZY lazy pages = $(mib_of $((T_PS_LAZY * 4096))) served post-copy
 dump time       $(secs "$(ms "$t_freeze" "$t_dumped")")   criu dump: freeze + write the images
 restore time    $(secs "$(ms "$t_restore_start" "$t_resumed")")   criu restore --lazy-pages until the task resumed
 frozen→resumed  $(secs "$(ms "$t_freeze" "$t_resumed")")   downtime: dump, page server and lazy-pages start, restore
 all pages in    $(secs "$(ms "$t_restore_start" "$t_allin")")   after restore began ($(secs "$(ms "$t_freeze" "$t_allin")") after the freeze)
 page server     $s_pages pages ($(mib_of $((s_pages * 4096)))) in $s_gets GETs over TLS, ${proto:-?} protocol,
                 $s_sessions sessions closed cleanly (fault link + background link), exit status $ps_rc
 lazy-pages      $lp_faulted pages faulted + $lp_prefetched prefetched = $((lp_faulted + lp_prefetched)) of $T_PS_LAZY lazy pages, $lp_zero zero-filled
                 ${lp_line#*zero-filled; }
 verification    $( [[ $verdict == OK ]] && echo "OK: all ${result#OK } bytes as written before the dump" || echo "FAILED: $result")
 logs            $T_OUT
                   img/dump.log      criu dump        ps.log             faultline page-server
                   dst/lp.log        faultline lazy-pages  dst/restore.log  criu restore
                 $img_note
=====================================================================================
EOF
[[ $ok -eq 1 ]] || die "the migration did not complete cleanly (see the report above)"
