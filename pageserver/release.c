/* SPDX-License-Identifier: MIT */
/* `faultline criu-release`: tell a running `criu dump --lazy-pages` to finish.
 *
 * CRIU's lazy dump keeps the tasks frozen while its page server waits for one
 * connection.  What ends it (CRIU 4.2.1 and 4.1.1, observed):
 *   CLOSE             -> status 0, "Lazy pages transfer finished successfully",
 *                        the tasks are killed, criu exits 0;
 *   EOF without CLOSE -> the same: the tasks are KILLED (never use it to roll back);
 *   unknown command   -> "Unknown command", "Lazy pages transfer FAILED", the
 *                        dump is rolled back: tasks resumed with their memory,
 *                        network unlocked, criu exits 1;
 *   SIGTERM/SIGINT/SIGKILL to criu -> criu dies at once; the kernel detaches the
 *                        tasks and they run on, but nothing is unlocked.
 * So --kill sends CLOSE and --resume sends command 0. */
#include "pageserver/release.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "common/log.h"
#include "transport/conn.h"
#include "transport/net.h"

enum { RELEASE_CMD_UNKNOWN = 0 };

struct rel_ctx {
	struct ps_release *rel;
	struct xport_ring ring;
	struct xport_endpoint ep;
	struct xport_conn conn;
	struct xport_op timer_op;
	struct __kernel_timespec ts;
	unsigned sent : 1, done : 1, timed_out : 1, timer_busy : 1;
	int result; /* valid once done */
};

static void finish(struct rel_ctx *x, int result)
{
	if (x->done)
		return;
	x->done = 1;
	x->result = result;
}

static int send_request(struct rel_ctx *x)
{
	struct xport_msg m = {
		.cmd = x->rel->how == PS_RELEASE_KILL ? XPORT_CMD_CLOSE : RELEASE_CMD_UNKNOWN
	};
	uint8_t hdr[XPORT_HDR_MAX];
	int n = xport_hdr_encode(x->rel->proto, &m, hdr, sizeof(hdr));

	if (n < 0)
		return n;
	x->sent = 1;
	return xport_conn_write(&x->conn, hdr, (size_t)n);
}

/* After the request: what CRIU's answer (or its silence) means. */
static void judge(struct rel_ctx *x)
{
	struct xport_conn *c = &x->conn;
	struct ps_release *rel = x->rel;
	int32_t st;

	if (rel->how == PS_RELEASE_KILL) {
		if (c->in.len >= XPORT_CLOSE_REPLY_SIZE) {
			memcpy(&st, c->in.data + c->in.off, sizeof(st));
			if (st)
				snprintf(rel->err, sizeof(rel->err),
					 "CRIU answered CLOSE with status %d", (int)st);
			xport_conn_shutdown(c);
			finish(x, st ? -EPROTO : 0);
		} else if (c->eof || c->err) {
			snprintf(rel->err, sizeof(rel->err), "connection ended before CRIU answered "
				 "CLOSE%s%s", c->err ? ": " : "", c->err ? c->errmsg : "");
			finish(x, -ECONNRESET);
		}
		return;
	}
	if (c->in.len) {
		snprintf(rel->err, sizeof(rel->err), "the server answered command 0 with %zu "
			 "bytes instead of dropping the connection: not CRIU's lazy page server?",
			 c->in.len);
		finish(x, -EPROTO);
	} else if ((c->eof || c->err) && !xport_conn_queued(c)) {
		/* CRIU read the header whole and hung up: its transfer failed. */
		fl_dbg(c->peer, "connection ended after command 0%s%s", c->err ? ": " : "",
		       c->err ? c->errmsg : "");
		finish(x, 0);
	} else if (c->err) {
		snprintf(rel->err, sizeof(rel->err), "connection failed before command 0 was "
			 "sent: %s", c->errmsg);
		finish(x, c->err);
	}
}

static void rel_notify(struct xport_conn *c)
{
	struct rel_ctx *x = (struct rel_ctx *)((char *)c - offsetof(struct rel_ctx, conn));

	if (!x->done) {
		if (!x->sent && c->err) {
			snprintf(x->rel->err, sizeof(x->rel->err), "%s", c->errmsg);
			finish(x, c->err);
		} else if (!x->sent && c->established && send_request(x)) {
			snprintf(x->rel->err, sizeof(x->rel->err), "cannot queue the request");
			finish(x, -ENOMEM);
		} else if (x->sent) {
			judge(x);
		}
	}
	xport_conn_pump(c);
}

