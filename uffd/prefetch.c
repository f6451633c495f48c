/* SPDX-License-Identifier: MIT */
/* Background fetch: after the finish word, every lazy page nobody faulted on
 * is pulled in large chunks, round-robin over the tasks, as long as the fetch
 * backend has room.  Faults never wait for it: they are requested at once,
 * and on a page server that allows it they travel on their own link.
 *
 * Background also yields to faults for CPU: while a fault is in flight no new
 * background request goes out, and each fault shrinks the chunk back to
 * BG_MIN pages (it doubles again with every chunk), so a faulting thread
 * never waits for a daemon and a server busy with megabytes of prefetch.
 * When faults have their own link and pre-emption (the default with a page
 * server that takes two connections), they never wait behind background data,
 * and this throttle would only cap the background at a small chunk per round
 * trip on a link with delay (512 MiB over 1 Gbit/s with 1 ms each way: 34.6 s
 * with it, 4.7 s without); on such a path a fault only shrinks the chunk to
 * BG_YIELD.
 *
 * Pages whose data is in the local images (a pre-copy merge, with
 * --page-server) go first: they are cheap and need no network. */
#include "uffd/lazy.h"

#include <string.h>

#include "common/log.h"

enum { BG_MIN = 16, FAULT_QUIET_MS = 5 };

/* The throttle above costs a chunk per round trip, which is nothing on a LAN
 * and caps the background on a link with delay.  When faults have their own link
 * and pre-emption (they never wait behind background data on the network) and
 * the path is long (its shortest fault round trip at least LONG_PATH_US), the
 * background keeps its depth while faults come and yields the CPU only with
 * chunks of BG_YIELD pages (one UFFDIO_COPY of 256 KiB is about 70 us here).
 * On loopback the CPU is the shared resource, and the throttle stays. */
enum { BG_YIELD = 64, LONG_PATH_US = 500, UFFD_RTT_WINDOW = 64 };

void uffd_prefetch_rtt(struct uffd_ctx *ctx, uint64_t ns)
{
	if (!ctx->rtt_min_now || ns < ctx->rtt_min_now)
		ctx->rtt_min_now = ns;
	if (++ctx->rtt_n >= UFFD_RTT_WINDOW) {
		ctx->rtt_min_last = ctx->rtt_min_now;
		ctx->rtt_min_now = 0;
		ctx->rtt_n = 0;
	}
}

static int fault_has_own_path(const struct uffd_ctx *ctx)
{
	uint64_t rtt = ctx->rtt_min_last ? ctx->rtt_min_last : ctx->rtt_min_now;

	return !ctx->opts.no_preempt && uffd_remote_fault_link(ctx) &&
	       rtt >= LONG_PATH_US * 1000ull;
}

void uffd_prefetch_fault(struct uffd_ctx *ctx)
{
	unsigned min = fault_has_own_path(ctx) ? BG_YIELD : BG_MIN;

	ctx->bg_chunk = min < ctx->opts.bg_pages ? min : ctx->opts.bg_pages;
	clock_gettime(CLOCK_MONOTONIC, &ctx->last_fault);
}

/* While the process keeps faulting (a fault in the last FAULT_QUIET_MS), at
 * most one small background request is in flight, as in CRIU: a burst of
 * prefetch on the same CPUs would otherwise delay the next fault by
 * milliseconds.  Returns the room the backend's own limit leaves otherwise. */
static unsigned room_now(struct uffd_ctx *ctx)
{
	unsigned room = ctx->fetch->bg_room(ctx);
	struct timespec now;

	if (!ctx->last_fault.tv_sec || fault_has_own_path(ctx))
		return room;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (uffd_elapsed(&ctx->last_fault, &now) * 1000 >= FAULT_QUIET_MS)
		return room;
	return ctx->bg_reqs || !room ? 0 : 1;
}

static unsigned next_chunk(struct uffd_ctx *ctx)
{
	unsigned n = ctx->bg_chunk ? ctx->bg_chunk : ctx->opts.bg_pages;

	ctx->bg_chunk = n * 2 < ctx->opts.bg_pages ? n * 2 : ctx->opts.bg_pages;
	return n;
}

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

