#!/usr/bin/env python3
"""Tables and gnuplot plots for bench/bench-migrate.sh.

    migrate_plots.py collect-latency BENCH_LAZY_DIR OUT_DIR
        Pools the per-touch latencies (lat.txt) of a kept bench-lazy.sh latency run into
        OUT_DIR/<daemon>.txt (one latency in us per line).
    migrate_plots.py report RUNS_DIR OUT_DIR --size short|full [--failed TEXT]
        Reads the `faultline migrate` result JSONs in RUNS_DIR and writes
        OUT_DIR/migrate-SIZE.md and OUT_DIR/plots/migrate-*-SIZE.{png,svg}.
"""
import glob
import json
import os
import re
import subprocess
import sys

MODES = ["stop-and-copy", "pre-copy", "post-copy", "hybrid", "auto"]


def load_runs(d):
    runs = {}
    for p in sorted(glob.glob(os.path.join(d, "*.json"))):
        try:
            with open(p) as f:
                runs[os.path.basename(p)[:-5]] = json.load(f)
        except (OSError, ValueError):
            pass
    return runs


def grid_key(name):
    m = re.match(r"grid-m(\d+)-(\w+)-d(\d+)-(.+?)(?:-r\d+)?$", name)
    return (int(m[1]), m[2], int(m[3]), m[4]) if m else None


def ms(v):
    return "-" if v is None else ("%.2f s" % (v / 1000.0) if v >= 1000 else "%d ms" % v)


def mib(v):
    return "-" if v is None else "%.1f" % (v / 1048576.0)


def gnuplot(script, base):
    """Runs SCRIPT twice, for BASE.png and BASE.svg. Returns the files written."""
    out = []
    for term, ext in (("png size 900,560", "png"), ("svg size 900,560", "svg")):
        s = "set terminal %s\nset output '%s.%s'\n%s" % (term, base, ext, script)
        r = subprocess.run(["gnuplot"], input=s, text=True, capture_output=True)
        if r.returncode != 0:
            sys.stderr.write("gnuplot failed for %s.%s: %s\n" % (base, ext, r.stderr))
            continue
        out.append("%s.%s" % (base, ext))
    return out


def grid_table(runs):
    rows = ["| memory | link | dirty MB/s | mode | result | freeze | total | link MiB "
            "| remote faults | client gap ms | rounds |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(runs, key=lambda n: grid_key(n) or (0, "", 0, "")):
        k = grid_key(name)
        if not k:
            continue
        r = runs[name]
        mode = r.get("mode") or "-"
        if k[3] == "auto":
            mode = "auto -> %s" % mode
        c = r.get("client") or {}
        rows.append("| %d MiB | %s | %d | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            k[0], k[1], k[2], mode, r.get("result"), ms(r["times_ms"].get("freeze")),
            ms(r["times_ms"].get("total")), mib(r["link"].get("bytes")),
            (r.get("faults") or {}).get("remote", "-"), c.get("max_gap_ms", "-"),
            len(r.get("rounds") or [])))
    return "\n".join(rows)


def plot_freeze(runs, pdir, size):
    """Freeze time against dirty rate, one line per mode, per (memory, link)."""
    combos = sorted({(k[0], k[1]) for k in map(grid_key, runs) if k})
    files = []
    for mem, rate in combos:
        data = os.path.join(pdir, "freeze-m%d-%s-%s.dat" % (mem, rate, size))
        with open(data, "w") as f:
            for mode in MODES:
                f.write("# %s\n" % mode)
                pts = sorted((k[2], runs[n]["times_ms"].get("freeze")) for n in runs
                             for k in [grid_key(n)] if k and k[:2] == (mem, rate) and k[3] == mode)
                for x, y in pts:
                    if y is not None:
                        f.write("%d %d\n" % (x, y))
                f.write("\n\n")
        plots = ", ".join("'%s' index %d with linespoints title '%s'" % (data, i, m)
                          for i, m in enumerate(MODES))
        files += gnuplot("set title 'Freeze time vs dirty rate (%d MiB, %s, TLS)'\n"
                         "set xlabel 'dirty rate (MB/s)'\nset ylabel 'freeze (ms)'\n"
                         "set logscale y\nset key left top\nplot %s\n" % (mem, rate, plots),
                         os.path.join(pdir, "migrate-freeze-m%d-%s-%s" % (mem, rate, size)))
    return files