static void timer_done(struct xport_op *op, int res)
{
	struct rel_ctx *x = (struct rel_ctx *)((char *)op - offsetof(struct rel_ctx, timer_op));

	(void)res;
	x->timer_busy = 0;
	x->timed_out = 1;
	if (!x->done) {
		snprintf(x->rel->err, sizeof(x->rel->err), "no answer within %.1f s",
			 x->rel->timeout);
		finish(x, -ETIMEDOUT);
	}
}

static void run_until(struct rel_ctx *x, int (*cond)(struct rel_ctx *x))
{
	while (!cond(x)) {
		int ret = xport_ring_run(&x->ring, 0);
		if (ret < 0 && ret != -EINTR)
			break;
	}
}

static int cond_done(struct rel_ctx *x)
{
	return x->done;
}

static int cond_flushed(struct rel_ctx *x)
{
	return x->timed_out || x->conn.err || !xport_conn_queued(&x->conn);
}

static int cond_idle(struct rel_ctx *x)
{
	return !xport_conn_busy(&x->conn) && !x->timer_busy;
}

static int exchange(struct rel_ctx *x, int fd)
{
	struct ps_release *rel = x->rel;
	char peer[XPORT_ADDRSTRLEN];
	int ret;

	snprintf(peer, sizeof(peer), "%s:%u", rel->address, rel->port);
	ret = xport_conn_init(&x->conn, &x->ep, fd, peer, rel_notify);
	if (ret) {
		snprintf(rel->err, sizeof(rel->err), "connection setup: %s", strerror(-ret));
		close(fd);
		return ret;
	}
	x->ts.tv_sec = (long long)rel->timeout;
	x->ts.tv_nsec = (long long)((rel->timeout - (double)x->ts.tv_sec) * 1e9);
	x->timer_op.done = timer_done;
	io_uring_prep_timeout(xport_ring_sqe(&x->ring, &x->timer_op), &x->ts, 0, 0);
	x->timer_busy = 1;
	rel_notify(&x->conn); /* plain TCP is established already: send at once */
	run_until(x, cond_done);
	if (!x->result)
		run_until(x, cond_flushed); /* the TLS close_notify after CLOSE's reply */
	xport_conn_abort(&x->conn);
	if (x->timer_busy)
		io_uring_prep_cancel(xport_ring_sqe(&x->ring, NULL), &x->timer_op, 0);
	run_until(x, cond_idle);
	xport_conn_destroy(&x->conn);
	return x->result;
}

/* 'Z' or gone: 0; stopped: 't'/'T'; else the state letter; -errno on error. */
static int task_state(pid_t pid)
{
	char path[64], line[128];
	FILE *f;
	int st = -EPROTO;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "State:", 6)) {
			char *p = line + 6 + strspn(line + 6, " \t");
			st = *p == 'Z' || *p == 'X' ? 0 : *p;
			break;
		}
	fclose(f);
	return st;
}

