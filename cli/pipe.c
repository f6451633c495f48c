/* SPDX-License-Identifier: MIT */
/* `faultline pipe`: flags, the connection (listen or connect), the pipe, stats. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "common/log.h"
#include "transport/net.h"
#include "transport/pipe.h"

static const char usage[] =
"NAME\n"
"    faultline pipe - a mutual-TLS byte pipe between two hosts (stdin/stdout)\n"
"\n"
"SYNOPSIS\n"
"    faultline pipe --listen [--address ADDR] --port PORT [--once]\n"
"                   (--pki DIR | --tls-cacert F --tls-cert F --tls-key F | --no-tls)\n"
"                   [--tls-no-cn-verify] [--status-fd FD] [--pidfile F]\n"
"                   [--stats FILE] [-o FILE] [-v]\n"
"    faultline pipe --connect --address ADDR --port PORT [--connect-timeout SECS]\n"
"                   (--pki DIR | --tls-cacert F --tls-cert F --tls-key F | --no-tls)\n"
"                   [--tls-no-cn-verify] [--pidfile F] [--stats FILE] [-o FILE] [-v]\n"
"\n"
"DESCRIPTION\n"
"    Copies standard input to the peer and what the peer sends to standard\n"
"    output, both at once, over one TCP connection with TLS and mutual\n"
"    certificate authentication (the default) or plain TCP (--no-tls).  It\n"
"    moves CRIU image directories (as tar streams) and pre-copy page streams\n"
"    between the two hosts of a migration; either end may send, receive or\n"
"    both.  stdin and stdout may be pipes, files or sockets; memory stays\n"
"    bounded (a few MiB) whatever the stream size.\n"
"\n"
"    At the end of standard input it ends its sending direction (a TLS\n"
"    close_notify, then a TCP shutdown of the sending side) and keeps\n"
"    receiving until the peer has ended its own.  It exits 0 only when both\n"
"    directions ended cleanly.  A peer that goes away without close_notify\n"
"    (killed, crashed, cut off) is a truncated stream and an error, so a\n"
"    partial image is never taken for a complete one.  (Plain TCP cannot tell\n"
"    a clean end from a crash: use it only on trusted, local links.)\n"
"\n"
"    A receive-only end should read its standard input from /dev/null, or\n"
"    its sending direction never ends.  Nothing but the peer's data is ever\n"
"    written to standard output; messages go to stderr or --log-file.\n"
"\n"
"    Certificates follow the page-server/lazy-pages rules: the listener\n"
"    presents DIR/server.pem and requires a client certificate, the\n"
"    connector presents DIR/client.pem, both chains must lead to DIR/ca.pem.\n"
"    The connector checks that the listener's certificate carries ADDR; the\n"
"    listener, when given --address, checks that the client's certificate\n"
"    carries that address (CRIU's rule); --tls-no-cn-verify skips the name\n"
"    checks, never the chain.\n"
"\n"
"OPTIONS\n"
"    --listen               accept one connection (--once is the default and\n"
"                           the only mode: the pipe exits when it ends)\n"
"    --connect              connect to ADDR:PORT\n"
"    --address ADDR         listen: this IPv4/IPv6 literal (default: all);\n"
"                           connect: the listener's address or name (required)\n"
"    --port PORT            TCP port; with --listen, 0 picks a free one\n"
"    --once                 accepted for symmetry with page-server (default)\n"
"    --connect-timeout SECS give up connecting after SECS (default 10); a\n"
"                           refused connection (listener not up yet) is\n"
"                           retried every 100 ms until then, so both ends can\n"
"                           be started in any order\n"
"    --tls                  accepted: TLS is the default\n"
"    --no-tls               plain TCP\n"
"    --tls-cacert FILE      CA that the peer's certificate must chain to\n"
"    --tls-cert FILE        this end's certificate (PEM)\n"
"    --tls-key FILE         this end's private key (PEM)\n"
"    --pki DIR              shorthand for DIR/ca.pem and DIR/server.{pem,key}\n"
"                           (--listen) or DIR/client.{pem,key} (--connect)\n"
"    --tls-no-cn-verify     do not match certificates against addresses\n"
"    --status-fd FD         (--listen) once listening, write the bound port\n"
"                           as decimal text (e.g. \"34567\", no newline) to FD\n"
"                           and close it: how to learn the port of --port 0\n"
"    --pidfile FILE         write this process's pid here\n"
"    --stats FILE           at exit, write a JSON object: {\"ok\": bool,\n"
"                           \"sent\": N, \"received\": N (payload bytes),\n"
"                           \"wire_sent\": N, \"wire_received\": N (TCP payload,\n"
"                           TLS records and handshake included),\n"
"                           \"seconds\": S (from connected to done), \"tls\":\n"
"                           bool, \"cipher\": \"TLSv1.3 TLS_AES_128_GCM_SHA256\"}\n"
"    -o, --log-file FILE    log here instead of stderr\n"
"    -v                     more log detail\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 when both directions ended cleanly; 1 on an error (connection refused\n"
"    or timed out, certificate rejected, truncated stream, I/O error); 2 on\n"
"    a usage error.\n"
"\n"
"EXAMPLES\n"
"    faultline pki init pki --ip 192.0.2.20          # copy it to both hosts\n"
"    # destination (192.0.2.20): receive an image directory\n"
"    faultline pipe --listen --address 192.0.2.20 --port 27100 --pki pki \\\n"
"        </dev/null | tar -C /srv/img -x\n"
"    # source:\n"
"    tar -C /srv/img -c . | faultline pipe --connect --address 192.0.2.20 \\\n"
"        --port 27100 --pki pki >/dev/null\n"
"    # a free port, learned through a file:\n"
"    faultline pipe --listen --port 0 --pki pki --status-fd 3 3>port <in >out\n";

struct pipe_args {
	struct cli_common o;
	int listen, connect;
	double connect_timeout;
	const char *stats;
	char *pki_files[3];
};

enum {
	OPT_LISTEN = CLI_OPT_FIRST_FREE, OPT_CONNECT, OPT_ONCE, OPT_TIMEOUT, OPT_STATS,
};

static int parse_extra(struct pipe_args *a, int opt, const char *arg)
{
	char *end;

	switch (opt) {
	case OPT_LISTEN: a->listen = 1; return 0;
	case OPT_CONNECT: a->connect = 1; return 0;
	case OPT_ONCE: return 0;
	case OPT_STATS: a->stats = arg; return 0;
	case OPT_TIMEOUT:
		a->connect_timeout = strtod(arg, &end);
		if (end == arg || *end || !(a->connect_timeout >= 0 && a->connect_timeout <= 86400)) {
			fprintf(stderr, "pipe: --connect-timeout: '%s' is not a number of seconds "
				"in [0, 86400]\n", arg);
			return -EINVAL;
		}
		return 0;
	case 'h': fputs(usage, stdout); exit(0);
	default: fprintf(stderr, "Try 'faultline pipe --help'.\n"); return -EINVAL;
	}
}

/* --pki DIR: the listener is the TLS server (server.*), the connector the
 * client (client.*).  Explicit --tls-* flags win. */
