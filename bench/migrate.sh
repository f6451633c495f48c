#!/usr/bin/env bash
# faultline migrate: migrate a running process tree from the lab's source namespace to its
# destination namespace, in one of four modes, and report what it cost. `faultline migrate`
# runs this script; `faultline migrate --help` prints the manual below.
#
#NAME
#    faultline migrate - live-migrate a process tree between two hosts (the netns lab)
#
#SYNOPSIS
#    faultline migrate (--pid PID | --workload SPEC)
#                      [--mode stop-and-copy|pre-copy|post-copy|hybrid|auto]
#                      [--lab NAME] [--rate RATE] [--delay MS] [--tcp-established]
#                      [--client line|redis|memcached:PORT] [--json FILE] [-W DIR]
#                      [--rounds N] [--stop-dirty PAGES] [--freeze-budget MS]
#                      [--no-tls] [--verify] [--fail-link-after MS] [--hotness]
#                      [--no-probe] [--no-preempt] [--keep] [-v]
#
#DESCRIPTION
#    The source and the destination are two network namespaces on this machine,
#    NAME-src (10.213.0.1) and NAME-dst (10.213.0.2), joined by a veth pair that
#    can be shaped (--rate, tc tbf) and delayed (--delay, a relay: netem is not
#    built here); see docs/netlab.md. Everything a real migration sends between
#    hosts crosses that link and is counted: the CRIU images directory (tar over
#    `faultline pipe`), pre-copy rounds, and the lazily fetched pages. TLS with
#    client certificates protects every connection (a throwaway PKI is made in
#    the work dir), unless --no-tls.
#
#    Modes:
#      stop-and-copy  freeze and `criu dump` everything, copy the images, restore.
#      pre-copy       `faultline precopy send` copies all memory while the process
#                     runs, then rounds of the pages written since (exact dirty
#                     tracking with async userfaultfd write-protect); then freeze
#                     (`criu dump --lazy-pages`, which copies no memory), send the
#                     pages written since the last round, and restore.
#      post-copy      freeze (`criu dump --lazy-pages`), copy the small images,
#                     restore at once; `faultline lazy-pages` pulls the memory from
#                     `faultline page-server --pid`, which reads the frozen tasks.
#      hybrid         pre-copy rounds, then post-copy of only the pages written
#                     after the last round: the clean pre-copied pages are taken
#                     locally on the destination and never cross the link again.
#      auto           measure the dirty rate and hot set (`faultline probe
#                     hotness`), ask `faultline policy`, and run its choice.
#
#    The freeze lasts from the moment CRIU starts to freeze the source until the
#    restored process runs on the destination. In post-copy and hybrid the source
#    stays frozen (CRIU holds it) until every page is on the destination, and is
#    then killed. Rollback: if the transfer fails before that, the destination's
#    tasks are killed first, then the source is resumed where it was frozen, so
#    exactly one copy runs and nothing is lost (exit status 3).
#
#    --workload starts a workload in NAME-src in its own pid namespace:
#      synth:size=MIB,wss=MIB,rate=MB/s,skew=uniform|zipf   synthetic writer with a
#             ping port (tests/workloads/synth.c); verified byte for byte after.
#      redis:mib=MIB         redis-server filled with MIB of keys, load from loadgen.
#      memcached:mib=MIB     memcached filled with MIB of keys, load from loadgen.
#    With --pid, PID is an existing process tree (for example started with
#    `ip netns exec NAME-src unshare -p -f setsid PROG`); for --tcp-established it
#    must live in NAME-src and serve on the lab's service address 10.213.1.1.
#
#OPTIONS
#    --pid PID             the root of the tree to migrate (host pid)
#    --workload SPEC       start one of the workloads above and migrate it
#    --mode MODE           default post-copy
#    --lab NAME            lab name (default fl-mig); created if missing, with a
#                          client namespace NAME-cli (netlab up --client)
#    --rate RATE           link rate each way (tc units: 100mbit, 1gbit); default none
#    --delay MS            one-way delay added on every connection across the link
#    --tcp-established     migrate established TCP connections (CRIU's option); the
#                          service address 10.213.1.1 moves to the destination
#    --client PROTO:PORT   ping the workload every 10 ms from NAME-cli over one TCP
#                          connection that lives through the migration (implies
#                          --tcp-established); the longest gap is reported
#    --rounds N            most pre-copy rounds after the first full copy (default 5)
#    --stop-dirty PAGES    stop rounds when a round finds at most PAGES (default 256)
#    --freeze-budget MS    for --mode auto (default 500)
#    -W, --work-dir DIR    logs, images and results (default /tmp/faultline-migrate.*)
#    --json FILE           write the result JSON here (also WORKDIR/result.json)
#    --verify              check the workload's memory after the migration (synth
#                          and memcached/redis workloads; default on for --workload)
#    --link-timeout S      post-copy: roll back when no page has arrived for S seconds
#                          (default 10); lazy-pages keeps reconnecting until then
#    --fail-link-after MS  test rollback: take the link down MS ms after restore
#    --hotness             post-copy and hybrid: track the write hot set for 2 s before
#                          the freeze (`faultline probe hotness --map`), send the map
#                          with the images, and prefetch it first (lazy-pages --hotness)
#    --no-tls              plain TCP everywhere
#    --criu PATH           criu binary (default .deps/bin/criu, CRIU 4.2)
#    --no-preempt          lazy-pages --no-preempt: a fault on a page in flight in the
#                          background waits for it (for comparisons)
#    --no-probe            do not run `faultline probe fault-latency` on the destination
#                          (fault latency then comes from lazy-pages' own histogram)
#    --keep                keep the page images and stores (removed on success)
#    -v                    show every step's command
#    -h, --help            this text
#
#OUTPUT
#    A summary for people on stdout, and JSON (--json, WORKDIR/result.json) with
#    mode, result, times_ms {total, freeze, precopy, images, restore, postcopy},
#    link {rate, delay_ms, bytes, bytes_images, bytes_precopy, bytes_postcopy},
#    rounds [...], faults {remote, local, p50_us, p99_us}, client {max_gap_ms,
#    ...}, throughput [[ms since freeze, ops/s]...], policy {...} (auto).
#
#EXIT STATUS
#    0 migrated (and verified, if asked); 3 the migration failed and was rolled
#    back: the source runs again; 1 failure; 2 usage error.
#
#EXAMPLES
#    faultline migrate --workload synth:size=256,wss=64,rate=20,skew=zipf \
#        --mode hybrid --rate 1gbit --delay 1 --client line:7000 --json r.json
#    faultline migrate --workload redis:mib=200 --mode auto --client redis:6379
#    ip netns exec fl-mig-src unshare -p -f setsid myserver &
#    faultline migrate --pid $(pgrep -n myserver) --mode post-copy --lab fl-mig