static int check_task(struct ps_release *rel, const struct timespec *t0)
{
	struct timespec now, nap = { 0, 20 * 1000 * 1000 };
	int st;

	for (;;) {
		st = task_state(rel->pid);
		if (st < 0) {
			snprintf(rel->err, sizeof(rel->err), "pid %d: %s", (int)rel->pid,
				 strerror(-st));
			return st;
		}
		if (rel->how == PS_RELEASE_KILL ? st == 0 : st != 't' && st != 'T' && st != 0)
			return 0;
		if (rel->how == PS_RELEASE_RESUME && st == 0) {
			snprintf(rel->err, sizeof(rel->err), "pid %d is gone instead of resumed",
				 (int)rel->pid);
			return -ESRCH;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9 >
		    rel->timeout) {
			snprintf(rel->err, sizeof(rel->err), "CRIU took the request, but pid %d %s "
				 "after %.1f s", (int)rel->pid, rel->how == PS_RELEASE_KILL ?
				 "still exists" : "is still stopped", rel->timeout);
			return -ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
	}
}

int ps_release_run(struct ps_release *rel)
{
	struct rel_ctx x = { .rel = rel };
	struct timespec t0;
	int ret, fd;

	rel->err[0] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = xport_connect(rel->address, rel->port, &fd);
	if (ret) {
		snprintf(rel->err, sizeof(rel->err), "cannot connect to %s port %u: %s",
			 rel->address, rel->port, strerror(-ret));
		return ret;
	}
	ret = xport_ring_init(&x.ring, 16);
	if (ret)
		goto err_close_fd;
	ret = xport_endpoint_init(&x.ep, &x.ring, rel->tls, 0);
	if (ret)
		goto err_exit_ring;
	ret = exchange(&x, fd);
	xport_endpoint_fini(&x.ep);
	xport_ring_exit(&x.ring);
	if (!ret && rel->pid)
		ret = check_task(rel, &t0);
	return ret;

err_exit_ring:
	xport_ring_exit(&x.ring);
err_close_fd:
	snprintf(rel->err, sizeof(rel->err), "io_uring setup: %s", strerror(-ret));
	close(fd);
	return ret;
}

static const char usage[] =
"NAME\n"
"    faultline criu-release - end a `criu dump --lazy-pages`: kill or resume the source\n"
"\n"
"SYNOPSIS\n"
"    faultline criu-release --address ADDR --port PORT (--kill | --resume)\n"
"                           (--pki DIR | --tls-cacert F --tls-cert F --tls-key F | --no-tls)\n"
"                           [--tls-no-cn-verify] [--criu-version 4.1|4.2]\n"
"                           [--pid PID] [--timeout SECS] [-o FILE] [-v]\n"
"\n"
"DESCRIPTION\n"
"    `criu dump --lazy-pages --address ADDR --port PORT` writes the small\n"
"    images, keeps the dumped tasks frozen and waits for one page-server\n"
"    client (it writes '\\0' to its --status-fd once it listens).  With\n"
"    `faultline page-server --pid` serving the pages, CRIU's own server is\n"
"    never asked for any; this command is its one client and tells it how\n"
"    the migration ended:\n"
"\n"
"    --kill    sends PS_IOV_CLOSE and waits for CRIU's status (0).  CRIU then\n"
"              reports the lazy transfer as finished, kills the dumped tasks\n"
"              and exits 0.  Use it once the destination has every page.\n"
"    --resume  sends a header with command 0, which CRIU does not know: it\n"
"              drops the connection, reports the lazy transfer as FAILED and\n"
"              rolls the dump back, so the tasks run on with their memory (and\n"
"              a --tcp-established network lock is undone); criu exits 1.\n"
"              Success here means CRIU hung up without a reply.\n"
"\n"
"    Never just connect and close: CRIU takes an EOF without CLOSE as a normal\n"
"    end and KILLS the tasks.  Signalling criu (SIGTERM, SIGINT, SIGKILL) also\n"
"    leaves the tasks running (the kernel detaches them when criu dies), but\n"
"    skips CRIU's rollback, so a network lock would stay in place.\n"
"\n"
"    The connection is TLS with certificates by default, like CRIU's --tls;\n"
"    use --no-tls when criu dump ran without --tls.  Only one connection is\n"
"    ever accepted by CRIU, so run this command once.\n"
"\n"
"OPTIONS\n"
"    --address ADDR         where criu dump listens (its --address)\n"
"    --port PORT            its --port\n"
"    --kill                 end the session with CLOSE: CRIU kills the tasks\n"
"    --resume               fail the session: CRIU resumes the tasks\n"
"    --pid PID              the dumped root (host pid): after CRIU's answer,\n"
"                           wait until it is gone (--kill) or no longer stopped\n"
"                           (--resume), and fail if that does not happen\n"
"    --timeout SECS         give up after SECS seconds (default 10), counting\n"
"                           the --pid check\n"
"    --criu-version V       header layout: 4.2 (32 bytes, default) or 4.1 (24)\n"
"    --tls                  accepted for CRIU-style command lines: TLS is the default\n"
"    --no-tls               plain TCP, for a criu dump without --tls\n"
"    --tls-cacert FILE      CA that CRIU's certificate must chain to\n"
"    --tls-cert FILE        client certificate (PEM)\n"
"    --tls-key FILE         client private key (PEM)\n"
"    --pki DIR              shorthand for DIR/ca.pem, DIR/client.pem, DIR/client.key\n"
"    --tls-no-cn-verify     do not match CRIU's certificate against --address\n"
"    -o, --log-file FILE    log here instead of stderr\n"
"    -v                     more log detail\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 when CRIU did what was asked (and, with --pid, the task followed), 1 on\n"
"    failure or timeout (the reason is printed), 2 on a usage error.\n"
"\n"
"EXAMPLES\n"
"    criu dump --lazy-pages --address 127.0.0.1 --port 27001 -t PID -D img &\n"
"    faultline page-server -D img --pid PID --port 27000 --pki pki &\n"
"    # ... destination restores and pulls every page, then:\n"
"    faultline criu-release --address 127.0.0.1 --port 27001 --no-tls --kill --pid PID\n"
"    # or, when the destination failed:\n"
"    faultline criu-release --address 127.0.0.1 --port 27001 --no-tls --resume --pid PID\n";

static int parse_num(const char *opt, const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "criu-release: %s: '%s' is out of range\n", opt, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_rest(struct cli_common *o, struct ps_release *rel, int how_set)
{
	if (!how_set) {
		fprintf(stderr, "criu-release: say --kill or --resume\n");
		return 2;
	}
	if (!o->address) {
		fprintf(stderr, "criu-release: --address is required (criu dump's --address)\n");
		return 2;
	}
	if (o->proto == XPORT_PROTO_AUTO)
		o->proto = XPORT_PROTO_42;
	rel->proto = o->proto;
	rel->address = o->address;
	if (cli_common_check(o, "criu-release"))
		return 2;
	if (o->port == 0) {
		fprintf(stderr, "criu-release: --port must be criu dump's port, not 0\n");
		return 2;
	}
	rel->port = (uint16_t)o->port;
	return 0;
}

static int parse(int argc, char **argv, struct cli_common *o, struct ps_release *rel)
{
	enum { OPT_KILL = CLI_OPT_FIRST_FREE, OPT_RESUME, OPT_PID, OPT_TIMEOUT };
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "kill", no_argument, NULL, OPT_KILL },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, ret, how_set = 0;
	double v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
		ret = cli_common_opt(o, opt, optarg);
		if (ret < 0)
			return 2;
		if (ret)
			continue;
		switch (opt) {
		case OPT_KILL:
		case OPT_RESUME:
			if (how_set && rel->how != (opt == OPT_KILL ? PS_RELEASE_KILL :
						       PS_RELEASE_RESUME)) {
				fprintf(stderr, "criu-release: --kill and --resume exclude each other\n");
				return 2;
			}
			rel->how = opt == OPT_KILL ? PS_RELEASE_KILL : PS_RELEASE_RESUME;
			how_set = 1;
			break;
		case OPT_PID:
			if (parse_num("--pid", optarg, 1, 1 << 22, &v))
				return 2;
			rel->pid = (pid_t)v;
			break;
		case OPT_TIMEOUT:
			if (parse_num("--timeout", optarg, 0.1, 3600, &rel->timeout))
				return 2;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		default: fprintf(stderr, "Try 'faultline criu-release --help'.\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "criu-release: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return parse_rest(o, rel, how_set);
}

int ps_release_main(int argc, char **argv)
{
	struct ps_release rel = { .timeout = 10.0 };
	struct cli_common o;
	int ret;

	cli_common_init(&o);
	ret = parse(argc, argv, &o, &rel);
	if (ret)
		return ret;
	ret = fl_log_open(o.log_file, o.verbosity);
	if (ret) {
		fprintf(stderr, "criu-release: cannot open log %s: %s\n", o.log_file, strerror(-ret));
		return 1;
	}
	if (cli_tls_ctx(&o, XPORT_TLS_CLIENT, o.address, &rel.tls))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	ret = ps_release_run(&rel);
	SSL_CTX_free(rel.tls);
	if (ret) {
		fl_err("criu-release", "%s:%u: %s failed: %s", rel.address, rel.port,
		       rel.how == PS_RELEASE_KILL ? "--kill" : "--resume", rel.err);
		return 1;
	}
	fl_info("criu-release", "%s:%u: %s", rel.address, rel.port,
		rel.how == PS_RELEASE_KILL
			? "CRIU acknowledged CLOSE: it kills the dumped tasks"
			: "CRIU dropped the session: it rolls the dump back and resumes the tasks");
	if (rel.pid)
		fl_info("criu-release", "pid %d %s", (int)rel.pid,
			rel.how == PS_RELEASE_KILL ? "is gone" : "runs again");
	return 0;
}
