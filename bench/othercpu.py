#!/usr/bin/env python3
"""othercpu.py snap FILE ROOT | othercpu.py diff FILE ROOT [PID...]: CPU time used by
processes that are not the benchmark's own, between two moments.

snap writes, for every user-space process that is neither ROOT nor below it, its
start time and CPU time (clock ticks) to FILE. diff prints the CPU milliseconds such
processes used since the snap: for the ones seen in both samples, the growth of
their own utime + stime; for the ones started since, utime + stime + cutime + cstime
(their reaped children started after them). ROOT's tree and the extra PIDs (and
their descendants; e.g. a restored task, which is not below ROOT) are left out, and
so are kernel threads (softirq, kworkers: they also serve the benchmark's own
traffic). Not counted: a child that both started and ended between the two
samples under a parent that already ran at the snap (counting the parent's cutime
growth instead would charge a long-lived child's whole life to the window in which
it happened to be reaped). An estimate, good enough to spot a busy machine; diff
also writes the top 5 to FILE.top."""
import os
import sys

HZ = os.sysconf("SC_CLK_TCK")


def procs():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        # f[0] = state (field 3); ppid = field 4; utime..cstime = 14..17; start = 22
        ppid, flags = int(f[1]), int(f[6])
        if flags & 0x200000:  # PF_KTHREAD
            continue
        own_t, all_t = sum(int(x) for x in f[11:13]), sum(int(x) for x in f[11:15])
        # pid 1 reaps every orphan, ours too (a restored task): its own time only.
        out[int(d)] = (ppid, int(f[19]), own_t, own_t if d == "1" else all_t)
    return out


def mine(ps, roots):
    own, grew = set(roots), True
    while grew:
        grew = False
        for pid, (ppid, _, _, _) in ps.items():
            if ppid in own and pid not in own:
                own.add(pid)
                grew = True
    return own


def main():
    mode, path, roots = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:] if x.isdigit()]
    ps = procs()
    own = mine(ps, roots)
    if mode == "snap":
        with open(path, "w") as f:
            for pid, (_, start, cpu, _) in ps.items():
                if pid not in own:
                    f.write("%d %d %d\n" % (pid, start, cpu))
        return
    before = {}
    with open(path) as f:
        for line in f:
            pid, start, cpu = (int(x) for x in line.split())
            before[pid] = (start, cpu)
    ticks, top = 0, []
    for pid, (_, start, cpu, cpu_all) in ps.items():
        if pid in own:
            continue
        b = before.get(pid)
        d = cpu - b[1] if b and b[0] == start else cpu_all
        ticks += d
        if d:
            top.append((d, pid))
    print(ticks * 1000 // HZ)
    with open(path + ".top", "w") as f:  # who it was, for the curious
        for d, pid in sorted(top, reverse=True)[:5]:
            try:
                with open("/proc/%d/cmdline" % pid) as c:
                    cmd = c.read().replace("\0", " ")[:120]
            except OSError:
                cmd = "?"
            f.write("%d ms %d %s\n" % (d * 1000 // HZ, pid, cmd))


if __name__ == "__main__":
    main()
