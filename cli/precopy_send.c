/* SPDX-License-Identifier: MIT */
/* `faultline precopy send`: flags, the round loop, the wait for the freeze,
 * status lines.  The tracking itself is bpf/precopy_send.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bpf/precopy_send.h"
#include "cli/cli.h"
#include "common/log.h"

static const char usage[] =
"NAME\n"
"    faultline precopy send - stream pre-copy rounds of a running process tree\n"
"\n"
"SYNOPSIS\n"
"    faultline precopy send --pid PID [--max-rounds N] [--stop-dirty PAGES]\n"
"                           [--min-shrink F] [--interval MS]\n"
"                           [--final data|invalidate] [--status-fd FD]\n"
"                           [--control-fd FD] [--buffer MIB] [--wp-max-vma MIB]\n"
"                           [-v] > STREAM\n"
"\n"
"DESCRIPTION\n"
"    The source half of pre-copy and hybrid migration.  Tracks which pages of\n"
"    process PID and all its descendants are written, without their help\n"
"    (the dirty tracking of `faultline probe hotness`: a userfaultfd made in\n"
"    each process by ptrace syscall injection and held only by this command,\n"
"    asynchronous write-protection of the private anonymous writable mappings,\n"
"    PAGEMAP_SCAN rounds), and writes their memory to stdout as an FLPC v1\n"
"    stream for `faultline precopy recv` (normally through `faultline pipe`).\n"
"\n"
"    Round 0 sends every present page of the tracked mappings; round k the\n"
"    pages written since round k-1, and whole mappings that appeared since (or\n"
"    were replaced: munmap + mmap, mremap).  Page data is read with\n"
"    process_vm_readv(2) in large batches.  Each round ends with a ROUND record\n"
"    and a status line.  The rounds stop at the first of: --max-rounds; a round\n"
"    that finds at most --stop-dirty written pages; a dirty set that shrank by\n"
"    less than a factor --min-shrink since the round before (no convergence).\n"
"    Then a \"rounds-done\" status line, and the tracking stays armed.\n"
"\n"
"    The caller now freezes the tasks (`criu dump --lazy-pages`) and sends\n"
"    SIGUSR1 (or closes the --control-fd pipe).  The final pass scans the\n"
"    frozen tasks once more: every page written since its last copy, and every\n"
"    page of a mapping not tracked continuously, is sent again (--final data,\n"
"    pre-copy) or named in INVALIDATE records (--final invalidate, hybrid:\n"
"    post-copy fetches them).  Pages whose mapping went away or stopped being\n"
"    tracked are always invalidated.  Then END, unregister, close the\n"
"    userfaultfds, exit 0.  The tasks must still exist for the final pass:\n"
"    send SIGUSR1 once the dump's images are written, before CRIU ends them.\n"
"    SIGUSR1 during the rounds ends them early (the tasks are taken as\n"
"    frozen).  SIGINT or SIGTERM abandon the stream (no END), detach, exit 1.\n"
"\n"
"OPTIONS\n"
"    -p, --pid PID          root of the process tree (host pid; required)\n"
"    -n, --max-rounds N     pre-copy rounds at most, round 0 included (default 8)\n"
"    --stop-dirty PAGES     stop once a round finds at most this many written\n"
"                           pages (default 256; round 0 does not count)\n"
"    --min-shrink F         stop when a round's dirty pages times F exceed the\n"
"                           round before's (default 1.25; 0: never; from round 2)\n"
"    -i, --interval MS      least time between two rounds' scans (default 0:\n"
"                           back to back)\n"
"    --final MODE           data (default): send stale pages again after the\n"
"                           freeze; invalidate: name them in INVALIDATE records\n"
"    --status-fd FD         JSON lines to FD: per round {\"round\":k,\"pages\":n,\n"
"                           \"dirty_pages\":d,\"seconds\":s,\"bytes\":b,\n"
"                           \"dirty_rate\":pages/s}, then {\"event\":\"rounds-done\",\n"
"                           \"reason\":...}, {\"event\":\"end\",...} or\n"
"                           {\"event\":\"error\",...}\n"
"    --control-fd FD        EOF on FD starts the final pass, like SIGUSR1\n"
"    --buffer MIB           output buffer (default 4)\n"
"    --wp-max-vma MIB       mappings up to this size are write-protected whole,\n"
"                           larger ones only where populated (default 0: all\n"
"                           only where populated).  Protecting a whole mapping\n"
"                           leaves uffd-wp markers on its unpopulated pages, and\n"
"                           CRIU counts those as swapped pages that it dumps.\n"
"                           A page populated later has no protection, so the\n"
"                           next round finds it written either way.\n"
"    -v, --verbose          more detail on stderr\n"
"    -h, --help             this text\n"
"\n"
"STREAM (FLPC v1, little-endian)\n"
"    \"FLPC\", u32 version 1, then records {u32 type; u32 pid; u64 vaddr;\n"
"    u64 nr_pages}: 1 PAGES (nr_pages*4096 data bytes follow), 2 INVALIDATE,\n"
"    3 ROUND (vaddr: the round), 4 END (vaddr: the number of rounds,\n"
"    nr_pages: pages in all PAGES records).  pid is the task's pid in its own\n"
"    pid namespace (as in CRIU's pstree.img).  The last record about a page\n"
"    wins.  A stream without END is incomplete.\n"
"\n"
"REQUIREMENTS AND LIMITS\n"
"    Root (CAP_SYS_PTRACE), Linux 6.7+ (PAGEMAP_SCAN, UFFD_FEATURE_WP_ASYNC),\n"
"    x86-64, a faultline built with BPF support (it shares the probe's code).\n"
"  - The tree must not change: a process forked (or exited) after tracking\n"
"    began is an error (exit 1).  New threads are fine.  A process that\n"
"    executes a new program is an error too.\n"
"  - Only private anonymous writable memory is tracked and sent; CRIU also\n"
"    treats read-only private anonymous memory as lazy: such pages have no\n"
"    data in the stream.\n"
"  - The userfaultfds are held here, never in the targets, so `criu dump` works\n"
"    while tracking is armed.  Do not SIGKILL this command while it attaches.\n"
"\n"
"EXIT STATUS\n"
"    0 the stream is complete (END); 1 an error (a target exited or changed,\n"
"    attaching failed, the stream's reader left, SIGINT/SIGTERM); 2 usage.\n";

enum { OPT_STOP_DIRTY = 0x100, OPT_MIN_SHRINK, OPT_FINAL, OPT_STATUS_FD, OPT_CONTROL_FD, OPT_BUFFER,
       OPT_WP_MAX };

static int number(const char *flag, const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "precopy send: %s: '%s' is not a number in [%g, %g]\n", flag, arg, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int fd_arg(const char *flag, const char *arg, int *fd)
{
	double v;

	if (number(flag, arg, 0, 1 << 20, &v))
		return -EINVAL;
	if (fcntl((int)v, F_GETFD) < 0) {
		fprintf(stderr, "precopy send: %s: '%s' is not an open file descriptor\n", flag, arg);
		return -EINVAL;
	}
	*fd = (int)v;
	return 0;
}

static int parse_one(struct probe_pc_opts *o, int opt, const char *arg)
{
	double v = 0;
	int ret = 0;

	switch (opt) {
	case 'p': ret = number("--pid", arg, 1, 4194304, &v); o->pid = (pid_t)v; break;
	case 'n': ret = number("--max-rounds", arg, 1, 1e6, &v); o->max_rounds = (long)v; break;
	case OPT_STOP_DIRTY: ret = number("--stop-dirty", arg, 0, 1e15, &v); o->stop_dirty = (uint64_t)v; break;
	case OPT_MIN_SHRINK: return number("--min-shrink", arg, 0, 1e6, &o->min_shrink);
	case 'i': return number("--interval", arg, 0, 3600000, &o->interval_ms);
	case OPT_STATUS_FD: return fd_arg("--status-fd", arg, &o->status_fd);
	case OPT_CONTROL_FD: return fd_arg("--control-fd", arg, &o->control_fd);
	case OPT_BUFFER: ret = number("--buffer", arg, 1, 1024, &v); o->buf_size = (size_t)(v * 1048576); break;
	case OPT_WP_MAX: ret = number("--wp-max-vma", arg, 0, 1 << 30, &v); o->wp_max_vma = (uint64_t)(v * 1048576); break;
	case 'v': o->verbose++; break;
	case OPT_FINAL:
		if (!strcmp(arg, "data") || !strcmp(arg, "invalidate")) {
			o->final = arg[0] == 'd' ? PROBE_PC_FINAL_DATA : PROBE_PC_FINAL_INVALIDATE;
			break;
		}
		fprintf(stderr, "precopy send: --final: '%s' is not data or invalidate\n", arg);
		return -EINVAL;
	case 'h': fputs(usage, stdout); exit(0);
	default: fprintf(stderr, "Try 'faultline precopy send --help'.\n"); return -EINVAL;
	}
	return ret;
}

static int parse(int argc, char **argv, struct probe_pc_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "max-rounds", required_argument, NULL, 'n' },
		{ "stop-dirty", required_argument, NULL, OPT_STOP_DIRTY },
		{ "min-shrink", required_argument, NULL, OPT_MIN_SHRINK },
		{ "interval", required_argument, NULL, 'i' },
		{ "final", required_argument, NULL, OPT_FINAL },
		{ "status-fd", required_argument, NULL, OPT_STATUS_FD },
		{ "control-fd", required_argument, NULL, OPT_CONTROL_FD },
		{ "buffer", required_argument, NULL, OPT_BUFFER },
		{ "wp-max-vma", required_argument, NULL, OPT_WP_MAX },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	*o = (struct probe_pc_opts){ .max_rounds = 8, .stop_dirty = 256, .min_shrink = 1.25,
				     .final = PROBE_PC_FINAL_DATA, .out_fd = STDOUT_FILENO, .status_fd = -1,
				     .control_fd = -1, .buf_size = 4 << 20, .wp_max_vma = 0,
				     .stop_timeout_ms = 2000 };
	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:n:i:vh", longopts, NULL)) != -1)
		if (parse_one(o, opt, optarg))
			return 2;
	if (optind < argc) {
		fprintf(stderr, "precopy send: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o->pid) {
		fprintf(stderr, "precopy send: --pid is required\nTry 'faultline precopy send --help'.\n");
		return 2;
	}
	if (isatty(o->out_fd)) {
		fprintf(stderr, "precopy send: stdout is a terminal: redirect the stream to a file or pipe\n");
		return 2;
	}
	return 0;
}

#ifdef FL_NO_BPF
int cli_precopy_send_main(int argc, char **argv)
{
	struct probe_pc_opts o;
	int ret = parse(argc, argv, &o);

	if (ret)
		return ret;
	fprintf(stderr, "faultline precopy send: this faultline was built without BPF support, "
		"whose dirty tracking it uses (no kernel BTF, bpftool, clang or libbpf-dev at build "
		"time); install them and rebuild\n");
	return 1;
}
#else

static const char *const stop_name[] = {
	[PROBE_PC_GO_ON] = "none", [PROBE_PC_MAX_ROUNDS] = "max-rounds",
	[PROBE_PC_STOP_DIRTY] = "stop-dirty", [PROBE_PC_NO_CONVERGENCE] = "no-convergence",
	[PROBE_PC_SIGNALLED] = "signalled",
};

/* The signals this command waits for, blocked and read from a signalfd. */
static int signals_open(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

enum wake { WAKE_NONE, WAKE_FREEZE, WAKE_ABORT, WAKE_GONE };

/* Waits up to TIMEOUT_MS (-1: for ever) for SIGUSR1 or control-fd EOF
 * (WAKE_FREEZE), SIGINT/SIGTERM/SIGHUP (WAKE_ABORT) or a target's exit. */
static enum wake wait_event(const struct probe_pc_ctx *c, int sfd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = c->o.control_fd, .events = POLLIN } };
	struct signalfd_siginfo si;
	char junk[256];
	pid_t gone;

	for (int left = timeout_ms;; left = left > 100 ? left - 100 : left < 0 ? -1 : 0) {
		if (probe_pc_any_gone(c, &gone)) {
			fprintf(stderr, "precopy send: pid %d exited\n", (int)gone);
			return WAKE_GONE;
		}
		if (poll(p, c->o.control_fd >= 0 ? 2 : 1, left < 0 || left > 100 ? 100 : left) < 0 &&
		    errno != EINTR)
			return WAKE_ABORT;
		if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR1)
				return WAKE_FREEZE;
			fprintf(stderr, "precopy send: %s: stream abandoned\n", strsignal((int)si.ssi_signo));
			return WAKE_ABORT;
		}
		if (c->o.control_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP)) &&
		    read(c->o.control_fd, junk, sizeof(junk)) == 0)
			return WAKE_FREEZE;
		if (!left)
			return WAKE_NONE;
	}
}

