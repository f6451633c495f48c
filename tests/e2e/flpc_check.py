#!/usr/bin/env python3
"""Checks an FLPC v1 stream (`faultline precopy send`) and, optionally, that
its valid pages equal the memory of the frozen tasks.

  flpc_check.py STREAM [--mem HOSTPID:VPID ...] [--coverage] [--rounds N]
                [--expect-invalid] [--expect-no-invalid]

Structure: magic "FLPC", version 1; records {u32 type, u32 pid, u64 vaddr,
u64 nr_pages} of known types; PAGES/INVALIDATE with a pid, a page-aligned
address, nr_pages > 0 and (PAGES) their data; ROUND records numbered 0, 1, ...
whose nr_pages is the pages sent since the previous one; END last, with
vaddr = rounds and nr_pages = all pages sent.  The last record about a page
wins: PAGES makes it valid with that data, INVALIDATE invalid.
--mem: every valid page of task VPID that holds data now (present, not the zero
page, or swapped: what CRIU dumps) must equal /proc/HOSTPID/mem; the others
are counted as "unused" (the destination restores them as zeros).
--coverage: every page of HOSTPID's private anonymous writable mappings that
holds data (present, not the zero page) must be in the stream, valid or
invalidated (a page the destination would take from nowhere is a bug).
Prints one JSON summary line; exits 1 with a message on the first violation.
"""
import ctypes
import json
import mmap
import struct
import sys

PAGE = 4096
PAGES, INVALIDATE, ROUND, END = 1, 2, 3, 4
STATS = {"unused": 0}


def fail(msg):
    sys.exit("flpc_check: " + msg)


def parse(path):
    """Returns (state {(pid, addr): (offset, None) or None}, rounds, stats)."""
    f = open(path, "rb")
    data = f.read()
    if len(data) < 8 or data[:4] != b"FLPC":
        fail("bad magic %r" % data[:4])
    if struct.unpack_from("<I", data, 4)[0] != 1:
        fail("version %d, not 1" % struct.unpack_from("<I", data, 4)[0])
    off, state, rounds, since, total = 8, {}, 0, 0, 0
    st = {"records": 0, "pages": 0, "invalidate_records": 0, "invalidated_pages": 0}
    ended = False
    while off < len(data):
        if ended:
            fail("data after END at offset %d" % off)
        if off + 24 > len(data):
            fail("truncated record header at offset %d" % off)
        typ, pid, vaddr, n = struct.unpack_from("<IIQQ", data, off)
        st["records"] += 1
        where = "record at offset %d (type %d pid %d vaddr %#x n %d)" % (off, typ, pid, vaddr, n)
        off += 24
        if typ in (PAGES, INVALIDATE):
            if not pid or vaddr % PAGE or not n or vaddr + n * PAGE > 1 << 57:
                fail("bad " + where)
            if typ == PAGES:
                if off + n * PAGE > len(data):
                    fail("truncated data of " + where)
                for i in range(n):
                    state[(pid, vaddr + i * PAGE)] = off + i * PAGE
                off += n * PAGE
                since += n
                total += n
                st["pages"] += n
            else:
                for i in range(n):
                    state[(pid, vaddr + i * PAGE)] = None
                st["invalidate_records"] += 1
                st["invalidated_pages"] += n
        elif typ == ROUND:
            if pid or vaddr != rounds or n != since:
                fail("bad %s: expected round %d with %d pages" % (where, rounds, since))
            rounds, since = rounds + 1, 0
        elif typ == END:
            if pid or vaddr != rounds or n != total:
                fail("bad %s: expected %d rounds, %d pages" % (where, rounds, total))
            ended = True
        else:
            fail("unknown " + where)
    if not ended:
        fail("no END record: the stream is incomplete")
    return data, state, rounds, st


def anon_rw(pid):
    for line in open("/proc/%d/maps" % pid):
        f = line.split()
        s, e = (int(x, 16) for x in f[0].split("-"))
        name = f[5] if len(f) > 5 else ""
        if f[1][:2] == "rw" and f[1][3] == "p" and f[4] == "0" and \
                (name in ("", "[heap]", "[stack]") or name.startswith("[anon:")):
            yield s, e


