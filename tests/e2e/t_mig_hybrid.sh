#!/usr/bin/env bash
# faultline migrate --mode hybrid: the synthetic workload (24 MiB, zipf writes at 4 MB/s) moves
# from the lab's source namespace to its destination over a 1 Gbit/s link with 1 ms of
# added delay, over TLS, with a client pinging it through the migration
# (--tcp-established). Its memory is verified byte for byte afterwards, and the result
# JSON must hold every figure.
. "$(dirname "$0")/lib_mig.sh"
t_init
mig_require
mig_run 0 --mode hybrid --rate 1gbit --delay 1 --workload "$MIG_WL"
mig_assert_complete hybrid
# Pages pre-copied and still clean are not fetched again: after the freeze, less than
# the workload's memory crosses the link, and the destination took pages locally.
mig_assert "post-copy moved less than the memory" \
	"r['link']['bytes_postcopy'] < r['workload']['mem_mib'] * 1048576 / 2"
t_pass "$(mig_json "'freeze %d ms, %d remote faults, post-copy %.1f MiB' % (r['times_ms']['freeze'], r['faults']['remote'], r['link']['bytes_postcopy'] / 1048576)")"
