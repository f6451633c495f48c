#!/usr/bin/env bash
# Regression: faultline page-server --no-tls must answer each GET exactly once, in
# order, when a request arrives while earlier ones are still buffered or being served.
# A client sends GET A + GET B in one write, reads both replies, then sends GET C; the
# third reply must be for C. (The server used to rewind its receive buffer while a recv
# into it was in flight, re-parse B and drop C; `criu lazy-pages` then waited forever
# for C with two faulting threads.) The client is a small Python script speaking the
# CRIU 4.2 protocol against a real 16 MiB dump.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

t_init
t_require_criu "$CRIU"
pid=$(t_start_workload "$T_OUT/wl" 16) || t_fail "workload did not start"
base=$(awk '{print $3}' "$T_OUT/wl/ready")
t_dump "$pid" "$T_OUT/img" || t_fail "dump failed"
t_wait_exit "$pid" 10 || t_fail "dumped task $pid still runs"
t_fl_page_server "$T_OUT/ps.log" "$T_OUT/img" --no-tls --once || t_fail "server did not start"

t_with_timeout 20 python3 - "$T_PS_PORT" "$base" <<'PY' || t_fail "wrong or missing replies"
import socket, struct, sys
port, base = int(sys.argv[1]), int(sys.argv[2], 16)
hdr = struct.Struct('<IIQQQ')  # CRIU 4.2: cmd, pad, nr_pages, vaddr, dst_id

def get(vaddr, nr):
    return hdr.pack(7, 0, nr, vaddr, 1)  # PS_IOV_GET for pid 1

def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        chunk = s.recv(min(n - len(b), 1 << 20))
        if not chunk:
            sys.exit('server closed the connection')
        b += chunk
    return bytes(b)

def reply(s, want):
    cmd, _, nr, vaddr, _ = hdr.unpack(recv_exact(s, hdr.size))
    recv_exact(s, nr * 4096)
    if vaddr != want:
        sys.exit('reply for 0x%x, want 0x%x' % (vaddr, want))

s = socket.create_connection(('127.0.0.1', port))
s.settimeout(10)
A, B, C = base, base + 64 * 4096, base + 128 * 4096
s.sendall(get(A, 64) + get(B, 1))
reply(s, A)
reply(s, B)
s.sendall(get(C, 1))
reply(s, C)
s.sendall(hdr.pack(0x1023, 0, 0, 0, 0))  # PS_IOV_CLOSE
recv_exact(s, 4)
PY
t_fl_ps_wait 10 || t_fail "server --once did not exit cleanly"
grep -q 'session closed: 3 GETs, 66 pages' "$T_OUT/ps.log" ||
	{ t_criu_log "$T_OUT/ps.log"; t_fail "server did not log 3 GETs / 66 pages"; }
t_pass "3 GETs answered in order"