/* Requests the next chunk (up to --bg-pages pages) of the hottest ranges not
 * yet fetched, for every task of their pid (forks included), and uses one
 * unit of ROOM for it.  A chunk spans as many map ranges as it takes to fill
 * it, one GET per contiguous piece: a probe's map is mostly single pages
 * scattered over the address space, and one page per unit of room would
 * starve the background.  Pages already fetched or faulted cost nothing.  Hot
 * addresses are dump-time addresses, equal to run-time ones until a task
 * remaps, which is rare this early. */
static int prefetch_hot(struct uffd_ctx *ctx, unsigned *room)
{
	uint64_t budget = next_chunk(ctx), gets = 0;
	int ret = 0;

	while (!ret && budget && ctx->hot_next < ctx->hot.n) {
		struct uffd_hot *h = &ctx->hot.v[ctx->hot_next];
		uint64_t end = h->start + budget * 4096, got = 0;

		if (end > h->end || end < h->start)
			end = h->end;
		for (struct uffd_task *t = ctx->tasks; t && !ret; t = t->next) {
			struct uffd_ranges cut;

			if (t->pid != h->vpid || t->exited)
				continue;
			uffd_ranges_init(&cut);
			ret = uffd_ranges_cut(&t->todo, h->start, end, &cut);
			for (size_t i = 0; !ret && i < cut.n; i++)
				ret = uffd_request(t, &cut.v[i], 0, NULL);
			got += cut.pages;
			gets += cut.n;
			uffd_ranges_free(&cut);
		}
		budget -= got < budget ? got : budget;
		h->start = end;
		if (h->start >= h->end)
			ctx->hot_next++;
	}
	if (gets && *room)
		(*room)--;
	return ret;
}

/* Requests local todo ranges, chunk by chunk, while the local backend has
 * room (returns -errno after uffd_fatal on failure); marks the ctx drained once a full pass finds none (todo only shrinks,
 * and a fork copies its parent's todo). */
static int prefetch_local(struct uffd_ctx *ctx)
{
	unsigned room;

	if (!ctx->local_fetch || ctx->local_drained)
		return 0;
	room = ctx->local_fetch->bg_room(ctx);
	for (struct uffd_task *t = ctx->tasks; t && room; t = t->next) {
		for (size_t i = 0; !t->exited && i < t->todo.n && room;) {
			const struct uffd_range *r = &t->todo.v[i];
			struct uffd_range out;

			if (!uffd_local_covers(t, r->img_start, 1)) {
				i++;
				continue;
			}
			/* Index i now holds the rest of this range, or the next one. */
			int ret = uffd_ranges_take(&t->todo, r->start, ctx->opts.bg_pages, &out);
			if (ret == 1)
				ret = uffd_request(t, &out, 0, NULL);
			if (ret < 0) {
				uffd_fatal(ctx, "%s: local background request failed: %s", t->name,
					   strerror(-ret));
				return ret;
			}
			room--;
		}
	}
	if (room)
		ctx->local_drained = 1;
	return 0;
}

void uffd_prefetch(struct uffd_ctx *ctx)
{
	unsigned room;

	if (!ctx->restored || ctx->closing || ctx->stopped ||
	    (ctx->fault_reqs && !fault_has_own_path(ctx)))
		return;
	if (prefetch_local(ctx))
		return;
	room = room_now(ctx);
	while (room && ctx->hot_next < ctx->hot.n) {
		int ret = prefetch_hot(ctx, &room);
		if (ret) {
			uffd_fatal(ctx, "hot prefetch failed: %s", strerror(-ret));
			return;
		}
	}
	while (room--) {
		struct uffd_task *t = next_with_work(ctx);
		struct uffd_range r;

		if (!t)
			return;
		int ret = uffd_ranges_take(&t->todo, 0, next_chunk(ctx), &r);
		if (ret == 1)
			ret = uffd_request(t, &r, 0, NULL);
		if (ret < 0) {
			uffd_fatal(ctx, "%s: background request failed: %s", t->name, strerror(-ret));
			return;
		}
		ctx->bg_cursor = t->next;
	}
}
