#!/usr/bin/env bash
# faultline migrate --mode post-copy: the synthetic workload (24 MiB, zipf writes at 4 MB/s) moves
# from the lab's source namespace to its destination over a 1 Gbit/s link with 1 ms of
# added delay, over TLS, with a client pinging it through the migration
# (--tcp-established). Its memory is verified byte for byte afterwards, and the result
# JSON must hold every figure.
. "$(dirname "$0")/lib_mig.sh"
t_init
mig_require
mig_run 0 --mode post-copy --rate 1gbit --delay 1 --workload "$MIG_WL"
mig_assert_complete post-copy
t_pass "$(mig_json "'freeze %d ms, total %d ms, link %.1f MiB, gap %s ms' % (r['times_ms']['freeze'], r['times_ms']['total'], r['link']['bytes'] / 1048576, r['client']['max_gap_ms'])")"