static void pki_defaults(struct pipe_args *a)
{
	const char *role = a->listen ? "server" : "client";
	struct cli_common *o = &a->o;

	if (!o->tls || !o->pki_dir)
		return;
	if (!o->cacert && asprintf(&a->pki_files[0], "%s/ca.pem", o->pki_dir) > 0)
		o->cacert = a->pki_files[0];
	if (!o->cert && asprintf(&a->pki_files[1], "%s/%s.pem", o->pki_dir, role) > 0)
		o->cert = a->pki_files[1];
	if (!o->key && asprintf(&a->pki_files[2], "%s/%s.key", o->pki_dir, role) > 0)
		o->key = a->pki_files[2];
}

static int check(struct pipe_args *a)
{
	if (a->listen == a->connect) {
		fprintf(stderr, "pipe: give exactly one of --listen and --connect\n");
		return 2;
	}
	if (a->connect && !a->o.address) {
		fprintf(stderr, "pipe: --connect needs --address\n");
		return 2;
	}
	if (a->connect && a->o.port == 0) {
		fprintf(stderr, "pipe: --connect needs a --port other than 0\n");
		return 2;
	}
	if (a->connect && a->o.status_fd >= 0) {
		fprintf(stderr, "pipe: --status-fd goes with --listen (it reports the bound port)\n");
		return 2;
	}
	pki_defaults(a);
	return cli_common_check(&a->o, "pipe") ? 2 : 0;
}