static void status(const struct probe_pc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void status(const struct probe_pc_ctx *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (c->o.status_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return;
	line[n++] = '\n';
	if (write(c->o.status_fd, line, (size_t)n) != n)
		fl_warn(NULL, "cannot write to --status-fd %d", c->o.status_fd);
}

static void round_status(const struct probe_pc_ctx *c, const struct probe_pc_round *r)
{
	status(c, "{\"round\":%llu,\"pages\":%llu,\"dirty_pages\":%llu,\"invalidated\":%llu,"
	       "\"seconds\":%.6f,\"bytes\":%llu,\"dirty_rate\":%.1f}",
	       (unsigned long long)r->round, (unsigned long long)r->pages, (unsigned long long)r->dirty,
	       (unsigned long long)r->invalidated, r->seconds, (unsigned long long)r->bytes, r->dirty_rate);
	if (c->o.verbose)
		fprintf(stderr, "precopy send: round %llu: %llu pages sent, %llu dirty, %.3f s\n",
			(unsigned long long)r->round, (unsigned long long)r->pages,
			(unsigned long long)r->dirty, r->seconds);
}

/* The pre-copy rounds.  Returns the reason they stopped, or -errno. */
static int rounds(struct probe_pc_ctx *c, int sfd)
{
	struct probe_pc_round r;
	enum probe_pc_stop why;

	for (;;) {
		uint64_t due = c->last_scan_ns + (uint64_t)(c->o.interval_ms * 1e6), now = probe_pc_now_ns();
		enum wake w = wait_event(c, sfd, c->rounds && due > now ? (int)((due - now) / 1000000) : 0);
		uint64_t prev = c->prev_dirty;
		int ret;

		if (w == WAKE_FREEZE)
			return PROBE_PC_SIGNALLED;
		if (w != WAKE_NONE)
			return w == WAKE_GONE ? -ESRCH : -EINTR;
		ret = probe_pc_round(c, &r);
		if (ret)
			return ret;
		round_status(c, &r);
		why = probe_pc_should_stop(&c->o, &r, prev);
		if (why != PROBE_PC_GO_ON)
			return (int)why;
	}
}

static int run(struct probe_pc_ctx *c, int sfd)
{
	struct probe_pc_round r;
	uint64_t t0;
	int ret = rounds(c, sfd);

	if (ret < 0)
		return ret;
	status(c, "{\"event\":\"rounds-done\",\"rounds\":%llu,\"reason\":\"%s\",\"pages\":%llu,\"bytes\":%llu}",
	       (unsigned long long)c->rounds, stop_name[ret], (unsigned long long)c->total_pages,
	       (unsigned long long)c->bytes);
	if (ret != PROBE_PC_SIGNALLED) {
		enum wake w = wait_event(c, sfd, -1);

		if (w != WAKE_FREEZE)
			return w == WAKE_GONE ? -ESRCH : -EINTR;
	}
	t0 = probe_pc_now_ns();
	ret = probe_pc_final(c, &r);
	if (ret)
		return ret;
	ret = probe_pc_finish(c);
	status(c, "{\"event\":\"end\",\"final\":\"%s\",\"pages\":%llu,\"dirty_pages\":%llu,\"invalidated\":%llu,"
	       "\"rounds\":%llu,\"total_pages\":%llu,\"bytes\":%llu,\"seconds\":%.6f}",
	       c->o.final == PROBE_PC_FINAL_DATA ? "data" : "invalidate", (unsigned long long)r.pages,
	       (unsigned long long)r.dirty, (unsigned long long)r.invalidated, (unsigned long long)c->rounds,
	       (unsigned long long)c->total_pages, (unsigned long long)c->bytes,
	       (double)(probe_pc_now_ns() - t0) / 1e9);
	if (c->o.verbose)
		fprintf(stderr, "precopy send: final pass: %llu pages sent, %llu invalidated; %llu rounds, "
			"%llu pages, %llu bytes in all\n", (unsigned long long)r.pages,
			(unsigned long long)r.invalidated, (unsigned long long)c->rounds,
			(unsigned long long)c->total_pages, (unsigned long long)c->bytes);
	return ret;
}

int cli_precopy_send_main(int argc, char **argv)
{
	struct probe_pc_ctx c = { 0 };
	int ret = parse(argc, argv, &c.o), sfd;

	if (ret)
		return ret;
	fl_log_open(NULL, c.o.verbose > 1 ? FL_LOG_DBG : FL_LOG_WARN);
	sfd = signals_open();
	if (sfd < 0) {
		fprintf(stderr, "precopy send: signalfd: %s\n", strerror(-sfd));
		return 1;
	}
	ret = probe_pc_start(&c);
	if (!ret)
		ret = run(&c, sfd);
	if (ret) {
		status(&c, "{\"event\":\"error\",\"error\":\"%s\"}", strerror(-ret));
		fprintf(stderr, "precopy send: failed (%s); detached from every process, the stream "
			"has no END\n", strerror(-ret));
	}
	probe_pc_finish(&c);
	close(sfd);
	return ret ? 1 : 0;
}
#endif
