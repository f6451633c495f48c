# shellcheck shell=bash
# Helpers for the `faultline lazy-pages` end-to-end tests (t_lp_*.sh). Source after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_lp.sh"
#
# lp_start runs `faultline lazy-pages` in the foreground as a child of the test shell
# (not -d), so lp_wait can collect its exit status; its log is WORKDIR/lp.log (at -v:
# debug lines, and progress lines on its stderr, WORKDIR/lp.stderr).

MTWORK=${MTWORK:-$ROOT/build/workloads/mtwork}

# lp_require: skip unless CRIU runs and userfaultfd is there.
lp_require() {
	t_require_criu "$CRIU"
	[[ -e /dev/userfaultfd || -e /proc/sys/vm/unprivileged_userfaultfd ]] ||
		t_skip "no userfaultfd"
}

# lp_criu_version: "4.1" or "4.2" for $CRIU, as `faultline lazy-pages --criu-version`
# wants it.
lp_criu_version() {
	case $("$CRIU" --version | sed -n 's/^Version: *//p') in
	4.1.*) echo 4.1 ;;
	*) echo 4.2 ;;
	esac
}

# lp_pki DIR: `faultline pki init DIR` (ca.pem, server.pem/key, client.pem/key).
lp_pki() {
	"$FAULTLINE" pki init "$1" >"$1.log" 2>&1 ||
		{ cat "$1.log" >&2; t_fail "faultline pki init failed"; }
}

# lp_start_prog DIR COMM TIMEOUT PROG [ARGS...]: start PROG in its own pid namespace as
# session leader (no new mount namespace), stdio to /dev/null, wait up to TIMEOUT s for
# DIR/ready and print the pid (in our namespace) of the process named COMM: the pid to
# dump. Like t_start_workload, for any workload that writes DIR/ready.
lp_start_prog() {
	local dir=$1 comm=$2 limit=$3 upid pid=""
	shift 3
	mkdir -p "$dir" && rm -f "$dir"/{ready,go,result}
	unshare -p -f setsid "$@" </dev/null >/dev/null 2>&1 &
	upid=$!
	t_track "$upid"
	t_wait_for "$limit" eval "[[ -e $(printf %q "$dir")/ready ]] || ! t_alive $upid" ||
		t_fail "$comm not ready after ${limit}s"
	[[ -e $dir/ready ]] || t_fail "$comm exited early"
	pid=$(lp_child "$upid" "$comm") || t_fail "cannot find $comm under unshare $upid"
	t_track "$pid"
	echo "$pid"
}

# lp_child PID COMM: the pid of COMM at most two levels below PID (unshare -f forks).
lp_child() {
	local p c
	for p in $(pgrep -P "$1"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]] && { echo "$p"; return 0; }
		for c in $(pgrep -P "$p"); do
			[[ $(cat "/proc/$c/comm" 2>/dev/null) == "$2" ]] && { echo "$c"; return 0; }
		done
	done
	return 1
}

# lp_start WORKDIR IMGDIR [faultline lazy-pages args]: start `faultline lazy-pages -D
# IMGDIR -W WORKDIR -o WORKDIR/lp.log ARGS` as a child of this shell and wait until it
# listens on WORKDIR/lazy-pages.socket. Sets LP_PID; tracks it. Fails the test if it
# does not get there within 20 s.
lp_start() {
	local wd=$1 img=$2
	shift 2
	mkdir -p "$wd"
	rm -f "$wd/lp.log" "$wd/lazy-pages.socket"
	"$FAULTLINE" lazy-pages -D "$img" -W "$wd" -o "$wd/lp.log" "$@" \
		</dev/null >"$wd/lp.stderr" 2>&1 &
	LP_PID=$!
	t_track "$LP_PID"
	t_wait_for 20 eval "[[ -S $(printf %q "$wd")/lazy-pages.socket ]] &&
		grep -q 'waiting for criu restore' $(printf %q "$wd")/lp.log 2>/dev/null ||
		! t_alive $LP_PID" || t_fail "faultline lazy-pages did not listen within 20 s"
	t_alive "$LP_PID" ||
		{ lp_log_tail "$wd"; t_fail "faultline lazy-pages exited at startup"; }
}

