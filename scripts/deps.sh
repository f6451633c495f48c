#!/usr/bin/env bash
# Install what faultline needs on a Debian 12 (bookworm) amd64 machine, then the private
# CRIU prefixes (scripts/install-criu.sh). Idempotent: when everything is present it
# prints nothing and takes well under a second. Installs only the packages listed here
# (plus what apt pulls in for them); never upgrades or removes anything else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
	# build: C toolchain, BPF toolchain, libraries
	build-essential clang llvm pkg-config
	liburing-dev libbpf-dev bpftool libelf-dev zlib1g-dev
	libssl-dev openssl libprotobuf-c-dev protobuf-c-compiler
	# unit tests
	check libsubunit-dev
	# e2e tests, demo and benchmarks
	iproute2 redis-server redis-tools memcached gnuplot-nox time procps psmisc util-linux python3
	# install-criu.sh: signature check of the private apt sources
	debian-archive-keyring
)

# missing_packages: print the listed packages that are not fully installed.
missing_packages() {
	local status
	status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
	for p in "${PACKAGES[@]}"; do
		grep -qE "^$p ii " <<<"$status" || echo "$p"
	done
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages)
	[[ ${#missing[@]} -eq 0 ]] && return 0
	[[ $(id -u) -eq 0 ]] || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	echo "deps: installing ${missing[*]}"
	local log
	log=$(mktemp /tmp/faultline-deps.XXXXXX)
	if ! { apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y \
		--no-install-recommends install "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		echo "deps: apt-get failed" >&2
		exit 1
	fi
	rm -f "$log"
	mapfile -t missing < <(missing_packages)
	[[ ${#missing[@]} -eq 0 ]] || { echo "deps: still missing: ${missing[*]}" >&2; exit 1; }
}

install_packages
"$ROOT/scripts/install-criu.sh"
