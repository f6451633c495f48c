#!/usr/bin/env bash
# faultline page-server refuses to start on broken image dirs, with a non-zero exit and
# a message on stderr that names the file and the offset or sizes:
#   - pages-1.img truncated by a few pages: names pages-1.img, the size it needs and has;
#   - pstree.img missing: names pstree.img;
#   - pagemap-N.img with a wrong magic: names pagemap-N.img and the offset of the magic.
# The images come from one real 16 MiB `criu dump`; each case breaks a copy of them.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

t_init
t_require_criu "$CRIU"

wl=$T_OUT/wl img=$T_OUT/img
pid=$(t_start_workload "$wl" 16) || t_fail "workload did not start"
t_dump_gone "$pid" "$img"
pms=("$img"/pagemap-[0-9]*.img)
pm=$(basename "${pms[0]}")
[[ -s $img/$pm && -s $img/pages-1.img ]] || t_fail "dump lacks pagemap-N.img or pages-1.img"

# The intact images serve: the server starts and stops cleanly.
t_fl_page_server "$T_OUT/ok.log" "$img" --no-tls || t_fail "server rejects the intact images"
kill -TERM "$T_PS_PID"
t_fl_ps_wait 10 || t_fail "server did not stop cleanly"

# broken NAME: a fresh copy of the images in $T_OUT/NAME, to break.
broken() {
	rm -rf "${T_OUT:?}/$1"
	mkdir -p "$T_OUT/$1"
	cp -a "$img"/*.img "$T_OUT/$1/"
}

# expect_refusal NAME REGEX...: the server on $T_OUT/NAME must exit non-zero within 10 s
# without listening, and its stderr must match every REGEX (grep -E).
expect_refusal() {
	local name=$1 dir=$T_OUT/$1 rc=0 re
	shift
	timeout --kill-after=5 10 "$FAULTLINE" page-server -D "$dir" --address 127.0.0.1 \
		--port 0 --no-tls >"$dir.out" 2>"$dir.err" </dev/null || rc=$?
	[[ $rc -ne 0 && $rc -ne 124 && $rc -ne 137 ]] ||
		t_fail "$name: exit status $rc, want a refusal (non-zero, no timeout)"
	[[ -s $dir.err ]] || t_fail "$name: nothing on stderr"
	! grep -q 'listening on' "$dir.out" "$dir.err" || t_fail "$name: server started listening"
	for re in "$@"; do
		grep -qE -- "$re" "$dir.err" || t_fail "$name: stderr lacks /$re/: $(cat "$dir.err")"
	done
	t_log "$name: exit $rc: $(head -1 "$dir.err")"
}

# 1. pages-1.img shorter than its pagemap says, by 3 pages.
size=$(stat -c %s "$img/pages-1.img")
broken truncated
truncate -s $((size - 3 * 4096)) "$T_OUT/truncated/pages-1.img"
expect_refusal truncated 'pages-1\.img' "need $size bytes" "have $((size - 3 * 4096))"

# 2. No pstree.img.
broken nopstree
rm "$T_OUT/nopstree/pstree.img"
expect_refusal nopstree 'pstree\.img' 'No such file'

# 3. Wrong type magic in pagemap-N.img (the second word, at offset 4).
broken badmagic
printf '\xef\xbe\xad\xde' | dd of="$T_OUT/badmagic/$pm" bs=1 seek=4 conv=notrunc status=none
expect_refusal badmagic "${pm//./\\.}" 'magic' 'offset 4'

# 4. The same in the first word (the common image magic, at offset 0).
broken badmagic0
printf '\x00\x00\x00\x00' | dd of="$T_OUT/badmagic0/$pm" bs=1 seek=0 conv=notrunc status=none
expect_refusal badmagic0 "${pm//./\\.}" 'magic' 'offset 0'

t_pass "4 broken image dirs refused with file names and offsets/sizes"
