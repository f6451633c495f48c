#!/usr/bin/env bash
# Run the end-to-end tests: every tests/e2e/t_*.sh, or the ones named, each under a time
# limit (E2E_TIMEOUT seconds, default 600). A test whose header has a line
#   # e2e-criu: 4.2 4.1
# runs once per listed CRIU release (default: 4.2 only), with CRIU set to that wrapper.
# Exit status of a test: 0 pass, 77 skip, anything else fail. Ends with the line
#   e2e: N passed, N failed, N skipped
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
limit=${E2E_TIMEOUT:-600}
passed=0 failed=0 skipped=0 failures=()

criu_for() {
	case $1 in
	4.2) echo "$ROOT/.deps/bin/criu" ;;
	4.1) echo "$ROOT/.deps/bin/criu-4.1" ;;
	*) echo "$ROOT/.deps/bin/criu-$1" ;;
	esac
}

run_one() {
	local t=$1 rel=$2 name rc=0 t0=$SECONDS
	name="$(basename "$t" .sh) (criu $rel)"
	CRIU=$(criu_for "$rel") timeout --kill-after=15 "$limit" bash "$t" </dev/null || rc=$?
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*)
		failed=$((failed + 1))
		[[ $rc -eq 124 || $rc -eq 137 ]] && echo "e2e: $name timed out after ${limit}s" >&2
		failures+=("$name")
		;;
	esac
	printf 'e2e: %-44s %s (%d s)\n' "$name" \
		"$(case $rc in 0) echo ok ;; 77) echo skip ;; *) echo "FAIL ($rc)" ;; esac)" $((SECONDS - t0))
}

main() {
	local tests=("$@") rels
	[[ ${#tests[@]} -gt 0 ]] || tests=("$HERE"/t_*.sh)
	for t in "${tests[@]}"; do
		[[ -f $t ]] || t=$HERE/$t
		rels=$(sed -n 's/^# e2e-criu: *//p' "$t" | head -1)
		for rel in ${rels:-4.2}; do run_one "$t" "$rel"; done
	done
	# A test killed by SIGKILL cannot put fs.pipe-max-size back itself.
	t_pipe_max_restore
	[[ ${#failures[@]} -eq 0 ]] || printf 'e2e: failed: %s\n' "${failures[@]}" >&2
	echo "e2e: $passed passed, $failed failed, $skipped skipped"
	[[ $failed -eq 0 ]]
}

main "$@"
