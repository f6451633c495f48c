#!/usr/bin/env bash
# Baseline: plain criu dump + criu restore of a 64 MiB two-thread workload, which then
# verifies every byte. Checks the harness and the private CRIU install themselves.
# CRIU=.deps/bin/criu-4.1 runs it against CRIU 4.1.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

t_init
t_require_criu "$CRIU"

wl=$T_OUT/wl
img=$T_OUT/img
pid=$(t_start_workload "$wl" 64 --threads 2) || t_fail "workload did not start"
tasks=("/proc/$pid/task"/*)
[[ ${#tasks[@]} -eq 3 ]] || t_fail "workload should have 3 threads"
t_dump_gone "$pid" "$img"

t0=$(date +%s%N)
t_restore "$img" || t_fail "restore failed"
t1=$(date +%s%N)
t_verify "$wl" 60 || t_fail "memory verification failed"
t_pass "$($CRIU --version | sed -n 's/Version: //p'): restore $(((t1 - t0) / 1000000)) ms"