def zero_pfn():
    m = mmap.mmap(-1, PAGE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _ = m[0]  # a read fault maps the zero page
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    with open("/proc/self/pagemap", "rb") as pm:
        pm.seek(addr // PAGE * 8)
        e = struct.unpack("<Q", pm.read(8))[0]
    return e & ((1 << 55) - 1) if e >> 63 else None


def holds_data(pm, addr, zpfn):
    """True if the page at ADDR is present (not the zero page) or swapped: what CRIU
    dumps.  A page without data (never touched, MADV_DONTNEED) is restored as zeros
    whatever the stream says, so its copy there is never used."""
    pm.seek(addr // PAGE * 8)
    ent = struct.unpack("<Q", pm.read(8))[0]
    if ent >> 62 & 1:
        return True
    return bool(ent >> 63) and (ent & ((1 << 55) - 1)) != zpfn


def check_mem(data, state, hostpid, vpid, coverage, zpfn):
    """Compares valid pages of VPID with HOSTPID's memory; returns counts."""
    n_ok = n_cov = n_unused = 0
    with open("/proc/%d/mem" % hostpid, "rb") as mem, open("/proc/%d/pagemap" % hostpid, "rb") as pm:
        for (pid, addr), off in sorted(state.items()):
            if pid != vpid or off is None:
                continue
            if not holds_data(pm, addr, zpfn):
                n_unused += 1
                continue
            mem.seek(addr)
            try:
                cur = mem.read(PAGE)
            except OSError as e:
                fail("vpid %d page %#x is valid in the stream but unreadable: %s" % (vpid, addr, e))
            if cur != data[off:off + PAGE]:
                fail("vpid %d page %#x: the stream's data differs from the memory at the freeze"
                     % (vpid, addr))
            n_ok += 1
    STATS["unused"] += n_unused
    if not coverage:
        return n_ok, 0
    with open("/proc/%d/pagemap" % hostpid, "rb") as pm:
        for s, e in anon_rw(hostpid):
            pm.seek(s // PAGE * 8)
            ents = struct.unpack("<%dQ" % ((e - s) // PAGE), pm.read((e - s) // PAGE * 8))
            for i, ent in enumerate(ents):
                present, swapped = ent >> 63 & 1, ent >> 62 & 1
                if not (present or swapped) or (present and (ent & ((1 << 55) - 1)) == zpfn):
                    continue
                if (vpid, s + i * PAGE) not in state:
                    fail("vpid %d page %#x holds data but is not in the stream" % (vpid, s + i * PAGE))
                n_cov += 1
    return n_ok, n_cov


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    path, mems, coverage, want_rounds, inv = argv[1], [], False, None, None
    i = 2
    while i < len(argv):
        a = argv[i]
        if a == "--mem":
            h, v = argv[i + 1].split(":")
            mems.append((int(h), int(v)))
            i += 1
        elif a == "--coverage":
            coverage = True
        elif a == "--rounds":
            want_rounds = int(argv[i + 1])
            i += 1
        elif a in ("--expect-invalid", "--expect-no-invalid"):
            inv = a == "--expect-invalid"
        else:
            fail("unknown argument " + a)
        i += 1
    data, state, rounds, st = parse(path)
    if want_rounds is not None and rounds != want_rounds:
        fail("%d ROUND records, expected %d" % (rounds, want_rounds))
    invalid = sum(1 for v in state.values() if v is None)
    if inv is True and not invalid:
        fail("no page is invalid at the end of the stream")
    if inv is False and invalid:
        fail("%d pages are invalid at the end of the stream" % invalid)
    zpfn = zero_pfn() if coverage or mems else None
    if (coverage or mems) and zpfn is None:
        fail("cannot find the zero page's pfn (not root?)")
    st.update(rounds=rounds, valid=len(state) - invalid, invalid=invalid, compared=0, covered=0)
    for h, v in mems:
        ok, cov = check_mem(data, state, h, v, coverage, zpfn)
        if not ok:
            fail("no valid page of vpid %d in the stream" % v)
        st["compared"] += ok
        st["covered"] += cov
    st.update(STATS)
    print(json.dumps(st, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