def plot_gap(runs, pdir, size):
    data = os.path.join(pdir, "gap-%s.dat" % size)
    with open(data, "w") as f:
        for i, mode in enumerate(MODES):
            gaps = [(runs[n].get("client") or {}).get("max_gap_ms") for n in runs
                    for k in [grid_key(n)] if k and k[3] == mode]
            gaps = [g for g in gaps if g is not None]
            if gaps:
                gaps.sort()
                f.write("%d %s %g %g %g\n" % (i, mode, gaps[len(gaps) // 2], gaps[0], gaps[-1]))
    return gnuplot("set title 'Longest gap seen by a client pinging every 10 ms (all grid points)'\n"
                   "set ylabel 'gap (ms)'\nset style fill solid 0.5\nset boxwidth 0.6\n"
                   "set xrange [-0.6:4.6]\nset logscale y\n"
                   "plot '%s' using 1:3:xtic(2) with boxes title 'median', "
                   "'' using 1:3:4:5 with yerrorbars title 'min..max'\n" % data,
                   os.path.join(pdir, "migrate-gap-%s" % size))


def hot_rows(runs):
    rows = []
    for n in sorted(runs):
        m = re.match(r"hot-m(\d+)-w(\d+)-(on|off)$", n)
        if m:
            r = runs[n]
            rows.append((int(m[2]), m[3], (r.get("faults") or {}).get("remote"),
                         r["times_ms"].get("postcopy"), r.get("result")))
    return sorted(rows)


def plot_hot(runs, pdir, size):
    rows = hot_rows(runs)
    data = os.path.join(pdir, "hotness-%s.dat" % size)
    with open(data, "w") as f:
        for h in ("off", "on"):
            f.write("# hotness %s\n" % h)
            for w, hh, faults, _, _ in rows:
                if hh == h and faults is not None:
                    f.write("%d %d\n" % (w, faults))
            f.write("\n\n")
    return gnuplot("set title 'Remote faults vs working-set size (post-copy, zipf)'\n"
                   "set xlabel 'working set (MiB)'\nset ylabel 'remote faults'\nset logscale x 2\n"
                   "plot '%s' index 0 with linespoints title 'no prefetch map', "
                   "'' index 1 with linespoints title 'hotness prefetch'\n" % data,
                   os.path.join(pdir, "migrate-hotness-%s" % size))


def plot_cdf(latdir, pdir, size):
    series = []
    for p in sorted(glob.glob(os.path.join(latdir, "*.txt"))):
        v = sorted(float(x) for x in open(p).read().split())
        if not v:
            continue
        data = os.path.join(pdir, "cdf-%s-%s.dat" % (os.path.basename(p)[:-4], size))
        with open(data, "w") as f:
            for i, x in enumerate(v):
                f.write("%g %g\n" % (x, (i + 1) / len(v)))
        series.append((os.path.basename(p)[:-4], data, v))
    if not series:
        return [], []
    plots = ", ".join("'%s' with lines title '%s'" % (d, n) for n, d, _ in series)
    files = gnuplot("set title 'First-touch fault latency after restore (CDF)'\n"
                    "set xlabel 'latency (us)'\nset ylabel 'fraction of faults'\n"
                    "set logscale x\nset key right bottom\nplot %s\n" % plots,
                    os.path.join(pdir, "migrate-latency-cdf-%s" % size))
    stats = [(n, len(v), v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]) for n, _, v in series]
    return files, stats


def collect_latency(src, dst):
    """bench-lazy.sh keeps one run dir per daemon and transport, lat-TRANSPORT-PIN-DAEMON-REP,
    with randtouch's lat.txt: "<latency ns> <start ns> <resident before> <page>" per touch.
    Pools the first touches of pages that were not resident (remote faults), in us."""
    pooled = {}
    for p in glob.glob(os.path.join(src, "**", "lat.txt"), recursive=True):
        m = re.match(r"lat-(tcp|tls)-\w+-(faultline|criu)-\d+$", os.path.basename(os.path.dirname(p)))
        if not m:
            continue  # faultline-nobg (no background fetch) and the workload's own dir
        vals = []
        for line in open(p):
            f = line.split()
            if len(f) >= 3 and not line.startswith("#") and f[2] == "0":
                vals.append("%.1f" % (int(f[0]) / 1000.0))
        pooled.setdefault("%s-%s" % (m[2], m[1]), []).extend(vals)
    for d, v in pooled.items():
        with open(os.path.join(dst, d + ".txt"), "w") as f:
            f.write("\n".join(v) + "\n")
    return 0 if pooled else 1


def report(rdir, out, size, failed):
    runs = load_runs(os.path.join(rdir, "grid"))
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    hot = load_runs(os.path.join(rdir, "hotness"))
    files = plot_freeze(runs, pdir, size) + plot_gap(runs, pdir, size) + plot_hot(hot, pdir, size)
    cdf_files, cdf_stats = plot_cdf(os.path.join(rdir, "latency"), pdir, size)
    files += cdf_files
    ev = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "policy_eval.py"),
                         os.path.join(rdir, "grid")], capture_output=True, text=True)
    md = ["# Migration studies (`make bench%s`)" % ("" if size == "short" else "-full"), "",
          "Generated by `bench/bench-migrate.sh --%s` on %s. Runs: `%s`." % (
              size, subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True,
                                   text=True).stdout.strip(), os.path.relpath(rdir, out)),
          "Every run is one `faultline migrate` in the netns lab (TLS, a client pinging every "
          "10 ms through the migration, memory verified afterwards). Absolute times on this "
          "2-vCPU VM are noisy; compare modes within a grid point.", ""]
    if failed:
        md += ["**Failed runs:** " + failed, ""]
    md += ["## Grid", "", grid_table(runs), "",
           "## The policy against the best fixed mode", "", "`bench/policy_eval.py %s`:" %
           os.path.relpath(os.path.join(rdir, "grid"), out), "", ev.stdout.strip() or ("(policy_eval failed: %s)" %
                                                              ev.stderr.strip()), ""]
    rows = hot_rows(hot)
    if rows:
        md += ["## Remote faults vs working set, with and without hotness prefetch", "",
               "| working set MiB | hotness map | remote faults | all pages in after restore |",
               "|---|---|---|---|"]
        md += ["| %d | %s | %s | %s |" % (w, h, f, ms(t)) for w, h, f, t, _ in rows] + [""]
    pre = load_runs(os.path.join(rdir, "preempt"))
    if pre:
        md += ["## Fault latency during the background fetch: asking again on the fault link", "",
               "| run | preempt | remote faults | asked again | p50 us | p99 us | all in after restore |",
               "|---|---|---|---|---|---|---|"]
        for n in sorted(pre):
            r = pre[n]
            f = r.get("faults") or {}
            md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                n, "off" if "-off-" in n else "on", f.get("remote"), f.get("dup"),
                f.get("p50_us"), f.get("p99_us"), ms(r["times_ms"].get("postcopy"))))
        md.append("")
    if cdf_stats:
        md += ["## Fault latency after restore", "", "| daemon | faults | p50 us | p99 us |",
               "|---|---|---|---|"]
        md += ["| %s | %d | %.1f | %.1f |" % s for s in cdf_stats] + [""]
    md += ["## Plots", ""] + ["![%s](plots/%s)" % (os.path.basename(f), os.path.basename(f))
                              for f in files if f.endswith(".svg")] + [""]
    with open(os.path.join(out, "migrate-%s.md" % size), "w") as f:
        f.write("\n".join(md))
    return 0 if files else 1


def main(a):
    if len(a) >= 4 and a[1] == "collect-latency":
        return collect_latency(a[2], a[3])
    if len(a) >= 4 and a[1] == "report":
        size = a[a.index("--size") + 1] if "--size" in a else "short"
        failed = a[a.index("--failed") + 1] if "--failed" in a else ""
        return report(a[2], a[3], size, failed)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
