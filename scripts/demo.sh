#!/usr/bin/env bash
# make demo: a live post-copy migration of a sample workload on this machine, over TLS.
#
# `faultline migrate` in the netns lab (docs/migrate.md): the synthetic workload (DEMO_MIB,
# default 512 MiB, writing 16 MB/s to a zipf working set of a quarter of it) runs in the
# source namespace and answers a client that pings it every 10 ms from a third namespace.
# It is frozen by `criu dump --lazy-pages` (no memory copied), its small images cross the
# shaped link (1 Gbit/s, 1 ms each way) over TLS with client certificates, it resumes on
# the destination at once, and `faultline lazy-pages` pulls its memory from
# `faultline page-server --pid`, which reads the frozen source. The client's TCP connection
# moves with it. The report gives the freeze, the total time, the bytes on the link, the
# remote faults and their latency (BPF probe), the client's longest gap, and the
# workload's own check of every page.
#
# Environment: DEMO_MIB (512), DEMO_MODE (post-copy; any mode of faultline migrate),
# DEMO_DIR (default: a new /tmp/faultline-demo.XXXXXX; logs and result.json stay there).
# Needs root. Exit status: faultline migrate's (0 only if the memory verified).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIB=${DEMO_MIB:-512}
DIR=${DEMO_DIR:-$(mktemp -d /tmp/faultline-demo.XXXXXX)}
echo "faultline demo: live $MIB MiB ${DEMO_MODE:-post-copy} migration between two network namespaces, over TLS"
echo "  Linux $(uname -r), CRIU $("$ROOT/.deps/bin/criu" --version | sed -n 's/^Version: *//p'), work dir $DIR"
rc=0
"$ROOT/build/faultline" migrate --mode "${DEMO_MODE:-post-copy}" --lab fl-demo -W "$DIR" \
	--workload "synth:size=$MIB,wss=$((MIB / 4)),rate=16,skew=zipf" --rate 1gbit --delay 1 \
	--client line:7000 || rc=$?
"$ROOT/bench/netlab.sh" down fl-demo 2>/dev/null || true
echo "  result: $DIR/result.json"
exit $rc
