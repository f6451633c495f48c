# shellcheck shell=bash
# Helpers for faultline's end-to-end tests. Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh"
#   t_init                      # root/tool checks, output dir, exit trap
#   pid=$(t_start_workload "$T_OUT/wl" 64)
#   t_dump "$pid" "$T_OUT/img"
#   ...
#   t_verify "$T_OUT/wl" || t_fail "memory differs after restore"
#   t_pass
#
# Exit codes: 0 pass, 1 fail, 77 skip. Every wait has a timeout, and everything a test
# starts through these helpers (workloads, restored tasks, daemons) is killed on exit,
# and fs.pipe-max-size is put back if t_pipe_max_raise changed it.
# Environment: CRIU (default .deps/bin/criu), T_KEEP=1 keeps the output dir on success.

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=$T_ROOT
CRIU=${CRIU:-$ROOT/.deps/bin/criu}
FAULTLINE=${FAULTLINE:-$ROOT/build/faultline}
MEMFILL=${MEMFILL:-$ROOT/build/workloads/memfill}
T_NAME=${T_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
[[ $(basename "$CRIU") == criu ]] || T_NAME+=-$(basename "$CRIU")
T_OUT=${T_OUT:-$ROOT/tests/e2e/out/$T_NAME}
T_PIPE_SAVE=${TMPDIR:-/tmp}/faultline-pipe-max-size.orig
T_PIPE_SYSCTL=/proc/sys/fs/pipe-max-size

t_log() { printf '%s: %s\n' "$T_NAME" "$*" >&2; }

# t_fail MSG: print MSG with the caller's file:line and exit 1.
t_fail() {
	printf '%s: FAIL: %s:%s: %s\n' "$T_NAME" "$(basename "${BASH_SOURCE[1]:-?}")" \
		"${BASH_LINENO[0]:-?}" "$*" >&2
	exit 1
}

t_skip() { t_log "SKIP: $*"; exit 77; }
t_pass() { t_log "PASS${1:+: $*}"; exit 0; }

# t_starttime PID: the process's start time in clock ticks (stat field 22), or nothing.
t_starttime() {
	local st f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -ra f <<<"${st##*) }"
	echo "${f[19]}"
}

# t_track PID...: kill these processes when the test exits. The start time is kept
# too, so a pid that was reused meanwhile is left alone.
t_track() {
	for p in "$@"; do echo "$p $(t_starttime "$p")" >>"$T_OUT/.pids"; done
}

# t_kill_tracked: SIGKILL every tracked process that is still the one we tracked.
t_kill_tracked() {
	local pid st
	[[ -f $T_OUT/.pids ]] || return 0
	while read -r pid st; do
		[[ -n $st && $(t_starttime "$pid") == "$st" ]] && kill -KILL "$pid" 2>/dev/null
	done < <(tac "$T_OUT/.pids")
	return 0
}

# t_on_exit CMD: run CMD (a string) when the test exits, most recent first.
t_on_exit() { T_EXIT_CMDS=("$1" "${T_EXIT_CMDS[@]}"); }

t_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	t_kill_tracked
	for c in "${T_EXIT_CMDS[@]}"; do eval "$c"; done
	t_dmesg_report
	if [[ $rc -eq 0 && -z ${T_KEEP:-} ]]; then
		rm -rf "$T_OUT"
	elif [[ $rc -ne 0 ]]; then
		t_log "output kept in $T_OUT"
	fi
	exit "$rc"
}

# t_init: check that we can run, make a fresh $T_OUT, install the exit trap.
t_init() {
	[[ $(id -u) -eq 0 ]] || t_skip "needs root"
	[[ -x $MEMFILL ]] || t_fail "$MEMFILL missing: run make"
	T_EXIT_CMDS=()
	rm -rf "$T_OUT"
	mkdir -p "$T_OUT" || t_fail "cannot create $T_OUT"
	T_DMESG_START=$(dmesg 2>/dev/null | wc -l)
	trap t_cleanup EXIT
	trap 'exit 1' INT TERM
}

# t_require_criu [WRAPPER]: skip unless that CRIU runs; prints nothing.
t_require_criu() {
	local c=${1:-$CRIU}
	if [[ ! -x $c ]] || ! "$c" --version >/dev/null 2>&1; then
		t_skip "$c does not run (make deps)"
	fi
}

