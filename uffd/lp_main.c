/* SPDX-License-Identifier: MIT */
/* `faultline lazy-pages`: flags, setup, the loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "common/log.h"
#include "uffd/lazy.h"

static const char usage[] =
"NAME\n"
"    faultline lazy-pages - the post-copy fault handler for `criu restore --lazy-pages`\n"
"\n"
"SYNOPSIS\n"
"    faultline lazy-pages -D DIR [-W DIR] --page-server --address ADDR --port PORT\n"
"                         (--pki DIR | --tls-cacert F --tls-cert F --tls-key F | --no-tls)\n"
"                         [--tls-no-cn-verify] [--criu-version 4.1|4.2]\n"
"                         [--reconnect-timeout SECS] [--bg-pages N] [--bg-depth N]\n"
"                         [--hotness FILE]\n"
"                         [-o FILE] [-v] [--pidfile F] [--status-fd FD] [-d]\n"
"    faultline lazy-pages -D DIR [-W DIR] ...          (pages from local images)\n"
"\n"
"DESCRIPTION\n"
"    A drop-in replacement for `criu lazy-pages`.  It listens on\n"
"    lazy-pages.socket in the work dir, where unmodified `criu restore\n"
"    --lazy-pages` hands it each restored process's userfaultfd.  Every page\n"
"    the processes touch is fetched at once from the page server (faultline's\n"
"    or CRIU's own) and mapped with UFFDIO_COPY; when restore has finished,\n"
"    the remaining lazy pages stream in the background in large batches.\n"
"    When every lazy page is in, it closes the session (PS_IOV_CLOSE), prints\n"
"    a summary and exits 0.\n"
"\n"
"    With --page-server, an image that `faultline precopy merge --mode lazy`\n"
"    wrote (lazy pages with pagemap flags PE_PRESENT|PE_LAZY next to PE_LAZY\n"
"    ones) has its pre-copied pages read from DIR's pages-<id>.img, on faults\n"
"    and first in the background; only the PE_LAZY-only pages are fetched.\n"
"    Images of a normal dump are always fetched, even if DIR has their data.\n"
"    The summary counts pages local and remote.\n"
"\n"
"    If the page server goes away, it reconnects with backoff and asks again\n"
"    (requests are idempotent).  If it cannot within --reconnect-timeout, it\n"
"    kills the restored processes and exits 1: it never lets them run on with\n"
"    memory that silently reads as zeros.\n"
"\n"
"OPTIONS\n"
"    -D, --images-dir DIR   the images restore uses (pstree, pagemap, mm)\n"
"    -W, --work-dir DIR     where lazy-pages.socket lives (default: -D); must\n"
"                           match `criu restore -W`\n"
"    --page-server          fetch from a page server (else from DIR's pages-N.img)\n"
"    --address ADDR, --port PORT   the page server\n"
"    --tls                  accepted for CRIU-style command lines: TLS is the default\n"
"    --no-tls               plain TCP, for page servers running without --tls\n"
"    --tls-cacert FILE      CA the server certificate must chain to\n"
"    --tls-cert, --tls-key  client certificate and key (PEM)\n"
"    --pki DIR              shorthand for DIR/ca.pem, DIR/client.pem, DIR/client.key\n"
"    --tls-no-cn-verify     do not match the server certificate against ADDR\n"
"    --criu-version V       header layout of the page server: 4.2 (default) or 4.1\n"
"    --reconnect-timeout S  how long to try to reach a lost page server (default 10)\n"
"    --bg-pages N           pages per background request (default 256)\n"
"    --bg-depth N           background requests in flight (default 8)\n"
"    --hotness FILE         prefetch the ranges of this map first, hottest first\n"
"                           (written by `faultline probe hotness --map` on the source)\n"
"    --hotness-block N      widen hot ranges to aligned blocks of N pages (power of\n"
"                           two, default 16 = 64 KiB; 1 keeps the map's exact pages)\n"
"    --no-preempt           a fault on a page that a background request is still\n"
"                           fetching waits for that request; by default the page is\n"
"                           asked for again on the fault link (marked IPTOS_LOWDELAY),\n"
"                           since the background reply may queue behind megabytes\n"
"    -o, --log-file FILE    log here instead of stderr\n"
"    -v                     more detail; also shows progress when stderr is not a tty\n"
"    --pidfile FILE, --status-fd FD, -d   as for criu lazy-pages\n"
"    -h, --help             this text\n"
"\n"
"EXIT STATUS\n"
"    0 when every lazy page is in; 1 on an error (the restored processes were\n"
"    killed if their memory could not be fetched); 2 on a usage error.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct lp_args {
	struct cli_common o;
	const char *work_dir;
	int page_server;
	double reconnect_timeout;
	long bg_pages, bg_depth, hot_block;
	const char *hotness;
	int no_preempt;
};

static int number(const char *flag, const char *arg, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || v < lo || v > hi) {
		fprintf(stderr, "lazy-pages: %s: '%s' is not a number in [%g, %g]\n", flag, arg, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_extra(struct lp_args *a, int opt, const char *arg)
{
	enum { OPT_PS = CLI_OPT_FIRST_FREE, OPT_RECONNECT, OPT_BG_PAGES, OPT_BG_DEPTH, OPT_HOT,
	       OPT_HOT_BLOCK, OPT_NO_PREEMPT };
	double v;

	switch (opt) {
	case 'W': a->work_dir = arg; return 0;
	case OPT_PS: a->page_server = 1; return 0;
	case OPT_RECONNECT: return number("--reconnect-timeout", arg, 0, 86400, &a->reconnect_timeout);
	case OPT_BG_PAGES:
		if (number("--bg-pages", arg, 1, 65536, &v))
			return -EINVAL;
		a->bg_pages = (long)v;
		return 0;
	case OPT_BG_DEPTH:
		if (number("--bg-depth", arg, 0, 1024, &v))
			return -EINVAL;
		a->bg_depth = (long)v;
		return 0;
	case OPT_HOT: a->hotness = arg; return 0;
	case OPT_NO_PREEMPT: a->no_preempt = 1; return 0;
	case OPT_HOT_BLOCK:
		if (number("--hotness-block", arg, 1, 4096, &v) || ((long)v & ((long)v - 1))) {
			fprintf(stderr, "lazy-pages: --hotness-block: a power of two from 1 to 4096\n");
			return -EINVAL;
		}
		a->hot_block = (long)v;
		return 0;
	case 'h': fputs(usage, stdout); exit(0);
	default: fprintf(stderr, "Try 'faultline lazy-pages --help'.\n"); return -EINVAL;
	}
}

static int parse(int argc, char **argv, struct lp_args *a)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "work-dir", required_argument, NULL, 'W' },
		{ "page-server", no_argument, NULL, CLI_OPT_FIRST_FREE },
		{ "reconnect-timeout", required_argument, NULL, CLI_OPT_FIRST_FREE + 1 },
		{ "bg-pages", required_argument, NULL, CLI_OPT_FIRST_FREE + 2 },
		{ "bg-depth", required_argument, NULL, CLI_OPT_FIRST_FREE + 3 },
		{ "hotness", required_argument, NULL, CLI_OPT_FIRST_FREE + 4 },
		{ "hotness-block", required_argument, NULL, CLI_OPT_FIRST_FREE + 5 },
		{ "no-preempt", no_argument, NULL, CLI_OPT_FIRST_FREE + 6 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "W:h", longopts, NULL)) != -1) {
		ret = cli_common_opt(&a->o, opt, optarg);
		if (ret < 0 || (!ret && parse_extra(a, opt, optarg)))
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "lazy-pages: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!a->o.images_dir) {
		fprintf(stderr, "lazy-pages: -D/--images-dir is required\n");
		return 2;
	}
	if (!a->page_server)
		return 0;
	if (!a->o.address) {
		fprintf(stderr, "lazy-pages: --page-server needs --address\n");
		return 2;
	}
	return cli_common_check(&a->o, "lazy-pages") ? 2 : 0;
}

static int load_images(struct uffd_ctx *ctx)
{
	struct img_pstree pst = { 0 };
	int ret = img_dir_read_pstree(&ctx->dir, &pst);

	if (ret)
		goto err;
	ctx->images = calloc(pst.nr_tasks ? pst.nr_tasks : 1, sizeof(*ctx->images));
	ret = -ENOMEM;
	if (!ctx->images)
		goto err_free;
	for (size_t i = 0; i < pst.nr_tasks; i++) {
		struct uffd_image *img = &ctx->images[ctx->nr_images++];

		img->pid = pst.tasks[i].pid;
		img->pages_fd = -1;
		ret = img_dir_read_pagemap(&ctx->dir, img->pid, &img->pm);
		if (ret)
			goto err_free;
	}
	img_pstree_free(&pst);
	return 0;
err_free:
	img_pstree_free(&pst);
err:
	fprintf(stderr, "lazy-pages: %s\n", ret == -ENOMEM ? "out of memory" : ctx->dir.err.msg);
	return ret;
}

static void free_ctx(struct uffd_ctx *ctx)
{
	uffd_handoff_free(ctx);
	uffd_remote_free(ctx);
	uffd_local_free(ctx);
	for (struct uffd_task *t = ctx->tasks, *n; t; t = n) {
		n = t->next;
		uffd_ranges_free(&t->todo);
		uffd_ranges_free(&t->pending);
		uffd_ranges_free(&t->asked);
		close(t->uffd);
		if (t->pidfd >= 0)
			close(t->pidfd);
		free(t);
	}
	for (size_t i = 0; i < ctx->nr_images; i++) {
		img_pagemap_free(&ctx->images[i].pm);
		if (ctx->images[i].pages_fd >= 0)
			close(ctx->images[i].pages_fd);
	}
	free(ctx->images);
	uffd_hotmap_free(&ctx->hot);
	img_dir_close(&ctx->dir);
}

/* Everything that can fail for a bad flag or file, before -d detaches. */
static int setup(struct lp_args *a, struct uffd_ctx *ctx, SSL_CTX **tls)
{
	int ret = img_dir_open(&ctx->dir, a->o.images_dir);

	if (ret) {
		fprintf(stderr, "lazy-pages: %s\n", ctx->dir.err.msg);
		return ret;
	}
	ret = load_images(ctx);
	if (ret)
		return ret;
	if (a->hotness) {
		ret = uffd_hotmap_load(a->hotness, &ctx->hot);
		if (ret) {
			fprintf(stderr, "lazy-pages: --hotness %s\n", ctx->hot.err);
			return ret;
		}
		uffd_hotmap_widen(&ctx->hot, (unsigned)a->hot_block);
		fl_info("lazy-pages", "hotness map %s: %zu ranges to prefetch first, in blocks of "
			"%ld pages", a->hotness, ctx->hot.n, a->hot_block);
	}
	if (a->page_server) {
		ret = cli_tls_ctx(&a->o, XPORT_TLS_CLIENT, a->o.address, tls);
		if (!ret)
			ret = uffd_remote_open(ctx, *tls);
		if (!ret)
			ret = uffd_local_open_mixed(ctx);
	} else {
		ret = uffd_local_open(ctx);
	}
	if (ret)
		return ret;
	if (chdir(ctx->opts.work_dir)) {
		ret = -errno;
		fprintf(stderr, "lazy-pages: cannot enter work dir %s: %s\n", ctx->opts.work_dir,
			strerror(errno));
		return ret;
	}
	return uffd_handoff_listen(ctx);
}

