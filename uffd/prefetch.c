/* SPDX-License-Identifier: MIT */
/* Background fetch: after the finish word, every lazy page nobody faulted on
 * is pulled in large chunks, round-robin over the tasks, as long as the fetch
 * backend has room.  Faults never wait for it: they are requested at once,
 * and on a page server that allows it they travel on their own link. */
#include "uffd/lazy.h"

#include <string.h>

#include "common/log.h"

static struct uffd_task *next_with_work(struct uffd_ctx *ctx)
{
	struct uffd_task *start = ctx->bg_cursor ? ctx->bg_cursor : ctx->tasks, *t = start;

	if (!t)
		return NULL;
	do {
		if (!t->exited && t->todo.n)
			return t;
		t = t->next ? t->next : ctx->tasks;
	} while (t != start);
	return NULL;
}

void uffd_prefetch(struct uffd_ctx *ctx)
{
	unsigned room;

	if (!ctx->restored || ctx->closing || ctx->stopped)
		return;
	room = ctx->fetch->bg_room(ctx);
	while (room--) {
		struct uffd_task *t = next_with_work(ctx);
		struct uffd_range r;

		if (!t)
			return;
		int ret = uffd_ranges_take(&t->todo, 0, ctx->opts.bg_pages, &r);
		if (ret == 1)
			ret = uffd_request(t, &r, 0, NULL);
		if (ret < 0) {
			uffd_fatal(ctx, "%s: background request failed: %s", t->name, strerror(-ret));
			return;
		}
		ctx->bg_cursor = t->next;
	}
}