# t_dmesg_report: show kernel messages logged during the test that point at a crash.
t_dmesg_report() {
	[[ -n ${T_DMESG_START:-} ]] || return 0
	dmesg 2>/dev/null | tail -n +"$((T_DMESG_START + 1))" |
		grep -E 'segfault|BUG:|WARNING:|general protection|Oops' >&2 || true
}

# t_with_timeout SECS CMD...: run an external command with a time limit (SIGKILL 5 s
# after SIGTERM). Returns the command's status, or 124 on timeout with a message.
t_with_timeout() {
	local secs=$1 rc=0
	shift
	timeout --kill-after=5 "$secs" "$@" || rc=$?
	[[ $rc -eq 124 || $rc -eq 137 ]] && t_log "timed out after ${secs}s: $*"
	return "$rc"
}

# t_wait_for SECS CMD...: poll CMD every 20 ms until it succeeds; 1 on timeout.
t_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.02
	done
}

# t_start_workload DIR SIZE_MIB [memfill args]: start memfill in its own pid namespace as
# session leader (no new mount namespace), stdio to /dev/null and DIR/memfill.err, wait
# for DIR/ready and print memfill's pid in the root namespace: the pid to dump.
t_start_workload() {
	local dir=$1 mib=$2 upid pid="" limit=$((20 + $2 / 32))
	shift 2
	mkdir -p "$dir" && rm -f "$dir"/{ready,go,result} "$dir"/result.*
	unshare -p -f setsid "$MEMFILL" --size "$mib" --dir "$dir" "$@" \
		</dev/null >/dev/null 2>>"$dir/memfill.err" &
	upid=$!
	t_track "$upid"
	t_wait_for "$limit" eval "[[ -e $(printf %q "$dir")/ready ]] || ! t_alive $upid" ||
		t_fail "workload not ready after ${limit}s: $(cat "$dir/memfill.err")"
	[[ -e $dir/ready ]] || t_fail "workload exited early: $(cat "$dir/memfill.err")"
	# unshare -f forks: the workload is unshare's child (setsid execs in place).
	pid=$(pgrep -P "$upid" | head -1)
	if [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) != memfill ]]; then
		pid=$(pgrep -P "$pid" | head -1)
	fi
	[[ -n $pid ]] || t_fail "cannot find the workload under unshare $upid"
	t_track "$pid"
	echo "$pid" >"$dir/pid"
	echo "$pid"
}

# t_verify DIR [SECS]: tell the workload to check its memory and wait for its verdict.
# Returns 0 on "OK", 1 otherwise (the verdict or the timeout is printed).
t_verify() {
	local dir=$1 secs=${2:-60} res
	touch "$dir/go"
	if ! t_wait_for "$secs" test -s "$dir/result"; then
		t_log "no result in $dir after ${secs}s"
		return 1
	fi
	res=$(cat "$dir/result")
	[[ $res == OK* ]] && return 0
	t_log "workload says: $res"
	return 1
}

