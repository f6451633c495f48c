#!/usr/bin/env bash
# Rollback: a post-copy migration over a 100 Mbit/s link loses its link 400 ms after the
# restore, while most pages are still on the source. faultline lazy-pages gives up after
# its reconnect timeout and kills the restored tasks; migrate then resumes the source.
# Exactly one copy must run afterwards (none in the destination namespace), and the
# source's memory must verify byte for byte: nothing was lost.
. "$(dirname "$0")/lib_mig.sh"
t_init
mig_require
mig_run 3 --mode post-copy --rate 100mbit --fail-link-after 400 \
	--workload synth:size=96,wss=16,rate=4,skew=zipf
mig_assert "rolled back" "r['result'] == 'rolled-back' and r['exit_status'] == 3"
mig_assert "source verified" "str(r['verify']).startswith('OK')"
mig_assert "not every page had arrived" \
	"r['link']['bytes_postcopy'] is None or r['link']['bytes_postcopy'] < 96 * 1048576"
mig_assert "exactly one copy: the source runs, nothing is left in the destination" \
	"r['rollback']['source_running'] and r['rollback']['dst_tasks_left'] == 0"
t_pass "$(mig_json "r['rollback_reason']")"
