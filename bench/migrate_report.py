#!/usr/bin/env python3
"""The report of one `faultline migrate` run (bench/migrate.sh).

    migrate_report.py WORKDIR [--json FILE]
        Reads WORKDIR/{events,facts,pinger.json,precopy.status,policy.json,probe.jsonl,
        wl/stats,log/lazy-pages.log,log/*.json}, writes WORKDIR/result.json (and FILE)
        and prints a summary for people on stdout.
    migrate_report.py --policy-args HOTNESS_JSON --mem-mib N
        Prints the `faultline policy` arguments measured by `faultline probe hotness`.
"""
import json
import os
import re
import sys

PAGE = 4096


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def events(wd):
    ev = {}
    for line in read_lines(os.path.join(wd, "events")):
        name, _, t = line.partition(" ")
        ev.setdefault(name, int(t))
    return ev


def facts(wd):
    fa = {}
    for line in read_lines(os.path.join(wd, "facts")):
        k, _, v = line.partition("\t")
        fa[k] = v
    return fa


def span(ev, a, b):
    return ev[b] - ev[a] if a in ev and b in ev else None


def num(s, default=None):
    try:
        return int(s)
    except (TypeError, ValueError):
        try:
            return float(s)
        except (TypeError, ValueError):
            return default


def times(ev):
    # Total: from the first byte of pre-copy (or the freeze) until the destination has
    # every page (restore returned, or lazy-pages is done). Releasing the source
    # afterwards is reported apart: CRIU holds its 4-byte reply to CLOSE corked for
    # 200 ms, and the destination no longer depends on the source by then.
    start = min([ev[k] for k in ("precopy", "freeze") if k in ev], default=None)
    last = max([ev[k] for k in ("resumed", "pages_in") if k in ev], default=None)
    t = {
        "total": last - start if start is not None and last is not None else None,
        "freeze": span(ev, "freeze", "resumed"),
        "precopy": span(ev, "precopy", "precopy_rounds_done"),
        "dump": span(ev, "freeze", "dumped"),
        "final_copy": span(ev, "dumped", "precopy_final_done"),
        "images": span(ev, "images", "images_done"),
        "restore": span(ev, "restore", "resumed"),
        "postcopy": span(ev, "resumed", "pages_in"),
        "release": span(ev, "pages_in" if "pages_in" in ev else "resumed", "released_kill"),
    }
    probe = span(ev, "probe", "probe_attached")
    if probe is not None and t["freeze"] is not None:
        # The harness waited for its own fault-latency probe to attach while the
        # source was frozen; that wait is not part of the migration.
        t["freeze"] -= probe
        t["total"] -= probe
        t["probe_attach_excluded"] = probe
    if "rolled_back" in ev:
        t["source_frozen"] = span(ev, "freeze", "rolled_back")
    return t


def link(fa):
    def d(a, b):
        x, y = num(fa.get("link_bytes_" + a)), num(fa.get("link_bytes_" + b))
        return y - x if x is not None and y is not None else None

    return {
        "rate": fa.get("rate") or "unlimited",
        "delay_ms": num(fa.get("delay_ms"), 0),
        "tls": fa.get("tls") == "1",
        "bytes": d("start", "end"),
        "bytes_images": d("images_start", "images_end"),
        "bytes_precopy": d("precopy_start", "precopy_end"),
        "bytes_postcopy": d("postcopy_start", "postcopy_end"),
    }


def faults(wd):
    out = {"remote": None, "local": None, "prefetched": None, "p50_us": None, "p99_us": None}
    for line in read_lines(os.path.join(wd, "log", "lazy-pages.log")):
        m = re.search(r"summary: (\d+) pages faulted, (\d+) prefetched.*p50 ([\d.]+) us, "
                      r"p99 ([\d.]+) us", line)
        if m:
            out.update(remote=int(m[1]), prefetched=int(m[2]), p50_us=float(m[3]),
                       p99_us=float(m[4]), source="lazy-pages")
        m = re.search(r"(\d+) pages local", line)
        if m and "summary" in line:
            out["local"] = int(m[1])
        m = re.search(r"(\d+) asked again for a fault", line)
        if m and "summary" in line:
            out["dup"] = int(m[1])
    for line in read_lines(os.path.join(wd, "probe.jsonl")):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("type") == "total":
            out.update(p50_us=j.get("p50_us"), p99_us=j.get("p99_us"),
                       probe_faults=j.get("faults"), source="probe fault-latency")
    return out


def throughput(wd, ev):
    """[ms since the freeze, ops/s] from the workload's 100 ms stats lines."""
    t0 = ev.get("freeze")
    rows = []
    prev = None
    for line in read_lines(os.path.join(wd, "wl", "stats")):
        f = line.split()
        if len(f) < 2 or t0 is None:
            continue
        t, ops = int(f[0]), int(f[1])
        dt = (t - prev) if prev is not None and 0 < t - prev < 60000 else 100
        prev = t
        rows.append([t - t0, round(ops * 1000.0 / max(dt, 1), 1)])
    return rows


