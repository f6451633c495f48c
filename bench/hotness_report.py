#!/usr/bin/env python3
"""hotness_report.py RESULTS.tsv KEY=VALUE...: the markdown report of bench/bench-hotness.sh.

RESULTS.tsv has one line per run (mode "plain" = without --hotness, "hot" = with it);
the KEY=VALUE pairs describe the setup (see bench-hotness.sh)."""
import statistics as st
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
rows = [dict(zip(rows[0], r)) for r in rows[1:]]
m = dict(a.split("=", 1) for a in sys.argv[2:])
base = float(m["base"])
reps = int(m["reps"])


def vals(mode, k):
    v = [r[k] for r in rows if r["mode"] == mode]
    return [float(x) for x in v if x not in ("-", "")], len(v)


def med(mode, k, fmt="{:,.0f}"):
    v, n = vals(mode, k)
    if not v:
        return "never"
    s = "**" + fmt.format(st.median(v)) + "**"
    if len(v) > 1:
        s += " (" + fmt.format(min(v)) + "–" + fmt.format(max(v)) + ")"
    if len(v) < n:
        s += " [in %d of %d runs]" % (len(v), n)
    return s


def ratio(k):
    a, na = vals("plain", k)
    b, nb = vals("hot", k)
    if len(a) < na or len(b) < nb or not a or not b or not st.median(a):
        return "—"
    return "{:.2f}×".format(st.median(b) / st.median(a))


def line(label, k, fmt="{:,.0f}", r=True):
    return "| %s | %s | %s | %s |" % (label, med("plain", k, fmt), med("hot", k, fmt), ratio(k) if r else "")


def pct(mode, k, per):
    v, _ = vals(mode, k)
    return "{:.1f}%".format(100 * st.median(v) / (base * per)) if v else "—"


out = [
    "# Hotness-guided prefetch: `faultline lazy-pages --hotness`",
    "",
    "**Run.** `%s`, %s; CRIU %s; Linux %s; %s vCPUs; faultline %s. Load average %s at the "
    "start, %s at the end. The restored tasks ran in the %s time namespace." % (
        m["command"], m["date"], m["criu"], m["kernel"], m["nproc"], m["faultline"],
        m["load_start"], m["load_end"], m["timens"]),
    "",
    "**Setup.** `tests/workloads/zipf --size %s --s %s`: one thread writing, as fast as it can, "
    "one page per op drawn from Zipf(s = %s) over its %d pages (hot pages scattered over the "
    "mapping by a fixed permutation), in its own pid namespace. "
    "`faultline probe hotness --duration %s --map hot.map` on it (%s ranges, %s pages), then "
    "`criu dump`, `faultline page-server --pki` (TLS, loopback, %s lazy pages). Then %d × two "
    "lazy restores from the same images, alternating which goes first: `faultline lazy-pages "
    "--page-server --pki … --bg-pages %s --bg-depth %s` without and with `--hotness hot.map`. "
    "The background stream is throttled on purpose (%s pages per GET, %s GET in flight; it also "
    "holds back while a fault is in flight) so that the migration lasts seconds and the order "
    "of the pages matters. No pinning. Every run verified every byte of the restored workload "
    "0.5 s after the last page was in." % (
        m["mib"], m["s"], m["s"], int(m["mib"]) * 256, m["probe_s"], m["map_lines"],
        m["map_pages"], m["lazy"], reps, m["bg_pages"], m["bg_depth"], m["bg_pages"],
        m["bg_depth"]),
    "",
    "**Throughput.** Pre-dump: **{:,.0f} ops/s** (the last second before the dump; {:,} ops/s "
    "while the probe ran). Time 0 for the workload is when it resumed (its first tput.txt "
    "line after the restore); \"during migration\" is from then until the daemon exited with "
    "every page in.".format(base, int(m["probe_rate"])),
    "",
    "| medians (min–max) of %d runs | without `--hotness` | with `--hotness` | with / without |" % reps,
    "|---|---|---|---|",
    line("pages faulted (remote faults)", "faulted"),
    line("fault requests", "fault_reqs"),
    line("pages prefetched", "prefetched"),
    line("background GETs (server's log)", "bg_gets"),
    line("all pages in, s after restore began (daemon's summary)", "allin_s", "{:.2f}"),
    line("ops done in the first 1 s after resuming", "ops_1s"),
    "| same, %% of pre-dump | %s | %s | |" % (pct("plain", "ops_1s", 1), pct("hot", "ops_1s", 1)),
    line("ops done in the first 2 s after resuming", "ops_2s"),
    "| same, %% of pre-dump | %s | %s | |" % (pct("plain", "ops_2s", 2), pct("hot", "ops_2s", 2)),
    line("mean throughput during migration, ops/s", "ops_s"),
    "| same, %% of pre-dump | %s | %s | |" % (pct("plain", "ops_s", 1), pct("hot", "ops_s", 1)),
    line("median 50 ms throughput during migration, ops/s", "ops_s_med"),
    "| same, %% of pre-dump | %s | %s | |" % (pct("plain", "ops_s_med", 1), pct("hot", "ops_s_med", 1)),
    line("first 50 ms at ≥ 50% of pre-dump, ms after resuming", "t50_ms"),
    line("first 50 ms at ≥ 90% of pre-dump, ms after resuming", "t90_ms"),
    line("fault latency p50, µs (daemon's summary)", "p50_us", "{:.1f}"),
    line("fault latency p99, µs", "p99_us", "{:.0f}"),
    line("CPU of faultline lazy-pages, ms", "lp_cpu_ms"),
    line("CPU of faultline page-server during the run, ms", "ps_cpu_ms"),
    line("CPU of other processes during the run, ms", "other_ms", r=False),
    "",
    "Per run, in the order they ran:",
    "",
    "| run | `--hotness` | faulted | background GETs | all in (s) | ops in 1 s / 2 s | ops/s during "
    "migration | ≥ 50% / ≥ 90% after (ms) | CPU daemon / server / others (ms) |",
    "|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    out.append("| %s | %s | %s | %s | %s | %s / %s | %s | %s / %s | %s / %s / %s |" % (
        r["rep"], "with" if r["mode"] == "hot" else "without", r["faulted"], r["bg_gets"],
        r["allin_s"], r["ops_1s"], r["ops_2s"], r["ops_s"], r["t50_ms"], r["t90_ms"],
        r["lp_cpu_ms"], r["ps_cpu_ms"], r["other_ms"]))
print("\n".join(out))