set -uo pipefail
MIG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/migrate_lib.sh
. "$MIG_ROOT/bench/migrate_lib.sh"
# shellcheck source=bench/migrate_modes.sh
. "$MIG_ROOT/bench/migrate_modes.sh"

mig_usage() { sed -n '/^#NAME/,/^$/{s/^#//;p}' "${BASH_SOURCE[0]}"; }

mig_parse() {
	while (($#)); do
		case $1 in
		-h | --help) mig_usage; exit 0 ;;
		--tcp-established) M_TCP=1; shift; continue ;;
		--no-tls) M_TLS=0; shift; continue ;;
		--verify) M_VERIFY=1; shift; continue ;;
		--keep) M_KEEP=1; shift; continue ;;
		--hotness) M_HOT=1; shift; continue ;;
		--no-probe) M_PROBE=0; shift; continue ;;
		--no-preempt) M_LP_EXTRA+=(--no-preempt); shift; continue ;;
		-v) M_VERBOSE=1; shift; continue ;;
		esac
		(($# >= 2)) || mig_usage_err "$1 needs a value (or is unknown)"
		case $1 in
		--pid) M_PID=$2 ;;
		--workload) M_WORKLOAD=$2 ;;
		--mode) M_MODE=$2 ;;
		--lab) M_LAB=$2 ;;
		--rate) M_RATE=$2 ;;
		--delay) M_DELAY=$2 ;;
		--client) M_CLIENT=$2; M_TCP=1 ;;
		--rounds) M_ROUNDS=$2 ;;
		--stop-dirty) M_STOP_DIRTY=$2 ;;
		--freeze-budget) M_BUDGET=$2 ;;
		-W | --work-dir) M_W=$2 ;;
		--json) M_JSON=$2 ;;
		--fail-link-after) M_FAIL_LINK=$2 ;;
		--link-timeout) M_LINK_TIMEOUT=$2 ;;
		--criu) CRIU=$2 ;;
		*) mig_usage_err "unknown option '$1'" ;;
		esac
		shift 2
	done
	[[ -n $M_PID || -n $M_WORKLOAD ]] || mig_usage_err "give --pid PID or --workload SPEC"
	[[ -z $M_PID || -z $M_WORKLOAD ]] || mig_usage_err "--pid and --workload exclude each other"
	case $M_MODE in
	stop-and-copy | pre-copy | post-copy | hybrid | auto) ;;
	*) mig_usage_err "unknown --mode '$M_MODE' (stop-and-copy, pre-copy, post-copy, hybrid, auto)" ;;
	esac
	[[ $M_DELAY =~ ^[0-9]+(\.[0-9]+)?$ ]] || mig_usage_err "--delay wants milliseconds, not '$M_DELAY'"
	[[ $M_ROUNDS =~ ^[0-9]+$ && $M_STOP_DIRTY =~ ^[0-9]+$ && $M_BUDGET =~ ^[0-9]+$ ]] ||
		mig_usage_err "--rounds, --stop-dirty and --freeze-budget want whole numbers"
	[[ -z $M_PID || $M_PID =~ ^[0-9]+$ ]] || mig_usage_err "--pid wants a number, not '$M_PID'"
	[[ -z $M_FAIL_LINK || $M_FAIL_LINK =~ ^[0-9]+$ ]] || mig_usage_err "--fail-link-after wants ms"
	[[ $M_LINK_TIMEOUT =~ ^[1-9][0-9]*$ ]] || mig_usage_err "--link-timeout wants seconds"
	[[ -z $M_CLIENT || $M_CLIENT =~ ^(line|redis|memcached):[0-9]+$ ]] ||
		mig_usage_err "--client wants PROTO:PORT (line, redis or memcached), not '$M_CLIENT'"
}

mig_main() {
	local rc
	mig_defaults
	mig_parse "$@"
	mig_preflight
	mig_setup
	[[ -n $M_WORKLOAD ]] && mig_start_workload
	mig_check_pid
	mig_client_start
	M_REQ_MODE=$M_MODE
	[[ $M_MODE == auto ]] && mig_auto
	mig_run_mode
	rc=$?
	mig_finish "$rc"
}

mig_main "$@"