def rounds(wd):
    out = []
    for line in read_lines(os.path.join(wd, "precopy.status")):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if "round" in j:
            out.append(j)
    return out


def result(wd):
    ev, fa = events(wd), facts(wd)
    rc = num(fa.get("exit_status"), 1)
    r = {
        "mode": fa.get("mode"),
        "requested_mode": fa.get("requested_mode"),
        "result": {0: "ok", 3: "rolled-back"}.get(rc, "failed"),
        "exit_status": rc,
        "criu": fa.get("criu"),
        "workload": {
            "name": fa.get("wl_name", "pid"),
            "pid": num(fa.get("pid")),
            "mem_mib": num(fa.get("wl_mem_mib"), num(fa.get("mem_mib"))),
            "anon_mib": num(fa.get("mem_mib")),
            "wss_mib": num(fa.get("wl_wss_mib")),
            "dirty_rate": fa.get("wl_dirty_rate"),
            "skew": fa.get("wl_skew"),
        },
        "link": link(fa),
        "times_ms": times(ev),
        "rounds": rounds(wd),
        "faults": faults(wd),
        "client": read_json(os.path.join(wd, "pinger.json")),
        "throughput": throughput(wd, ev),
        "verify": fa.get("verify"),
        "events_ms": {k: v - min(ev.values()) for k, v in ev.items()} if ev else {},
    }
    if "rollback_reason" in fa:
        r["rollback_reason"] = fa["rollback_reason"]
        r["rollback"] = {"dst_tasks_left": num(fa.get("rollback_dst_tasks")),
                         "source_running": fa.get("rollback_src_alive") == "1"}
    pol = read_json(os.path.join(wd, "policy.json"))
    if pol is not None:
        r["policy"] = pol
    return r


def fmt_ms(v):
    return "-" if v is None else ("%.3f s" % (v / 1000.0) if v >= 1000 else "%d ms" % v)


def fmt_bytes(v):
    return "-" if v is None else "%.1f MiB" % (v / 1048576.0)


def summary(r):
    t, lk, fl, cl = r["times_ms"], r["link"], r["faults"], r["client"] or {}
    w = r["workload"]
    print("faultline migrate: %s%s -> %s" % (
        r["mode"], " (auto)" if r["requested_mode"] == "auto" else "", r["result"].upper()))
    print("  workload   %s, %s MiB, dirty %s, %s" % (w["name"], w["mem_mib"], w["dirty_rate"],
                                                   w["skew"]))
    print("  link       %s, delay %s ms, TLS %s: %s crossed (images %s, pre-copy %s, post-copy %s)"
          % (lk["rate"], lk["delay_ms"], "on" if lk["tls"] else "off", fmt_bytes(lk["bytes"]),
             fmt_bytes(lk["bytes_images"]), fmt_bytes(lk["bytes_precopy"]),
             fmt_bytes(lk["bytes_postcopy"])))
    print("  time       freeze %s, total %s (pre-copy %s, images %s, restore %s, post-copy %s)"
          % (fmt_ms(t["freeze"]), fmt_ms(t["total"]), fmt_ms(t["precopy"]), fmt_ms(t["images"]),
             fmt_ms(t["restore"]), fmt_ms(t["postcopy"])))
    if r["rounds"]:
        print("  rounds     " + ", ".join("%d: %d pages" % (x.get("round", i), x.get("pages", 0))
                                          for i, x in enumerate(r["rounds"])))
    if fl.get("remote") is not None:
        print("  faults     %s remote, %s prefetched%s; latency p50 %s us, p99 %s us (%s)" % (
            fl["remote"], fl["prefetched"],
            ", %d local" % fl["local"] if fl.get("local") is not None else "",
            fl["p50_us"], fl["p99_us"], fl.get("source")))
    if cl:
        print("  client     %s pings, longest gap %s ms, connection %s" % (
            cl.get("replies"), cl.get("max_gap_ms"), "LOST" if cl.get("conn_lost") else "kept"))
    if r.get("verify"):
        print("  verify     %s" % r["verify"])
    if r.get("rollback_reason"):
        print("  rollback   %s" % r["rollback_reason"])


def policy_args(path, mem_mib):
    s = None
    for line in read_lines(path):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("type") == "summary":
            s = j
    if s is None:
        sys.exit("no summary in " + path)
    rate = s.get("dirty_pages_per_s_mean", 0) * PAGE
    hot = s.get("wss_pages", 0) * PAGE
    print("--mem %dM --dirty-rate %dKB/s --hot-set %dK" % (mem_mib, rate / 1000, hot / 1024))


def main(argv):
    if len(argv) >= 2 and argv[1] == "--policy-args":
        policy_args(argv[2], int(argv[argv.index("--mem-mib") + 1]))
        return 0
    wd = argv[1]
    r = result(wd)
    out = [os.path.join(wd, "result.json")]
    if "--json" in argv:
        out.append(argv[argv.index("--json") + 1])
    for p in out:
        with open(p, "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
    summary(r)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