static void run(struct uffd_ctx *ctx)
{
	while (!ctx->stopped) {
		int ret = xport_ring_run(&ctx->ring, ctx->retry != NULL);

		if (ret < 0 && ret != -EINTR) {
			uffd_fatal(ctx, "io_uring: %s", strerror(-ret));
			break;
		}
		if (stop_signal) {
			uffd_fatal(ctx, "stopped by %s before every lazy page was in",
				   strsignal(stop_signal));
			break;
		}
		uffd_retry(ctx);
		uffd_prefetch(ctx);
	}
}

int uffd_lp_main(int argc, char **argv)
{
	struct lp_args a = { .reconnect_timeout = 10, .bg_pages = 256, .bg_depth = 8, .hot_block = 16 };
	struct uffd_ctx ctx = { 0 };
	SSL_CTX *tls = NULL;
	int ret;

	cli_common_init(&a.o);
	ret = parse(argc, argv, &a);
	if (ret)
		return ret;
	ctx.opts = (struct uffd_opts){
		.images_dir = a.o.images_dir,
		.work_dir = a.work_dir ? a.work_dir : a.o.images_dir,
		.address = a.page_server ? a.o.address : NULL,
		.port = (uint16_t)a.o.port,
		.proto = a.o.proto == XPORT_PROTO_41 ? XPORT_PROTO_41 : XPORT_PROTO_42,
		.reconnect_timeout = a.reconnect_timeout,
		.bg_pages = (unsigned)a.bg_pages,
		.bg_depth = (unsigned)a.bg_depth,
		.no_preempt = a.no_preempt,
		.progress = isatty(2) || a.o.verbosity > FL_LOG_INFO,
	};
	ctx.dir.dirfd = -1;
	ret = fl_log_open(a.o.log_file, a.o.verbosity);
	if (ret) {
		fprintf(stderr, "lazy-pages: cannot open log %s: %s\n", a.o.log_file, strerror(-ret));
		return 1;
	}
	ret = xport_ring_init(&ctx.ring, 512);
	if (ret) {
		fprintf(stderr, "lazy-pages: io_uring: %s\n", strerror(-ret));
		return 1;
	}
	if (setup(&a, &ctx, &tls)) {
		ret = 1;
		goto cleanup;
	}
	if (cli_daemonize(&a.o)) {
		ret = 1;
		goto cleanup;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fl_info("lazy-pages", "waiting for criu restore on %s/lazy-pages.socket; pages from %s",
		ctx.opts.work_dir, !a.page_server ? "local images" : ctx.local_fetch ?
		"local images and the page server" : "the page server");
	if (ctx.remote)
		uffd_remote_start(&ctx);
	uffd_handoff_start(&ctx);
	cli_signal_ready(&a.o);
	run(&ctx);
	ret = ctx.exit_code;
	if (!ret)
		uffd_summary(&ctx);
	else
		fprintf(stderr, "lazy-pages: %s\n", ctx.fatal);
cleanup:
	xport_ring_exit(&ctx.ring);
	free_ctx(&ctx);
	SSL_CTX_free(tls);
	if (a.o.pidfile && a.o.daemon)
		unlink(a.o.pidfile);
	return ret;
}