static int parse(int argc, char **argv, struct pipe_args *a)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, CLI_OPT_ADDRESS },
		{ "port", required_argument, NULL, CLI_OPT_PORT },
		{ "tls", no_argument, NULL, CLI_OPT_TLS },
		{ "no-tls", no_argument, NULL, CLI_OPT_NO_TLS },
		{ "tls-cacert", required_argument, NULL, CLI_OPT_CACERT },
		{ "tls-cert", required_argument, NULL, CLI_OPT_CERT },
		{ "tls-key", required_argument, NULL, CLI_OPT_KEY },
		{ "tls-no-cn-verify", no_argument, NULL, CLI_OPT_NO_CN },
		{ "pki", required_argument, NULL, CLI_OPT_PKI },
		{ "log-file", required_argument, NULL, 'o' },
		{ "pidfile", required_argument, NULL, CLI_OPT_PIDFILE },
		{ "status-fd", required_argument, NULL, CLI_OPT_STATUS_FD },
		{ "listen", no_argument, NULL, OPT_LISTEN },
		{ "connect", no_argument, NULL, OPT_CONNECT },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "connect-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
		ret = cli_common_opt(&a->o, opt, optarg);
		if (ret < 0 || (!ret && parse_extra(a, opt, optarg)))
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "pipe: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return check(a);
}

/* --status-fd: the bound port as decimal text, then close. */
static void report_port(struct cli_common *o, uint16_t port)
{
	char buf[8];
	int n = snprintf(buf, sizeof(buf), "%u", port);

	if (o->status_fd < 0)
		return;
	if (write(o->status_fd, buf, n) != n)
		fl_warn("pipe", "cannot write the port to --status-fd %d: %s", o->status_fd,
			strerror(errno));
	close(o->status_fd);
	o->status_fd = -1;
}

static int do_listen(struct pipe_args *a, int *sock, char *peer)
{
	uint16_t port = 0;
	int lfd, ret;
	const char *where = a->o.address ? a->o.address : "*";

	ret = xport_listen(a->o.address, (uint16_t)a->o.port, &lfd, &port);
	if (ret) {
		fl_err("pipe", "cannot listen on %s port %ld: %s", where, a->o.port, strerror(-ret));
		return ret;
	}
	fl_info("pipe", "listening on %s port %u, %s", where, port,
		a->o.tls ? "TLS with client certificates" : "plain TCP (--no-tls)");
	report_port(&a->o, port);
	ret = cli_daemonize(&a->o); /* without -d: only the pidfile */
	if (ret) {
		fl_err("pipe", "cannot write pidfile %s: %s", a->o.pidfile, strerror(-ret));
	} else {
		ret = xport_pipe_accept(lfd, sock, peer, XPORT_ADDRSTRLEN);
		if (ret)
			fl_err("pipe", "accept on %s port %u: %s", where, port, strerror(-ret));
	}
	close(lfd);
	return ret;
}

