#!/usr/bin/env python3
"""netprobe: measure round-trip time and throughput of a TCP path (docs/netlab.md).

    netprobe.py server --listen ADDR:PORT [--lifetime SECS]
    netprobe.py rtt    --connect ADDR:PORT [--count N] [--warmup N]
    netprobe.py bulk   --connect ADDR:PORT --bytes N [--up]
    netprobe.py stream --connect ADDR:PORT --bytes N [--conns K] [--no-read]

The server answers 64-byte requests on each connection (one thread per connection):
  b"E" + 63 bytes              -> echoes the 64 bytes back (rtt)
  b"B" + u64le N + 55 bytes    -> sends N bytes (bulk, server -> client)
  b"U" + u64le N + 55 bytes    -> reads N bytes, then answers 8 bytes (bulk --up)
  b"X" + 63 bytes              -> echoes every later byte until EOF, then closes (stream)
It exits after --lifetime seconds (default 600), so a forgotten one goes away.

rtt times COUNT request/response round trips on one connection, after WARMUP
untimed ones, and prints one line: rtt_ms median=... p10=... p90=... min=... max=...
bulk times one N-byte transfer from the request to the last byte (or to the
server's answer with --up) and prints: bulk bytes=N seconds=S rate_Bps=R
rate_mbit=M. stream sends N pseudo-random bytes on each of K connections at once,
half-closes, reads the echo to EOF and checks it is the same byte stream (sha256);
prints: stream conns=K bytes=N seconds=S ok (exit 1 on a mismatch). With --no-read it
never reads: it reports how many bytes it got to send before --timeout (flow-control
test). Every socket has a timeout (--timeout, default 30 s).
"""
import argparse
import hashlib
import random
import socket
import statistics
import struct
import sys
import threading
import time

REQ = 64


def addr(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def recv_exact(sock, n, buf=None):
    buf = buf if buf is not None else bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:n])
        if k == 0:
            raise EOFError("peer closed after %d of %d bytes" % (got, n))
        got += k
    return buf


def serve_conn(conn):
    chunk = bytes(1 << 20)
    sink = bytearray(1 << 20)
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                req = recv_exact(conn, REQ)
            except (EOFError, OSError):
                return
            op, n = req[0:1], struct.unpack_from("<Q", req, 1)[0]
            if op == b"E":
                conn.sendall(req)
            elif op == b"B":
                while n > 0:
                    k = conn.send(memoryview(chunk)[: min(n, len(chunk))])
                    n -= k
            elif op == b"X":
                while True:
                    k = conn.recv_into(sink)
                    if k == 0:
                        return
                    conn.sendall(memoryview(sink)[:k])
            elif op == b"U":
                while n > 0:
                    k = conn.recv_into(sink, min(n, len(sink)))
                    if k == 0:
                        return
                    n -= k
                conn.sendall(struct.pack("<Q", 0))
            else:
                return


def server(args):
    host, port = addr(args.listen)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    print("netprobe: listening on %s:%d" % ls.getsockname()[:2], file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        ls.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            continue
        conn.settimeout(args.lifetime)
        threading.Thread(target=serve_conn, args=(conn,), daemon=True).start()
    return 0


def connect(args):
    s = socket.create_connection(addr(args.connect), timeout=args.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rtt(args):
    s = connect(args)
    req = bytearray(REQ)
    req[0:1] = b"E"
    buf = bytearray(REQ)
    times = []
    for i in range(args.warmup + args.count):
        t0 = time.perf_counter_ns()
        s.sendall(req)
        recv_exact(s, REQ, buf)
        if i >= args.warmup:
            times.append((time.perf_counter_ns() - t0) / 1e6)
    s.close()
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    print("rtt_ms median=%.3f p10=%.3f p90=%.3f min=%.3f max=%.3f n=%d" % (
        statistics.median(times), q(0.1), q(0.9), times[0], times[-1], len(times)))
    return 0


def bulk(args):
    s = connect(args)
    n = args.bytes
    req = bytearray(REQ)
    req[0:1] = b"U" if args.up else b"B"
    struct.pack_into("<Q", req, 1, n)
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    s.sendall(req)
    left = n
    if args.up:
        chunk = memoryview(bytes(1 << 20))
        while left > 0:
            left -= s.send(chunk[: min(left, len(chunk))])
        recv_exact(s, 8)
    else:
        while left > 0:
            k = s.recv_into(buf, min(left, len(buf)))
            if k == 0:
                raise EOFError("peer closed with %d bytes to go" % left)
            left -= k
    dt = time.perf_counter() - t0
    s.close()
    print("bulk bytes=%d seconds=%.4f rate_Bps=%.0f rate_mbit=%.2f" % (
        n, dt, n / dt, n * 8 / dt / 1e6))
    return 0


def stream_one(args, base, out, i):
    try:
        s = connect(args)
        req = bytearray(REQ)
        req[0:1] = b"X"
        s.sendall(req)
        sent, tx = 0, hashlib.sha256()

        def send():
            nonlocal sent
            j = 0
            while sent < args.bytes:
                k = (j * 4099 + i * 7919) % len(base)
                chunk = (base[k:] + base[:k])[: args.bytes - sent]
                tx.update(chunk)
                view = memoryview(chunk)
                while view:
                    try:
                        k = s.send(view)
                    except socket.timeout:
                        return
                    sent += k
                    view = view[k:]
                j += 1
            s.shutdown(socket.SHUT_WR)

        if args.no_read:
            send()
            out[i] = ("sent", sent)
            return
        t = threading.Thread(target=send)
        t.start()
        rx, got, buf = hashlib.sha256(), 0, bytearray(1 << 20)
        while True:
            k = s.recv_into(buf)
            if k == 0:
                break
            rx.update(memoryview(buf)[:k])
            got += k
        t.join()
        out[i] = ("ok" if got == sent == args.bytes and rx.digest() == tx.digest()
                  else "mismatch: sent %d got %d" % (sent, got), got)
    except OSError as e:
        out[i] = ("error: %s" % e, 0)


def stream(args):
    base = random.Random(args.bytes).randbytes(1 << 20)
    out = [None] * args.conns
    t0 = time.perf_counter()
    ts = [threading.Thread(target=stream_one, args=(args, base, out, i))
          for i in range(args.conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    if args.no_read:
        print("stream conns=%d sent=%s" % (args.conns, ",".join(str(o[1]) for o in out)))
        return 0
    bad = [o[0] for o in out if o[0] != "ok"]
    print("stream conns=%d bytes=%d seconds=%.3f %s" % (
        args.conns, args.bytes, dt, "ok" if not bad else "FAIL " + "; ".join(bad)))
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--listen", required=True)
    sp.add_argument("--lifetime", type=float, default=600)
    sp = sub.add_parser("rtt")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--count", type=int, default=50)
    sp.add_argument("--warmup", type=int, default=3)
    sp.add_argument("--timeout", type=float, default=30)
    sp = sub.add_parser("bulk")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--bytes", type=int, required=True)
    sp.add_argument("--up", action="store_true", help="client -> server")
    sp.add_argument("--timeout", type=float, default=30)
    sp = sub.add_parser("stream")
    sp.add_argument("--connect", required=True)
    sp.add_argument("--bytes", type=int, required=True)
    sp.add_argument("--conns", type=int, default=1)
    sp.add_argument("--no-read", action="store_true")
    sp.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    return {"server": server, "rtt": rtt, "bulk": bulk, "stream": stream}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
