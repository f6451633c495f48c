#!/usr/bin/env python3
"""Grid evaluation of `faultline migrate --mode auto` against the fixed modes.

    bench/policy_eval.py DIR [--by choice|run] [--check SHARE] [--tolerance 0.10]

Reads every *.json result of `faultline migrate` under DIR (recursively), groups the
runs by grid point (workload.dirty_rate, link.rate, workload.mem_mib) and, for each
point, compares auto with the best fixed mode, on freeze time and on total time
separately (the best freeze and the best total may come from different modes).
Several runs of one mode at one point are reduced to their median.  Runs whose
"result" is not "ok" are left out of the fixed modes' medians.

--by choice (the default) judges the decision: the mode auto chose at the point (the
"mode" of its runs, the most common one if they differ, ties to the safer mode; a
failed auto run still names its choice) is scored by the median of *that mode's
fixed runs*, against the best fixed mode's median.  One extra, noisy run does not
decide the verdict.  A point whose auto runs chose nothing (all failed before the
policy answered) or chose a mode whose fixed runs all failed is a miss; a chosen mode
never run as a fixed mode leaves the point incomplete.

--by run judges auto's own runs (their median); a point whose auto runs all failed
is a miss.

A point without an auto run or without any ok fixed run is listed as incomplete and
left out of the share.  Prints a markdown table (point, best freeze mode, best total
mode, auto's choice, the ratios of the choice's fixed runs and of auto's own runs to
the best, within the tolerance on both by the --by measure?) and the share of
complete points within the tolerance on both (and at how many of them any fixed mode
was: where none is, no choice can be within).  --check SHARE exits 1 if that share is
below SHARE (or no point is complete).  Exit 2 on a usage error or an
unreadable/malformed file.
"""
import argparse
import json
import os
import statistics
import sys

FIXED = ("stop-and-copy", "pre-copy", "hybrid", "post-copy")


class BadInput(Exception):
    """A result file that cannot be read or is not a migrate result."""


def load(root):
    runs = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding="utf-8") as f:
                    r = json.load(f)
                key = (str(r["workload"]["dirty_rate"]), str(r["link"]["rate"]),
                       float(r["workload"]["mem_mib"]))
                req = r.get("requested_mode", r["mode"])
                times = (float(r["times_ms"]["freeze"]), float(r["times_ms"]["total"])) \
                    if r.get("result") == "ok" else None
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise BadInput(f"{path}: not a faultline migrate result "
                               f"({type(e).__name__}: {e})") from None
            runs.append({"path": path, "key": key, "req": req, "mode": r.get("mode"),
                         "ok": r.get("result") == "ok", "times": times})
    return runs


def ratio(x, best):
    if best > 0:
        return x / best
    return 1.0 if x <= 0 else float("inf")


def median_times(rs):
    return (statistics.median(r["times"][0] for r in rs),
            statistics.median(r["times"][1] for r in rs))


def fixed_medians(point_runs):
    """{mode: (freeze, total)} over ok runs, and the modes that ran but never ok."""
    fixed, failed = {}, set()
    for m in FIXED:
        rs = [r for r in point_runs if r["req"] == m]
        ok = [r for r in rs if r["ok"]]
        if ok:
            fixed[m] = median_times(ok)
        elif rs:
            failed.add(m)
    return fixed, failed


def chosen_mode(autos):
    """The most common fixed mode named by the auto runs (ties: the safer), or None,
    and how many of the runs named it."""
    counts = {}
    for r in autos:
        if r["mode"] in FIXED:
            counts[r["mode"]] = counts.get(r["mode"], 0) + 1
    if not counts:
        return None, 0
    m = min(counts, key=lambda k: (-counts[k], FIXED.index(k)))
    return m, counts[m]


def within(rf, rt, tol):
    return rf <= 1 + tol + 1e-9 and rt <= 1 + tol + 1e-9


