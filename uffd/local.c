/* SPDX-License-Identifier: MIT */
/* Fetching from local images (`-D` without `--page-server`): io_uring reads
 * of pages-N.img, one per run of pages contiguous in the file.  With
 * `--page-server` the same backend serves the PE_PRESENT|PE_LAZY pages of a
 * pre-copy merge (ctx->local_fetch), the page server the PE_LAZY-only ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "uffd/lazy.h"

enum { PAGE = 4096 };

struct local_read {
	struct xport_op op;
	struct uffd_ctx *ctx;
	struct uffd_req *req;
	uint8_t *buf;
	unsigned reads_left;
	int err;
};

struct uffd_local {
	unsigned nr_bg;
};

static void read_done(struct xport_op *op, int res)
{
	struct local_read *lr = (struct local_read *)op;

	if (res < 0)
		lr->err = res;
	else if (res == 0)
		lr->err = -ENODATA;
	if (--lr->reads_left)
		return;
	struct uffd_ctx *ctx = lr->ctx;
	ctx->local->nr_bg -= !lr->req->fault;
	if (lr->err)
		uffd_fatal(ctx, "reading pages-%u.img for pid %d: %s", lr->req->task->img->pm.pages_id,
			   lr->req->task->pid, strerror(-lr->err));
	else
		uffd_deliver(ctx, lr->req, lr->buf);
	free(lr->buf);
	free(lr);
}

static int local_submit(struct uffd_ctx *ctx, struct uffd_req *req)
{
	struct uffd_image *img = req->task->img;
	struct local_read *lr = calloc(1, sizeof(*lr));
	uint64_t addr = req->img_addr, left = req->nr, off, run;

	if (!lr || !(lr->buf = malloc(req->nr * PAGE))) {
		free(lr);
		return -ENOMEM;
	}
	lr->op.done = read_done;
	lr->ctx = ctx;
	lr->req = req;
	lr->reads_left = 1; /* held until every read is queued */
	ctx->local->nr_bg += !req->fault;
	while (left) {
		int ret = img_pagemap_lookup(&img->pm, addr, left, &off, &run);
		if (ret) {
			lr->err = ret;
			break;
		}
		/* A short read is retried as an error: the file changed under us. */
		struct io_uring_sqe *sqe = xport_ring_sqe(&ctx->ring, &lr->op);
		io_uring_prep_read(sqe, img->pages_fd, lr->buf + (addr - req->img_addr),
				   (unsigned)(run * PAGE), off);
		lr->reads_left++;
		addr += run * PAGE;
		left -= run;
	}
	read_done(&lr->op, 1);
	return 0;
}

static int local_close(struct uffd_ctx *ctx)
{
	ctx->stopped = 1;
	return 0;
}

static unsigned local_bg_room(struct uffd_ctx *ctx)
{
	unsigned n = ctx->local->nr_bg;
	return n < ctx->opts.bg_depth ? ctx->opts.bg_depth - n : 0;
}

static const struct uffd_fetch_ops local_ops = {
	.submit = local_submit,
	.close = local_close,
	.bg_room = local_bg_room,
};

int uffd_local_open(struct uffd_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nr_images; i++) {
		struct uffd_image *img = &ctx->images[i];
		int ret;

		if (!img->pm.nr_lazy_pages)
			continue;
		if (!img->pm.lazy_has_data) {
			fprintf(stderr, "lazy-pages: pagemap-%d.img: the lazy pages are not in the "
				"images (dumped with --lazy-pages); use --page-server\n", img->pid);
			return -ENODATA;
		}
		ret = img_dir_open_pages(&ctx->dir, &img->pm, &img->pages_fd);
		if (ret) {
			fprintf(stderr, "lazy-pages: %s\n", ctx->dir.err.msg);
			return ret;
		}
	}
	ctx->local = calloc(1, sizeof(*ctx->local));
	if (!ctx->local)
		return -ENOMEM;
	ctx->fetch = &local_ops;
	return 0;
}

/* A `precopy merge --mode lazy` image: lazy pages with and without data. */
static int mixed(const struct img_pagemap *pm)
{
	if (!pm->nr_lazy_pages || pm->lazy_has_data)
		return 0;
	for (size_t i = 0; i < pm->nr_ents; i++)
		if ((pm->ents[i].flags & (IMG_PE_LAZY | IMG_PE_PRESENT)) ==
		    (IMG_PE_LAZY | IMG_PE_PRESENT))
			return 1;
	return 0;
}

int uffd_local_open_mixed(struct uffd_ctx *ctx)
{
	size_t used = 0;

	for (size_t i = 0; i < ctx->nr_images; i++) {
		struct uffd_image *img = &ctx->images[i];
		int ret;

		if (!mixed(&img->pm))
			continue;
		ret = img_dir_open_pages(&ctx->dir, &img->pm, &img->pages_fd);
		if (ret == -ENOENT) {
			fl_info("lazy-pages", "%s: every lazy page of pid %d comes from the page "
				"server", ctx->dir.err.msg, img->pid);
			continue;
		}
		if (ret) {
			fprintf(stderr, "lazy-pages: %s\n", ctx->dir.err.msg);
			return ret;
		}
		used++;
		fl_info("lazy-pages", "pid %d: lazy pages with data in pages-%u.img are read "
			"locally, the others fetched", img->pid, img->pm.pages_id);
	}
	if (!used)
		return 0;
	ctx->local = calloc(1, sizeof(*ctx->local));
	if (!ctx->local)
		return -ENOMEM;
	ctx->local_fetch = &local_ops;
	return 0;
}

int uffd_local_covers(const struct uffd_task *t, uint64_t img_addr, uint64_t nr)
{
	uint64_t off, run;

	return t->ctx->local_fetch && t->img->pages_fd >= 0 &&
	       img_pagemap_lookup(&t->img->pm, img_addr, nr, &off, &run) == 0;
}

void uffd_local_free(struct uffd_ctx *ctx)
{
	free(ctx->local);
	ctx->local = NULL;
}
