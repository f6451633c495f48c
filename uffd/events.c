/* SPDX-License-Identifier: MIT */
/* Non-cooperative uffd events: the restored process changed its address space.
 * Each edits the task's todo and pending sets so that later faults and
 * replies land where the pages are now (criu-interop.md §2.5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/lazy.h"

/* The child starts with every page the parent has not got yet: the parent's
 * in-flight replies only fill the parent, so the child asks again itself. */
static void on_fork(struct uffd_task *parent, int ufd)
{
	struct uffd_ctx *ctx = parent->ctx;
	struct uffd_task *t = calloc(1, sizeof(*t));
	int ret = -ENOMEM;

	if (!t)
		goto err;
	*t = (struct uffd_task){ .ctx = ctx, .img = parent->img, .pid = parent->pid, .uffd = ufd,
				 .pidfd = -1 };
	snprintf(t->name, sizeof(t->name), "%d-%d", t->pid, ufd);
	uffd_ranges_init(&t->todo);
	uffd_ranges_init(&t->pending);
	uffd_ranges_init(&t->asked);
	ret = uffd_ranges_copy(&t->todo, &parent->todo);
	for (size_t i = 0; !ret && i < parent->pending.n; i++) {
		const struct uffd_range *r = &parent->pending.v[i];
		ret = uffd_ranges_add(&t->todo, r->start, r->end, r->img_start);
	}
	if (ret)
		goto err;
	uffd_fault_init(t);
	t->next = ctx->tasks;
	ctx->tasks = t;
	ctx->total_pages += t->todo.pages;
	fl_info(parent->name, "fork: child %s starts with %llu lazy pages", t->name,
		(unsigned long long)t->todo.pages);
	uffd_task_arm(t);
	return;
err:
	if (t)
		uffd_ranges_free(&t->todo);
	free(t);
	close(ufd);
	uffd_fatal(ctx, "%s: cannot track a forked child: %s", parent->name, strerror(-ret));
}

static void drop(struct uffd_task *t, uint64_t start, uint64_t end)
{
	if (uffd_ranges_cut(&t->todo, start, end, NULL) ||
	    uffd_ranges_cut(&t->pending, start, end, NULL))
		uffd_fatal(t->ctx, "out of memory");
}

static void on_remove(struct uffd_task *t, uint64_t start, uint64_t end)
{
	struct uffdio_range r = { .start = start, .len = end - start };

	/* MADV_DONTNEED: the pages read as zero from now on, with no help from us. */
	if (ioctl(t->uffd, UFFDIO_UNREGISTER, &r) && errno == ENOMEM) {
		uffd_task_gone(t, "unregister: process exited");
		return;
	}
	drop(t, start, end);
}

void uffd_event(struct uffd_task *t, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_FORK:
		on_fork(t, (int)m->arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		fl_dbg(t->name, "remap 0x%llx -> 0x%llx (%llu bytes)",
		       (unsigned long long)m->arg.remap.from, (unsigned long long)m->arg.remap.to,
		       (unsigned long long)m->arg.remap.len);
		if (uffd_ranges_remap(&t->todo, m->arg.remap.from, m->arg.remap.to, m->arg.remap.len) ||
		    uffd_ranges_remap(&t->pending, m->arg.remap.from, m->arg.remap.to,
				      m->arg.remap.len))
			uffd_fatal(t->ctx, "out of memory");
		break;
	case UFFD_EVENT_REMOVE:
		fl_dbg(t->name, "remove 0x%llx-0x%llx", (unsigned long long)m->arg.remove.start,
		       (unsigned long long)m->arg.remove.end);
		on_remove(t, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_UNMAP:
		fl_dbg(t->name, "unmap 0x%llx-0x%llx", (unsigned long long)m->arg.remove.start,
		       (unsigned long long)m->arg.remove.end);
		drop(t, m->arg.remove.start, m->arg.remove.end);
		break;
	default:
		fl_warn(t->name, "unexpected uffd event 0x%x", m->event);
	}
	uffd_check_done(t->ctx);
}
