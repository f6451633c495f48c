#!/usr/bin/env bash
# faultline migrate --mode auto: measures the workload (probe hotness), asks faultline
# policy, runs its choice, and reports the policy's inputs and answer in the JSON.
. "$(dirname "$0")/lib_mig.sh"
t_init
mig_require
mig_run 0 --mode auto --rate 1gbit --workload "$MIG_WL"
mode=$(mig_json "r['mode']")
mig_assert "requested auto" "r['requested_mode'] == 'auto' and r['policy']['mode'] == r['mode']"
mig_assert_complete "$mode"
t_pass "the policy chose $mode: $(mig_json "r['policy'].get('reason')")"
