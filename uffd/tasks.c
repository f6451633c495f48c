/* SPDX-License-Identifier: MIT */
/* Restored tasks: adding them at hand-off, knowing when all are done, and
 * killing them when the pages can no longer come. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "uffd/lazy.h"

static struct uffd_image *image_get(struct uffd_ctx *ctx, int32_t pid)
{
	for (size_t i = 0; i < ctx->nr_images; i++)
		if (ctx->images[i].pid == pid)
			return &ctx->images[i];
	return NULL;
}

static int build_todo(struct uffd_ctx *ctx, struct uffd_task *t)
{
	struct img_mm mm = { 0 };
	int ret = img_dir_read_mm(&ctx->dir, t->pid, &mm);

	if (ret) {
		fl_err(t->name, "%s", ctx->dir.err.msg);
		return ret;
	}
	ret = uffd_ranges_build(&t->todo, &t->img->pm, &mm);
	img_mm_free(&mm);
	return ret;
}

static void exit_done(struct xport_op *op, int res)
{
	struct uffd_task *t = (struct uffd_task *)((char *)op - offsetof(struct uffd_task, exit_op));

	t->exit_busy = 0;
	if (res > 0)
		uffd_task_gone(t, "exited");
}

/* No uffd event tells that a process exited; its pidfd does. Without it,
 * pages it never touched would wait forever if background fetch is off. */
static void watch_exit(struct uffd_task *t)
{
	t->pidfd = t->real_pid > 0 ? (int)syscall(SYS_pidfd_open, t->real_pid, 0) : -1;
	if (t->pidfd < 0)
		return;
	t->exit_op.done = exit_done;
	struct io_uring_sqe *sqe = xport_ring_sqe(&t->ctx->ring, &t->exit_op);
	io_uring_prep_poll_add(sqe, t->pidfd, POLLIN);
	t->exit_busy = 1;
}

int uffd_task_add(struct uffd_ctx *ctx, int32_t pid, pid_t real_pid, int uffd)
{
	struct uffd_task *t;
	int ret;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ctx = ctx;
	t->pid = pid;
	t->real_pid = real_pid;
	t->uffd = uffd;
	snprintf(t->name, sizeof(t->name), "%d-%d", pid, uffd);
	uffd_ranges_init(&t->todo);
	uffd_ranges_init(&t->pending);
	uffd_ranges_init(&t->asked);
	t->img = image_get(ctx, pid);
	if (!t->img) {
		fl_err(t->name, "pid %d is not in pstree.img", pid);
		free(t);
		return -ESRCH;
	}
	ret = build_todo(ctx, t);
	if (ret) {
		uffd_ranges_free(&t->todo);
		free(t);
		return ret;
	}
	uffd_fault_init(t);
	t->next = ctx->tasks;
	ctx->tasks = t;
	ctx->total_pages += t->todo.pages;
	watch_exit(t);
	fl_info(t->name, "restored task (pid %d here): %llu lazy pages in %zu ranges", (int)real_pid,
		(unsigned long long)t->todo.pages, t->todo.n);
	uffd_task_arm(t);
	return 0;
}

void uffd_check_done(struct uffd_ctx *ctx)
{
	if (!ctx->restored || ctx->closing || ctx->stopped)
		return;
	for (struct uffd_task *t = ctx->tasks; t; t = t->next)
		if (!t->exited && (t->todo.n || t->pending.n))
			return;
	if (ctx->retry)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ctx->stats.all_in);
	ctx->closing = 1;
	uffd_progress(ctx, 1);
	int ret = ctx->fetch->close(ctx);
	if (ret)
		fl_warn("lazy-pages", "closing the page-server session: %s", strerror(-ret));
}

/* SIGKILLs PID and, depth first, every descendant found through
 * /proc/PID/task/TID/children (forks after restore included). */
static void kill_tree(pid_t pid, int depth)
{
	pid_t *kids = NULL;
	size_t n = 0, cap = 0;

	if (pid <= 0 || depth > 64)
		return;
	kill(pid, SIGSTOP); /* no new children while we walk */
	fl_proc_children(pid, &kids, &n, &cap); /* a failure leaves what it found */
	for (size_t i = 0; i < n; i++)
		kill_tree(kids[i], depth + 1);
	free(kids);
	kill(pid, SIGKILL);
}

void uffd_fatal(struct uffd_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->stopped)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx->fatal, sizeof(ctx->fatal), fmt, ap);
	va_end(ap);
	fl_err("lazy-pages", "%s", ctx->fatal);
	/* Closing the uffds would let the tasks read zeros where their memory
	 * should be; they are killed instead, so that nothing runs corrupted. */
	for (struct uffd_task *t = ctx->tasks; t; t = t->next) {
		if (t->exited)
			continue;
		if (t->real_pid > 0) {
			fl_err(t->name, "killing restored task %d: its memory cannot be fetched",
			       (int)t->real_pid);
			kill_tree(t->real_pid, 0);
		} else {
			fl_err(t->name, "restored task has no known pid and cannot be killed");
		}
	}
	ctx->exit_code = 1;
	ctx->stopped = 1;
}