# lp_wait SECS: wait for the lazy-pages started by lp_start to exit; return its exit
# status (124 after SECS: it is then killed).
lp_wait() { t_wait_child "$LP_PID" "$1" "faultline lazy-pages"; }

# lp_log_tail WORKDIR: show the end of lazy-pages' log and stderr after a failure.
lp_log_tail() {
	t_criu_log "$1/lp.log"
	[[ -s $1/lp.stderr ]] && tail -n 5 "$1/lp.stderr" | sed 's/^/    /' >&2
	return 0
}

# lp_summary LOG: "FAULTED PREFETCHED ZEROED" from the "summary:" line, or nothing.
lp_summary() {
	sed -n 's/.*summary: \([0-9]*\) pages faulted, \([0-9]*\) prefetched, \([0-9]*\) zero-filled;.*/\1 \2 \3/p' \
		"$1" 2>/dev/null | tail -1
}

# lp_dup WORKDIR: pages lazy-pages asked for a second time (a fault on a page whose
# background request was still in flight), from its summary line; fails if absent.
lp_dup() {
	local n
	n=$(sed -n 's/.*; \([0-9]*\) asked again for a fault$/\1/p' "$1/lp.log" | tail -1)
	[[ -n $n ]] || t_fail "no 'asked again' count in the lazy-pages summary"
	echo "$n"
}

# lp_total LOG: the lazy pages handed over at restore, summed over the "restored task"
# lines (forks after restore not counted).
lp_total() {
	sed -n 's/.*restored task (pid [0-9]* here): \([0-9]*\) lazy pages.*/\1/p' "$1" |
		awk '{t += $1} END {print t + 0}'
}

# lp_restored_pids LOG: the pids (here) of the restored tasks, from "restored task (pid N
# here)".
lp_restored_pids() {
	sed -n 's/.*restored task (pid \([0-9]*\) here).*/\1/p' "$1"
}

# lp_check_summary WORKDIR WANT: the summary line exists and faulted + prefetched ==
# WANT == the lazy pages handed over. Prints "faulted prefetched zeroed".
lp_check_summary() {
	local wd=$1 want=$2 s f p z total
	s=$(lp_summary "$wd/lp.log")
	[[ -n $s ]] || { lp_log_tail "$wd"; t_fail "lazy-pages logged no summary line"; }
	read -r f p z <<<"$s"
	total=$(lp_total "$wd/lp.log")
	((total == want)) || t_fail "lazy-pages was handed $total lazy pages, want $want"
	((f + p == total)) ||
		t_fail "summary: $f faulted + $p prefetched != $total lazy pages handed over"
	echo "$f $p $z"
}

# lp_progress WORKDIR: the pages in so far, from the last progress line ("N/T pages in")
# that -v prints on stderr; 0 if none yet.
lp_progress() {
	local n
	n=$(grep -o '[0-9]*/[0-9]* pages in' "$1/lp.stderr" 2>/dev/null | tail -1 | cut -d/ -f1)
	echo "${n:-0}"
}

# lp_wait_progress WORKDIR PAGES SECS: wait until the progress lines show at least PAGES
# pages in; 1 on timeout or if lazy-pages exited meanwhile.
lp_wait_progress() {
	t_wait_for "$3" eval "(( \$(lp_progress $(printf %q "$1")) >= $2 )) || ! t_alive $LP_PID" &&
		t_alive "$LP_PID"
}

# lp_page_server LOG IMGDIR PORT [faultline page-server args]: like t_fl_page_server, on
# a given port (to restart a server where its clients look for it). Sets T_PS_PID.
lp_page_server() {
	local log=$1 img=$2 port=$3
	shift 3
	"$FAULTLINE" page-server -D "$img" --address 127.0.0.1 --port "$port" -o "$log" "$@" \
		</dev/null >>"$log.stderr" 2>&1 &
	T_PS_PID=$!
	t_track "$T_PS_PID"
	if ! t_wait_for 20 eval "grep -q 'listening on' $(printf %q "$log") 2>/dev/null ||
		! t_alive $T_PS_PID" || ! t_alive "$T_PS_PID"; then
		t_criu_log "$log"
		t_criu_log "$log.stderr"
		t_fail "page-server did not listen on $port"
	fi
}
