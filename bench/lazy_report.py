#!/usr/bin/env python3
"""lazy_report.py RESULTS.TSV KEY=VALUE...: the markdown report of bench/bench-lazy.sh.

RESULTS.TSV has one line per run (see bench-lazy.sh); latency runs keep the
workload's lat.txt in their run dir. KEY=VALUE pairs describe the setup (command,
date, criu, kernel, mib, touches, ...). Floors and goals are those of
docs/platform.md and the benchmark's issue."""
import csv
import statistics
import sys

# docs/platform.md, "Floors measured here" (GB = 1e9 bytes).
FLOOR_GBPS = {("tcp", 1): 1.2, ("tcp", 2): 2.6, ("tls", 1): 0.6, ("tls", 2): 0.9}
FLOOR_LAT = {("tcp", "same"): (12.4, 30.7), ("tls", "same"): (19.0, 46.1),
             ("tcp", "split"): (88.0, 180.0), ("tcp", "none"): (88.0, 180.0)}
GOAL_SPEEDUP = {"tcp": 3.0, "tls": 1.8}
GOAL_FLOOR = 0.70
GOAL_P50_X_FLOOR = 2.0
GOAL_P99_X_CRIU = 10.0
PIN_TEXT = {"split": "split (server CPU 0; daemon, restore, task CPU 1)",
            "same": "same (all on CPU {cpu})", "none": "none (unpinned)"}
NAME = {"criu": "`criu lazy-pages`", "faultline": "`faultline lazy-pages`",
        "faultline-nobg": "`faultline lazy-pages --bg-depth 0`"}


