/* SPDX-License-Identifier: MIT */
/* `faultline page-server`: flags, daemon plumbing, then the server loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "common/log.h"
#include "pageserver/server.h"
#include "transport/net.h"

static const char usage[] =
"NAME\n"
"    faultline page-server - serve lazy pages of a CRIU dump to post-copy restores\n"
"\n"
"SYNOPSIS\n"
"    faultline page-server -D DIR [--pid PID] --port PORT [--address ADDR]\n"
"                          (--pki DIR | --tls-cacert F --tls-cert F --tls-key F)\n"
"                          [--tls-no-cn-verify] [--criu-version auto|4.1|4.2]\n"
"                          [--once] [-o FILE] [-v] [--pidfile F] [--status-fd FD] [-d]\n"
"    faultline page-server -D DIR --port PORT --no-tls ...\n"
"\n"
"DESCRIPTION\n"
"    Serves the lazy pages (PS_IOV_GET) of the CRIU image directory DIR with\n"
"    CRIU's page-server protocol, so that `criu lazy-pages --page-server` or\n"
"    `faultline lazy-pages --page-server` on the destination can pull them.\n"
"    Unlike `criu page-server --lazy-pages` it serves many clients at once and\n"
"    one after another, so one dump can be restored many times, and it reads\n"
"    pages from pages-N.img on demand instead of loading the dump into memory.\n"
"    It runs until SIGTERM or SIGINT (clean shutdown), or with --once until its\n"
"    first client is done.  Bad input ends only the offending connection.\n"
"\n"
"    Without --pid, the images must come from a normal `criu dump` (lazy pages\n"
"    stored with their data in pages-N.img).\n"
"\n"
"    With --pid PID it serves post-copy straight from the source: DIR holds the\n"
"    images of a running `criu dump --lazy-pages -t PID` (lazy pages with flags\n"
"    2, no data), and page data is read from the tasks that CRIU keeps frozen\n"
"    (process_vm_readv, else /proc/PID/mem), so the freeze copies no memory and\n"
"    CRIU's own page server, which needs a raised fs.pipe-max-size, is never\n"
"    asked for pages.  PID is the dumped root in our pid namespace; every task\n"
"    of pstree.img must be found under it (by its pid in the dumped namespace),\n"
"    else startup fails.  A task that dies while served ends only the sessions\n"
"    that ask for its pages.  When every destination has its pages, end the\n"
"    dump with `faultline criu-release --kill` (or --resume to roll back).\n"
"\n"
"OPTIONS\n"
"    -D, --images-dir DIR   CRIU image directory to serve (required)\n"
"    --pid PID              serve live from the frozen tree rooted at host pid\n"
"                           PID (images from `criu dump --lazy-pages`)\n"
"    --address ADDR         listen on this IPv4/IPv6 literal (default: all)\n"
"    --port PORT            TCP port, 0 for any free one (required)\n"
"    --tls                  accepted for CRIU-style command lines: TLS is the default\n"
"    --no-tls               plain TCP, for CRIU peers that run without --tls\n"
"    --tls-cacert FILE      CA that client certificates must chain to\n"
"    --tls-cert FILE        server certificate (PEM)\n"
"    --tls-key FILE         server private key (PEM)\n"
"    --pki DIR              shorthand for DIR/ca.pem, DIR/server.pem, DIR/server.key\n"
"    --tls-no-cn-verify     do not match client certificates against --address\n"
"                           (CRIU's rule: a client's certificate must carry the\n"
"                           server's own --address; the chain is always verified)\n"
"    --criu-version V       page-server header layout: 4.1 (24 bytes), 4.2 (32\n"
"                           bytes) or auto (default: detected per client)\n"
"    --once                 exit after the first client is done\n"
"    -o, --log-file FILE    log here instead of stderr\n"
"    -v                     more log detail (repeat for per-request lines)\n"
"    --pidfile FILE         write the server's pid here\n"
"    --status-fd FD         write one '\\0' to FD once listening, then close it\n"
"    -d, --daemon           detach; returns once the socket is listening\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 after a clean shutdown, 1 on a startup or fatal error (or, with --once,\n"
"    when that client's session failed), 2 on a usage error.\n"
"\n"
"EXAMPLES\n"
"    faultline pki init /etc/faultline/pki --ip 192.0.2.10\n"
"    criu dump -t PID -D /srv/dump\n"
"    faultline page-server -D /srv/dump --port 27000 --pki /etc/faultline/pki -d\n"
"    # or live, without writing the pages anywhere:\n"
"    criu dump --lazy-pages --address 127.0.0.1 --port 27001 -t PID -D /srv/dump &\n"
"    faultline page-server -D /srv/dump --pid PID --port 27000 --pki /etc/faultline/pki -d\n"
"    # destination:\n"
"    criu lazy-pages --page-server --address 192.0.2.10 --port 27000 --tls \\\n"
"         --tls-cacert ca.pem --tls-cert client.pem --tls-key client.key -D dump -d\n"
"    criu restore --lazy-pages -D dump\n";

static int parse(int argc, char **argv, struct cli_common *o, struct ps_opts *po, long *pid)
{
	enum { OPT_ONCE = CLI_OPT_FIRST_FREE, OPT_PID };
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "h", longopts, NULL)) != -1) {
		ret = cli_common_opt(o, opt, optarg);
		if (ret < 0)
			return 2;
		if (ret)
			continue;
		switch (opt) {
		case OPT_ONCE: po->once = 1; break;
		case OPT_PID: {
			char *end;
			*pid = strtol(optarg, &end, 10);
			if (*end || end == optarg || *pid <= 0 || *pid > (1L << 22)) {
				fprintf(stderr, "page-server: --pid: '%s' is not a pid\n", optarg);
				return 2;
			}
			break;
		}
		case 'h': fputs(usage, stdout); exit(0);
		default: fprintf(stderr, "Try 'faultline page-server --help'.\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "page-server: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o->images_dir) {
		fprintf(stderr, "page-server: -D/--images-dir is required\n");
		return 2;
	}
	po->proto = o->proto;
	return cli_common_check(o, "page-server") ? 2 : 0;
}

static int setup(struct cli_common *o, long pid, struct ps_source *src, SSL_CTX **tls, int *lfd)
{
	uint16_t port = 0;
	int ret;

	ret = pid ? ps_source_open_live(src, o->images_dir, (pid_t)pid)
		  : ps_source_open(src, o->images_dir);
	if (ret) {
		fprintf(stderr, "page-server: %s\n", src->err);
		return ret;
	}
	ret = cli_tls_ctx(o, XPORT_TLS_SERVER, o->address, tls);
	if (ret)
		goto err_close_source;
	ret = xport_listen(o->address, (uint16_t)o->port, lfd, &port);
	if (ret) {
		fprintf(stderr, "page-server: cannot listen on %s port %ld: %s\n",
			o->address ? o->address : "*", o->port, strerror(-ret));
		goto err_free_tls;
	}
	if (pid)
		fl_info("page-server", "live source: pages of %s are read from the frozen tree "
			"under pid %ld", o->images_dir, pid);
	fl_info("page-server", "serving %s: %zu tasks, %llu lazy pages (%.1f MiB); listening on "
		"%s port %u, %s", o->images_dir, src->nr_tasks,
		(unsigned long long)src->nr_lazy_pages, src->nr_lazy_pages * 4096.0 / (1 << 20),
		o->address ? o->address : "*", port,
		*tls ? "TLS with client certificates" : "plain TCP (--no-tls)");
	return 0;

err_free_tls:
	SSL_CTX_free(*tls);
err_close_source:
	ps_source_close(src);
	return ret;
}

int ps_main(int argc, char **argv)
{
	struct cli_common o;
	struct ps_opts po = { 0 };
	struct ps_source src;
	struct ps_server srv;
	SSL_CTX *tls = NULL;
	sigset_t set;
	int ret, lfd;
	long pid = 0;

	cli_common_init(&o);
	ret = parse(argc, argv, &o, &po, &pid);
	if (ret)
		return ret;
	ret = fl_log_open(o.log_file, o.verbosity);
	if (ret) {
		fprintf(stderr, "page-server: cannot open log %s: %s\n", o.log_file, strerror(-ret));
		return 1;
	}
	if (setup(&o, pid, &src, &tls, &lfd))
		return 1;
	ret = cli_daemonize(&o);
	if (ret) {
		fl_err("page-server", "cannot daemonize: %s", strerror(-ret));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	ret = ps_server_init(&srv, &po, &src, tls, lfd);
	if (ret) {
		fl_err("page-server", "cannot set up io_uring: %s", strerror(-ret));
		ret = 1;
		goto cleanup;
	}
	cli_signal_ready(&o);
	ret = ps_server_run(&srv);
	ps_server_fini(&srv);
cleanup:
	if (o.pidfile && o.daemon)
		unlink(o.pidfile);
	SSL_CTX_free(tls);
	ps_source_close(&src);
	return ret;
}