static int do_connect(struct pipe_args *a, int *sock, char *peer)
{
	char msg[256];
	int ret = cli_daemonize(&a->o);

	if (ret) {
		fl_err("pipe", "cannot write pidfile %s: %s", a->o.pidfile, strerror(-ret));
		return ret;
	}
	ret = xport_pipe_connect(a->o.address, (uint16_t)a->o.port, a->connect_timeout, sock, msg,
				 sizeof(msg));
	if (ret) {
		fl_err("pipe", "%s", msg);
		return ret;
	}
	snprintf(peer, XPORT_ADDRSTRLEN, "%s:%ld", a->o.address, a->o.port);
	return 0;
}

static void write_stats(const struct pipe_args *a, const struct xport_pipe *p, int ok)
{
	double secs = p->t_end > p->t_start ? p->t_end - p->t_start : 0;
	FILE *f = fopen(a->stats, "w");

	if (!f) {
		fl_warn("pipe", "cannot write --stats %s: %s", a->stats, strerror(errno));
		return;
	}
	fprintf(f, "{\"ok\": %s, \"sent\": %llu, \"received\": %llu, \"wire_sent\": %llu, "
		"\"wire_received\": %llu, \"seconds\": %.6f, \"tls\": %s, \"cipher\": \"%s\"}\n",
		ok ? "true" : "false", (unsigned long long)p->sent,
		(unsigned long long)p->received, (unsigned long long)p->wire_sent,
		(unsigned long long)p->wire_received, secs, a->o.tls ? "true" : "false",
		xport_pipe_cipher(p));
	if (fclose(f))
		fl_warn("pipe", "cannot write --stats %s: %s", a->stats, strerror(errno));
}

static int run(struct pipe_args *a, SSL_CTX *tls)
{
	char peer[XPORT_ADDRSTRLEN];
	struct xport_pipe p;
	int sock, ret;

	ret = a->listen ? do_listen(a, &sock, peer) : do_connect(a, &sock, peer);
	if (ret)
		return 1;
	ret = xport_pipe_init(&p, tls, a->listen, sock, peer, 0, 1);
	if (ret)
		snprintf(p.errmsg, sizeof(p.errmsg), "%s: cannot set up: %s", peer, strerror(-ret));
	else
		ret = xport_pipe_run(&p);
	if (ret) {
		fl_err("pipe", "%s", p.errmsg);
		if (a->o.tls && strstr(p.errmsg, "alert") &&
		    (strstr(p.errmsg, "unknown ca") || strstr(p.errmsg, "certificate")))
			fl_err("pipe", "the peer rejected this end's certificate %s: is it signed by "
			       "the CA the peer trusts?", a->o.cert);
	} else
		fl_info(peer, "done: sent %llu bytes, received %llu bytes in %.3f s",
			(unsigned long long)p.sent, (unsigned long long)p.received,
			p.t_end - p.t_start);
	if (a->stats)
		write_stats(a, &p, !ret);
	xport_pipe_fini(&p);
	return ret ? 1 : 0;
}

int cli_pipe_main(int argc, char **argv)
{
	struct pipe_args a = { .connect_timeout = 10 };
	SSL_CTX *tls = NULL;
	int ret;

	cli_common_init(&a.o);
	ret = parse(argc, argv, &a);
	if (ret)
		goto cleanup;
	ret = fl_log_open(a.o.log_file, a.o.verbosity);
	if (ret) {
		fprintf(stderr, "pipe: cannot open log %s: %s\n", a.o.log_file, strerror(-ret));
		ret = 1;
		goto cleanup;
	}
	ret = 1;
	/* The listener checks the client against its own address (CRIU's rule). */
	if (cli_tls_ctx(&a.o, a.listen ? XPORT_TLS_SERVER : XPORT_TLS_CLIENT, a.o.address, &tls))
		goto cleanup;
	signal(SIGPIPE, SIG_IGN);
	ret = run(&a, tls);
cleanup:
	SSL_CTX_free(tls);
	for (int i = 0; i < 3; i++)
		free(a.pki_files[i]);
	return ret;
}