def pct(v, p):
    """Nearest-rank percentile of a sorted list."""
    if not v:
        return float("nan")
    k = max(1, int(-(-len(v) * p // 100)))
    return v[min(k, len(v)) - 1]


def runs(n, total):
    return "%d" % n if n == total else "%d of %d" % (n, total)


def med(v):
    return statistics.median(v) if v else float("nan")


def clean(rs, meta):
    """The runs during which other processes stayed under --other-max CPU; all of
    them if none did."""
    ok = [r for r in rs if int(r["other_ms"]) <= int(meta["other_max"])]
    return ok or rs


def vcpus(pin):
    return 1 if pin == "same" else 2


def read_lat(run, end_ns):
    """[(lat_us, during_background, resident)], first touch ns (realtime), last end ns."""
    out, first, last = [], None, None
    with open(run + "/lat.txt") as f:
        head = f.readline().split()
        resume = int(head[head.index("resume_realtime_ns") + 1])
        for line in f:
            lat, start, resident, _ = (int(x) for x in line.split())
            t = resume + start
            first = t if first is None else first
            last = t + lat
            out.append((lat / 1000.0, t + lat < end_ns, resident == 1))
    return out, first, last


def throughput(rows, meta, lines, goals):
    tp = [r for r in rows if r["part"] == "tp"]
    if not tp:
        return
    gb = int(meta["tp_lazy"]) * 4096 / 1e9
    lines += ["## 1. All pages in: %s MiB memfill (%s lazy pages, %.3f GB)" %
              (meta["mib"], meta["tp_lazy"], gb), "",
              "| transport | pinning | daemon | all pages in: median (min–max) | GB/s | "
              "faultline speedup vs CRIU | vs floor | restore | daemon CPU | server CPU | "
              "faultline's own \"all pages in\" | runs counted (of all, all verified) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = []
    for r in tp:
        k = (r["transport"], r["pin"])
        if k not in keys:
            keys.append(k)
    for tr, pin in keys:
        floor = FLOOR_GBPS[(tr, vcpus(pin))]
        res = {}
        for d in ("criu", "faultline"):
            rs = [r for r in tp if (r["transport"], r["pin"], r["daemon"]) == (tr, pin, d)]
            if rs:
                res[d] = (clean(rs, meta), len(rs))
        m = {d: med([int(r["done_ms"]) for r in rs]) for d, (rs, _) in res.items()}
        for d, (rs, total) in res.items():
            ms = sorted(int(r["done_ms"]) for r in rs)
            gbps = gb / (m[d] / 1000)
            sp = m["criu"] / m[d] if d == "faultline" and "criu" in m else None
            own = [float(r["fl_allin_s"]) * 1000 for r in rs if r["fl_allin_s"] != "-"]
            lines.append("| %s | %s | %s | **%.0f ms** (%d–%d) | %.2f | %s | %.0f%% of %.1f | "
                         "%.0f ms | %.0f ms | %.0f ms | %s | %s |" % (
                             tr.upper(), pin, NAME[d], m[d], ms[0], ms[-1], gbps,
                             "**%.2f×**" % sp if sp else "—", 100 * gbps / floor, floor,
                             med([int(r["restore_ms"]) for r in rs]),
                             med([float(r["lp_cpu_ms"]) for r in rs]),
                             med([float(r["ps_cpu_ms"]) for r in rs]),
                             "%.0f ms" % med(own) if own else "—", runs(len(rs), total)))
        if "criu" in m and "faultline" in m:
            sp = m["criu"] / m["faultline"]
            gbps = gb / (m["faultline"] / 1000)
            goals.append("- %s, %s pinning: faultline %.2f× faster than CRIU (goal ≥ %.1f×): "
                         "**%s**; %.2f GB/s = %.0f%% of the %d-vCPU floor %.1f GB/s (goal ≥ 70%%): "
                         "**%s**." % (tr.upper(), pin, sp, GOAL_SPEEDUP[tr],
                                      "met" if sp >= GOAL_SPEEDUP[tr] else "MISSED", gbps,
                                      100 * gbps / floor, vcpus(pin), floor,
                                      "met" if gbps >= GOAL_FLOOR * floor else "MISSED"))
    lines.append("")


def lat_stats(rows):
    """Pooled latency figures of a list of latency runs."""
    during, idle_all, resident, after, first, span = [], [], 0, 0, [], []
    for r in rows:
        touches, t_first, t_last = read_lat(r["run"], int(r["end_ns"]))
        first.append((t_first - int(r["t0_ns"])) / 1e6)
        span.append((t_last - t_first) / 1e6)
        for lat, dur, res in touches:
            if res:
                resident += 1
            elif r["daemon"] == "faultline-nobg":
                idle_all.append(lat)
            elif dur:
                during.append(lat)
            else:
                after += 1
    return sorted(during or idle_all), resident, after, med(first), med(span)


def latency(rows, meta, lines, goals):
    lt = [r for r in rows if r["part"] == "lat"]
    if not lt:
        return
    n = int(meta["touches"])
    lines += ["## 2. Fault latency: %s random first touches right after restore, %s MiB "
              "randtouch" % (meta["touches"], meta["lat_mib"]), "",
              "| transport | pinning | daemon | background fetch | faults timed (of all touches) "
              "| p50 | p99 | max | p50 / floor | p99 / floor | faultline's own p50 / p99 | "
              "first touch after restore began | touch phase | runs counted (of all) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = []
    for r in lt:
        k = (r["transport"], r["pin"])
        if k not in keys:
            keys.append(k)
    for tr, pin in keys:
        fl = FLOOR_LAT.get((tr, pin))
        p = {}
        for d in ("faultline-nobg", "faultline", "criu"):
            rs = [r for r in lt if (r["transport"], r["pin"], r["daemon"]) == (tr, pin, d)]
            if not rs:
                continue
            total, rs = len(rs), clean(rs, meta)
            v, resident, after, first, span = lat_stats(rs)
            p[d] = (pct(v, 50), pct(v, 99))
            own = [(float(r["fl_p50_us"]), float(r["fl_p99_us"])) for r in rs
                   if r["fl_p50_us"] != "-"]
            note = "none" if d == "faultline-nobg" else "running"
            extra = []
            if resident:
                extra.append("%d already prefetched" % resident)
            if after:
                extra.append("%d after background ended" % after)
            lines.append("| %s | %s | %s | %s | %d of %d%s | **%.1f µs** | **%.1f µs** | %.1f µs | "
                         "%s | %s | %s | %.1f ms | %.0f ms | %s |" % (
                             tr.upper(), pin, NAME[d], note, len(v), n * len(rs),
                             " (%s)" % ", ".join(extra) if extra else "",
                             p[d][0], p[d][1], v[-1] if v else float("nan"),
                             "%.1f× of %.1f" % (p[d][0] / fl[0], fl[0]) if fl else "—",
                             "%.1f× of %.1f" % (p[d][1] / fl[1], fl[1]) if fl else "—",
                             "%.1f / %.1f µs" % (med([o[0] for o in own]), med([o[1] for o in own]))
                             if own else "—", first, span, runs(len(rs), total)))
        if fl and "faultline-nobg" in p:
            x = p["faultline-nobg"][0] / fl[0]
            goals.append("- %s, %s pinning, nothing else running: faultline p50 %.1f µs = %.1f× "
                          "the floor %.1f µs (goal ≤ %.0f×): **%s**." % (
                              tr.upper(), pin, p["faultline-nobg"][0], x, fl[0], GOAL_P50_X_FLOOR,
                              "met" if x <= GOAL_P50_X_FLOOR else "MISSED"))
        if fl and "faultline" in p:
            x = p["faultline"][0] / fl[0]
            goals.append("- %s, %s pinning, during background fetch: faultline p50 %.1f µs = "
                         "%.1f× the floor %.1f µs (goal ≤ %.0f×): **%s**." % (
                             tr.upper(), pin, p["faultline"][0], x, fl[0], GOAL_P50_X_FLOOR,
                             "met" if x <= GOAL_P50_X_FLOOR else "MISSED"))
        if "faultline" in p and "criu" in p:
            x = p["criu"][1] / p["faultline"][1]
            goals.append("- %s, %s pinning, during background fetch: p99 faultline %.1f µs vs "
                         "CRIU %.1f µs, %.1f× lower (goal ≥ %.0f×): **%s**." % (
                             tr.upper(), pin, p["faultline"][1], p["criu"][1], x,
                             GOAL_P99_X_CRIU, "met" if x >= GOAL_P99_X_CRIU else "MISSED"))
    lines.append("")


def main():
    with open(sys.argv[1]) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    meta = dict(a.split("=", 1) for a in sys.argv[2:])
    lines = ["# Lazy-pages benchmark: `criu lazy-pages` vs `faultline lazy-pages`", "",
             "**Run.** `%s`, %s; CRIU %s; Linux %s; %s vCPUs (%s); faultline %s." % (
                 meta["command"], meta["date"], meta["criu"], meta["kernel"], meta["nproc"],
                 meta["cpu"], meta["faultline"]),
             "**Machine.** %s. After: %s. Each run first waited for < 15%% CPU busy; "
             "%s run(s) were redone because other processes used > %s ms of CPU during them "
             "(bench/othercpu.py), up to 3 attempts; a run still disturbed after that is "
             "listed but left out of the tables when its row has an undisturbed run. Other "
             "processes used at most %d ms (median %d ms) of CPU in a listed run." % (
                 meta["quiet"], meta["quiet_end"], meta["redone"], meta["other_max"],
                 max(int(r["other_ms"]) for r in rows) if rows else 0,
                 med([int(r["other_ms"]) for r in rows]) if rows else 0), ""]
    goals = []
    throughput(rows, meta, lines, goals)
    latency(rows, meta, lines, goals)
    lines += ["## Goals", ""] + goals + [""]
    pins = sorted({r["pin"] for r in rows})
    lines += ["## Setup", "",
              "- Both daemons pull from `faultline page-server` (started per run, stopped with "
              "SIGTERM after the daemon exited), over 127.0.0.1; the same images for both. "
              "fs.pipe-max-size stays at %s (only CRIU's own page server needs it raised, and it "
              "is not used here). TLS: certificates from `faultline pki init`, names verified, "
              "TLS 1.3 (CRIU: GnuTLS; faultline: OpenSSL 3.0, no kTLS on this kernel)."
              % meta["pipe_max"],
              "- Pinning (taskset): " + "; ".join(PIN_TEXT[p].format(cpu=meta["lat_cpu"])
                                                  for p in pins) +
              ". The restored task inherits the affinity of `criu restore`; every run checked "
              "the affinity of task/daemon/server with `taskset -p` (column *cpus* below).",
              "- *all pages in*: from the start of `criu restore --lazy-pages` until the "
              "lazy-pages daemon exits; both exit once every lazy page is in (CRIU: \"UFFD "
              "transferred pages: (N/N)\" checked in its -v4 log, a debug line; the latency runs "
              "keep CRIU's default log level, so no per-fault debug line adds to its latency; "
              "faultline: its summary must "
              "count every page; its own \"all pages in\" is measured from the restore's "
              "connection to the daemon's last copy). Then the restored memfill checked every "
              "byte. GB/s = lazy pages × 4096 B / that time (10^9 B). Floors (docs/platform.md): "
              "receive + UFFDIO_COPY of 256-page batches, TCP 1.2 / 2.6 GB/s, TLS 0.6 / 0.9 GB/s "
              "at 1 / 2 vCPUs. The issue's baseline: CRIU 4.2.1 restored 512 MiB from `criu "
              "page-server --lazy-pages` in 1.29 s (TCP) and 1.42 s (TLS).",
              "- *fault latency*: measured inside the restored randtouch around one volatile "
              "8-byte read of each page (CLOCK_MONOTONIC), pooled over all runs of a row; "
              "touches of pages already resident (mincore() just before) are no faults and are "
              "left out; for the rows with background fetch only touches that ended before the "
              "daemon exited count. The workload polls for DIR/go every 1 ms; DIR/go exists "
              "before the restore, so it starts touching at once after resuming. "
              "`--bg-depth 0` = faultline without background fetch (nothing else running); "
              "CRIU's daemon always starts background fetch when restore finishes, so it has "
              "only the \"running\" row. Floors (docs/platform.md, all threads on one vCPU): "
              "remote 4 KiB fault over loopback TCP p50 12.4 / p99 30.7 µs, TLS 19.0 / 46.1 µs; "
              "TCP with the server on the other vCPU or unpinned 86–90 / 170–190 µs. "
              "faultline's own p50/p99 (its summary line, all faults incl. the final full "
              "check's, from reading the fault to the end of UFFDIO_COPY) are medians over runs.",
              "- Each restored workload verified all of its memory (a run that fails it stops the benchmark).", ""]
    lines += ["<details><summary>All runs</summary>", "",
              "| part | transport | pin | daemon | run | daemon exit after restore began (ms) "
              "| restore (ms) | daemon CPU (ms) | server CPU (ms) | faultline all-in (s) | "
              "faultline p50/p99 (µs) | cpus task/daemon/server | other processes' CPU (ms) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%s |" % (
            r["part"], r["transport"], r["pin"], r["daemon"], r["rep"], r["done_ms"],
            r["restore_ms"], r["lp_cpu_ms"], r["ps_cpu_ms"], r["fl_allin_s"],
            "%s/%s" % (r["fl_p50_us"], r["fl_p99_us"]), r["cpus"], r["other_ms"],
            (" (attempt %s)" % r["attempt"] if r["attempt"] != "1" else "") +
            (" **disturbed**" if int(r["other_ms"]) > int(meta["other_max"]) else "")))
    lines += ["", "</details>"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