def judge(point_runs, tol, by="choice"):
    """One grid point -> a row dict; row["complete"] False if it cannot be judged.
    rf/rt: the chosen mode's fixed runs against the bests (None: not possible);
    run_rf/run_rt: auto's own runs (inf when they all failed)."""
    fixed, failed = fixed_medians(point_runs)
    autos = [r for r in point_runs if r["req"] == "auto"]
    row = {"complete": bool(fixed) and bool(autos)}
    if not row["complete"]:
        row["why"] = "no auto run" if fixed else "no ok fixed-mode run"
        return row
    bf = min(fixed, key=lambda m: (fixed[m][0], FIXED.index(m)))
    bt = min(fixed, key=lambda m: (fixed[m][1], FIXED.index(m)))
    best_f, best_t = fixed[bf][0], fixed[bt][1]
    row.update(best_freeze=(bf, best_f), best_total=(bt, best_t),
               attainable=any(within(ratio(f, best_f), ratio(t, best_t), tol)
                              for f, t in fixed.values()))
    ok_autos = [r for r in autos if r["ok"]]
    if ok_autos:
        af, at = median_times(ok_autos)
        row.update(run_rf=ratio(af, best_f), run_rt=ratio(at, best_t))
    else:
        row.update(run_rf=float("inf"), run_rt=float("inf"))
    mode, n = chosen_mode(autos)
    row["choice"] = "(failed)" if mode is None else mode
    if mode is not None and n < len(autos):
        row["choice"] += f" ({n} of {len(autos)} runs)"
    if mode in fixed:
        row.update(rf=ratio(fixed[mode][0], best_f), rt=ratio(fixed[mode][1], best_t))
    elif mode is None or mode in failed:
        row.update(rf=float("inf"), rt=float("inf"))
    else:
        row.update(rf=None, rt=None)
    if by == "run":
        row["within"] = within(row["run_rf"], row["run_rt"], tol)
    elif row["rf"] is None:
        row.update(complete=False, why=f"no fixed run of the chosen mode {mode}")
    else:
        row["within"] = within(row["rf"], row["rt"], tol)
    return row


def fmt_ratio(x):
    if x is None:
        return "-"
    return "inf" if x == float("inf") else f"{x:.3f}"


def report(runs, tol, out, by="choice"):
    points = {}
    for r in runs:
        points.setdefault(r["key"], []).append(r)
    out.write(f"| point (dirty rate, link, MiB) | best freeze | best total | auto's choice "
              f"| choice freeze/best | choice total/best | run freeze/best | run total/best "
              f"| within {tol:.0%} on both ({by}) |\n")
    out.write("|---|---|---|---|---|---|---|---|---|\n")
    complete = inside = attainable = 0
    for key in sorted(points, key=lambda k: (k[2], k[1], k[0])):
        row = judge(points[key], tol, by)
        name = f"{key[0]}, {key[1]}, {key[2]:g}"
        if not row["complete"]:
            out.write(f"| {name} | - | - | {row.get('choice', '-')} | - | - | - | - "
                      f"| incomplete: {row['why']} |\n")
            continue
        complete += 1
        inside += row["within"]
        attainable += row["attainable"]
        (bfm, bfv), (btm, btv) = row["best_freeze"], row["best_total"]
        out.write(f"| {name} | {bfm} {bfv:.0f} ms | {btm} {btv:.0f} ms | {row['choice']} | "
                  f"{fmt_ratio(row['rf'])} | {fmt_ratio(row['rt'])} | "
                  f"{fmt_ratio(row['run_rf'])} | {fmt_ratio(row['run_rt'])} | "
                  f"{'yes' if row['within'] else '**no**'} |\n")
    share = inside / complete if complete else 0.0
    what = ("auto's choice (the median of that mode's fixed runs)" if by == "choice"
            else "auto's own runs")
    out.write(f"\n{what} within {tol:.0%} of the best fixed mode on both freeze and total: "
              f"{inside} of {complete} points ({share:.1%})"
              f"{'; ' + str(len(points) - complete) + ' incomplete' if len(points) > complete else ''}"
              f"; some fixed mode was within {tol:.0%} on both at {attainable}\n")
    return share, complete


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="directory of faultline migrate result JSON files")
    ap.add_argument("--check", type=float, metavar="SHARE",
                    help="exit 1 if the share of points within tolerance is below SHARE")
    ap.add_argument("--by", choices=("choice", "run"), default="choice",
                    help="judge auto's choice by the median of that mode's fixed runs "
                    "(choice, default) or auto's own runs (run)")
    ap.add_argument("--tolerance", type=float, default=0.10,
                    help="allowed excess over the best fixed mode (default 0.10)")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.dir):
        print(f"policy_eval: {a.dir}: not a directory", file=sys.stderr)
        return 2
    try:
        runs = load(a.dir)
    except BadInput as e:
        print(f"policy_eval: {e}", file=sys.stderr)
        return 2
    if not runs:
        print(f"policy_eval: {a.dir}: no *.json results", file=sys.stderr)
        return 2
    share, complete = report(runs, a.tolerance, sys.stdout, a.by)
    if a.check is not None and (not complete or share < a.check):
        print(f"policy_eval: share {share:.1%} is below {a.check:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
