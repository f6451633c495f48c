#!/usr/bin/env python3
"""rtime.py OUT CMD [ARG]...: run CMD as a child and write
    "wall_s user_s sys_s maxrss_kib end_ns"
for it to OUT: CPU times from wait4()'s rusage, to the microsecond (/usr/bin/time
prints 10 ms steps); end_ns = CLOCK_REALTIME when wait4() returned, in ns, comparable
with `date +%s%N`. maxrss includes this script's own RSS (fork copies it; exec keeps the
high-water mark), so take RSS from elsewhere. Exits with CMD's status (128+N if killed
by signal N). Inherited file descriptors (e.g. a --status-fd) pass through to CMD."""
import os
import sys
import time

out, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
end_ns = time.time_ns()
with open(out, "w") as f:
    f.write("%.6f %.6f %.6f %d %d\n" % (time.monotonic() - t0, ru.ru_utime, ru.ru_stime,
                                        ru.ru_maxrss, end_ns))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