# t_verify_n DIR N [SECS]: like t_verify for N restored copies of one workload started
# with --result-unique, which share DIR: tell them to check their memory, wait for N
# DIR/result.* verdicts and return 0 if there are exactly N and all say "OK".
t_verify_n() {
	local dir=$1 n=$2 secs=${3:-60} f bad=0 files=()
	touch "$dir/go"
	# shellcheck disable=SC2317 # called through t_wait_for
	_t_results() {
		files=()
		for f in "$dir"/result.*; do [[ -s $f ]] && files+=("$f"); done
		((${#files[@]} >= n))
	}
	if ! t_wait_for "$secs" _t_results; then
		t_log "only ${#files[@]} of $n results in $dir after ${secs}s"
		bad=1
	fi
	sleep 0.1 # a late extra verdict would mean more copies than expected
	_t_results || true
	if ((${#files[@]} > n)); then
		t_log "${#files[@]} results in $dir, expected $n"
		bad=1
	fi
	for f in "${files[@]}"; do
		[[ $(cat "$f") == OK* ]] && continue
		t_log "workload ($(basename "$f")) says: $(cat "$f")"
		bad=1
	done
	return "$bad"
}

# t_criu_log LOG: print the tail of a CRIU log after a failure.
t_criu_log() { [[ -f $1 ]] && tail -n 15 "$1" | sed 's/^/    /' >&2; return 0; }

# t_dump PID IMGDIR [criu args]: criu dump (log IMGDIR/dump.log); 1 on failure.
t_dump() {
	local pid=$1 img=$2
	shift 2
	mkdir -p "$img"
	t_with_timeout "${T_DUMP_TIMEOUT:-120}" "$CRIU" dump -t "$pid" -D "$img" \
		-o dump.log -v4 "$@" && return 0
	t_log "criu dump failed"
	t_criu_log "$img/dump.log"
	return 1
}

# t_dump_gone PID IMGDIR: criu dump PID into IMGDIR and wait until the dumped task is gone;
# fails the test otherwise.
t_dump_gone() {
	t_dump "$1" "$2" || t_fail "dump failed"
	t_wait_exit "$1" 10 || t_fail "dumped task $1 still runs"
}

# t_restore IMGDIR [criu args]: detached criu restore (log IMGDIR/restore.log); tracks
# the restored root task (pid in IMGDIR/restored.pid). 1 on failure.
t_restore() {
	local img=$1
	shift
	t_restore_wd "$img" "$img" "$@"
}

# t_restore_wd WORKDIR IMGDIR [criu args]: the same with CRIU's work dir (-W: log,
# pidfile, stats, and for --lazy-pages the daemon's socket) in WORKDIR, so several
# restores of one image dir can run at once. Absolute paths only.
t_restore_wd() {
	local wd=$1 img=$2
	shift 2
	mkdir -p "$wd" && rm -f "$wd/restored.pid"
	if ! t_with_timeout "${T_RESTORE_TIMEOUT:-120}" "$CRIU" restore -D "$img" -W "$wd" -d \
		--pidfile restored.pid -o restore.log -v4 "$@"; then
		t_log "criu restore failed"
		t_criu_log "$wd/restore.log"
		return 1
	fi
	t_track "$(cat "$wd/restored.pid")"
}

# t_lazy_pages WORKDIR IMGDIR PORT [criu args]: start a `criu lazy-pages --page-server`
# daemon that pulls from 127.0.0.1:PORT, with work dir WORKDIR (log WORKDIR/lp.log, pid
# WORKDIR/lp.pid, socket WORKDIR/lazy-pages.socket); give t_restore_wd the same
# WORKDIR. Add --tls ... for TLS. Tracks the daemon; 1 on failure.
t_lazy_pages() {
	local wd=$1 img=$2 port=$3
	shift 3
	mkdir -p "$wd"
	t_daemon "$wd/lp.pid" "$CRIU" lazy-pages -D "$img" -W "$wd" --page-server \
		--address 127.0.0.1 --port "$port" --daemon --pidfile "$wd/lp.pid" \
		-o lp.log -v4 "$@" && return 0
	t_log "criu lazy-pages did not start"
	t_criu_log "$wd/lp.log"
	return 1
}

# t_lp_summary LOG: print lazy-pages' "copied total" from its "UFFD transferred pages:
# (copied/total)" line (summed over tasks), or nothing if the line is missing.
t_lp_summary() {
	sed -n 's/.*UFFD transferred pages: (\([0-9]*\)\/\([0-9]*\)).*/\1 \2/p' "$1" 2>/dev/null |
		awk '{c += $1; t += $2; n++} END {if (n) print c, t}'
}

# t_fl_page_server LOG IMGDIR [faultline page-server args]: run `faultline page-server
# -D IMGDIR --address 127.0.0.1 --port 0 -o LOG` as a child of this shell (not -d, so
# t_fl_ps_wait can collect its exit status), wait until it listens, and set
# T_PS_PID, T_PS_PORT and T_PS_LAZY (the lazy page count it logged at startup).
# Add --no-tls, or --pki DIR for TLS. Tracks the server; 1 on failure.
t_fl_page_server() {
	local log=$1 img=$2 line
	shift 2
	rm -f "$log"
	"$FAULTLINE" page-server -D "$img" --address 127.0.0.1 --port 0 -o "$log" "$@" \
		</dev/null >>"$log.stderr" 2>&1 &
	T_PS_PID=$!
	t_track "$T_PS_PID"
	if ! t_wait_for 20 eval "grep -q 'listening on' $(printf %q "$log") 2>/dev/null ||
		! t_alive $T_PS_PID"; then
		t_log "faultline page-server did not listen within 20 s"
		return 1
	fi
	line=$(grep -m1 'listening on' "$log" 2>/dev/null) || {
		t_log "faultline page-server exited early: $(cat "$log.stderr" "$log" 2>/dev/null)"
		return 1
	}
	T_PS_PORT=$(sed -n 's/.* port \([0-9]*\),.*/\1/p' <<<"$line")
	T_PS_LAZY=$(sed -n 's/.* \([0-9]*\) lazy pages .*/\1/p' <<<"$line")
	[[ -n $T_PS_PORT && -n $T_PS_LAZY ]] || { t_log "cannot parse: $line"; return 1; }
}

# t_fl_ps_wait SECS: wait for the server started by t_fl_page_server to exit and
# return its exit status (124 after SECS; the server is then killed).
t_fl_ps_wait() { t_wait_child "$T_PS_PID" "$1" "faultline page-server"; }

# t_wait_child PID SECS NAME: wait for a child of this shell to exit and return its exit
# status; after SECS it is killed and the status is 124.
t_wait_child() {
	local rc=0
	if ! t_wait_exit "$1" "$2"; then
		t_log "$3 still runs after $2 s"
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1" || rc=$?
	return "$rc"
}

# t_pipe_max_default: fail unless fs.pipe-max-size is at the kernel default (1 MiB),
# for tests that must show faultline does not need it raised.
t_pipe_max_default() {
	local v
	v=$(cat "$T_PIPE_SYSCTL")
	[[ $v -eq 1048576 ]] ||
		t_fail "fs.pipe-max-size is $v, not the default 1048576 (raised by an earlier run?)"
}

# t_daemon PIDFILE CMD...: run a command that daemonizes and writes its pid to PIDFILE
# (CRIU's --daemon --pidfile; give the same absolute path to both), allow it 30 s to
# get there, and track the daemon. 1 on failure.
t_daemon() {
	local pidfile=$1
	shift
	rm -f "$pidfile"
	t_with_timeout 30 "$@" || return 1
	t_wait_for 5 test -s "$pidfile" || return 1
	t_track "$(cat "$pidfile")"
}

# t_alive PID: true while PID runs. A zombie counts as gone: daemons and detached
# restored tasks are reparented to PID 1, which may reap them late.
t_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# t_wait_exit PID SECS: wait for a process that need not be our child to exit;
# 1 on timeout.
t_wait_exit() {
	t_wait_for "$2" eval "! t_alive $1"
}

# t_free_port: print a TCP port on 127.0.0.1 that is free right now.
t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# t_pipe_max_raise [BYTES]: raise fs.pipe-max-size (default 4 MiB, what CRIU's own lazy
# page servers need here) until the test exits. The original value is also kept in a
# file, so a run that was killed is mended by the next raise or restore.
t_pipe_max_raise() {
	local want=${1:-4194304}
	[[ -f $T_PIPE_SAVE ]] || cat "$T_PIPE_SYSCTL" >"$T_PIPE_SAVE"
	t_on_exit t_pipe_max_restore
	echo "$want" >"$T_PIPE_SYSCTL" || t_fail "cannot set fs.pipe-max-size"
}

# t_pipe_max_restore: put fs.pipe-max-size back to what it was before t_pipe_max_raise.
t_pipe_max_restore() {
	[[ -f $T_PIPE_SAVE ]] || return 0
	cat "$T_PIPE_SAVE" >"$T_PIPE_SYSCTL" && rm -f "$T_PIPE_SAVE"
}

# t_make_pki DIR: a throwaway CA (DIR/cacert.pem) and one key + certificate signed by it
# (DIR/key.pem, DIR/cert.pem; CN and IP SAN 127.0.0.1, DNS SAN localhost, usable for both
# server and client auth), as CRIU's --tls-cacert/--tls-cert/--tls-key want them.
t_make_pki() {
	local d=$1
	mkdir -p "$d"
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
		"keyUsage=digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" >"$d/ext.cnf"
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=faultline test CA" \
			-keyout "$d/cakey.pem" -out "$d/cacert.pem" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
				-keyout "$d/key.pem" -out "$d/req.pem" &&
			openssl x509 -req -in "$d/req.pem" -CA "$d/cacert.pem" -CAkey "$d/cakey.pem" \
				-CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/cert.pem"
	} >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}
