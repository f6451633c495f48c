#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""flpc_make.py: write an FLPC v1 pre-copy stream of a stopped process.

    flpc_make.py --pid HOSTPID --out FILE [--half] [--invalidate-every N]

Reads /proc/HOSTPID/maps and /proc/HOSTPID/mem and sends, as round 0, every
page of its readable private anonymous mappings (no file, [heap], [stack]),
keyed by the pid in its own pid namespace (last NSpid).  --half sends only
every other 64-page chunk; --invalidate-every N then invalidates the first
16 pages of every Nth chunk sent (round 1).  Prints "sent N invalidated M".
"""
import argparse
import struct

PAGE = 4096
CHUNK = 64


def vpid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return pid


def regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms, inode = parts[1], parts[4]
            name = parts[5] if len(parts) > 5 else ""
            if perms[0] != "r" or perms[3] != "p" or inode != "0":
                continue
            if name and name not in ("[heap]", "[stack]"):
                continue
            yield lo, hi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--half", action="store_true")
    ap.add_argument("--invalidate-every", type=int, default=0)
    a = ap.parse_args()
    vp = vpid(a.pid)
    sent, chunks = 0, []
    with open(f"/proc/{a.pid}/mem", "rb", buffering=0) as mem, open(a.out, "wb") as out:
        out.write(b"FLPC" + struct.pack("<I", 1))
        for lo, hi in regions(a.pid):
            for i, start in enumerate(range(lo, hi, CHUNK * PAGE)):
                if a.half and i % 2:
                    continue
                n = min(CHUNK, (hi - start) // PAGE)
                mem.seek(start)
                data = mem.read(n * PAGE)
                if len(data) != n * PAGE:
                    raise SystemExit(f"short read at 0x{start:x}")
                out.write(struct.pack("<IIQQ", 1, vp, start, n) + data)
                sent += n
                chunks.append((start, n))
        out.write(struct.pack("<IIQQ", 3, 0, 0, sent))
        inval = 0
        if a.invalidate_every:
            for start, n in chunks[:: a.invalidate_every]:
                k = min(16, n)
                out.write(struct.pack("<IIQQ", 2, vp, start, k))
                inval += k
        out.write(struct.pack("<IIQQ", 3, 0, 1, 0))
        out.write(struct.pack("<IIQQ", 4, 0, 2, sent))
    print(f"sent {sent} invalidated {inval}")


if __name__ == "__main__":
    main()
