#!/usr/bin/env bash
# faultline page-server over TLS (fresh `faultline pki init`, name verification on at both
# ends) serving a 256 MiB dump to unmodified `criu lazy-pages --page-server --tls` +
# `criu restore --lazy-pages`, fs.pipe-max-size at its default. The restored workload
# checks every byte; the server must detect the client's protocol release, end the
# session cleanly and serve every lazy page. See ps_flow.sh.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/ps_flow.sh
. "$(dirname "$0")/ps_flow.sh"

ps_flow tls
