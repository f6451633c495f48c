/* SPDX-License-Identifier: MIT */
/* The fault path, in one place:
 *
 *   uffd read completes (read_done)
 *     -> PAGEFAULT messages of the batch, coalesced (on_faults)
 *        -> page in flight already?     wait: the copy will wake the thread; but if
 *           it is in a background request, ask for it again on the fault link
 *           (uffd_preempt): the background reply may sit behind megabytes
 *        -> page lazy and not asked for? cut it from todo into pending, GET it
 *           (from the local pages file when its data is there: uffd_local_covers)
 *        -> otherwise                    UFFDIO_ZEROPAGE (a registered page that was never dumped)
 *   fetch backend completes a request (uffd_deliver)
 *     -> for each pending piece the reply covers: UFFDIO_COPY, which maps the
 *        pages and wakes the faulting threads; the piece leaves pending
 *
 * Other events (FORK, REMAP, REMOVE, UNMAP) are in events.c; they edit the
 * todo/pending sets, so a reply always lands where the pages are now. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/lazy.h"

enum { PAGE = 4096, MAX_SPANS = 64 };

static void read_done(struct xport_op *op, int res);

/* Markers for `faultline probe fault-latency`, which puts uprobes on them
 * (bpf/fault_latency.bpf.c).  Each is a 5-byte nop and a return, nothing
 * else: an uprobe on a 5-byte nop costs ~0.25 us here, on any other first
 * instruction ~20 us (an int3 trap). */
#define MARKER __attribute__((naked, noinline, used))
#define UNUSED __attribute__((unused))

MARKER void uffd_trace_copy(UNUSED uint64_t dst, UNUSED uint64_t len, UNUSED uint64_t read_ns)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\tret");
}

MARKER void uffd_trace_task(UNUSED int32_t real_pid)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\tret");
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return ts ? (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec : 0;
}

void uffd_fault_init(struct uffd_task *t)
{
	t->read_op.done = read_done;
	/* poll() on a uffd without O_NONBLOCK reports POLLERR. */
	fcntl(t->uffd, F_SETFL, fcntl(t->uffd, F_GETFL) | O_NONBLOCK);
}

/* The uffd is polled on the ring and read with read(2) in read_done, never
 * with an io_uring read.  FORK, REMAP and REMOVE hold the process only until
 * their message is read; an io_uring read takes it at a moment of its own
 * (task work, e.g. on return from an UFFDIO_COPY), and replies handled
 * before its completion would still be copied with the old view of the
 * address space: into the parent alone after a fork (the child then faults
 * and gets a zero page), to the old address after an mremap (ENOENT: the
 * pages are dropped), into a range MADV_DONTNEED has just emptied.  Read
 * here, every event is handled before the next UFFDIO_COPY, and a copy that
 * races with an unread event fails with EAGAIN and is retried. */
void uffd_task_arm(struct uffd_task *t)
{
	if (t->read_busy || t->exited || t->ctx->stopped)
		return;
	struct io_uring_sqe *sqe = xport_ring_sqe(&t->ctx->ring, &t->read_op);
	io_uring_prep_poll_add(sqe, t->uffd, POLLIN);
	t->read_busy = 1;
}

void uffd_task_gone(struct uffd_task *t, const char *why)
{
	if (t->exited)
		return;
	fl_info(t->name, "task gone (%s); %llu lazy pages not needed", why,
		(unsigned long long)(t->todo.pages + t->pending.pages));
	t->exited = 1;
	uffd_ranges_free(&t->todo);
	uffd_ranges_free(&t->pending);
	uffd_ranges_free(&t->asked);
	uffd_check_done(t->ctx);
}

/* ESRCH and ENOSPC: the process has exited; EEXIST, EAGAIN, ENOENT: recoverable. */
static int gone_errno(int err)
{
	return err == ESRCH || err == ENOSPC;
}

static void zero_page(struct uffd_task *t, uint64_t addr)
{
	struct uffdio_zeropage z = { .range = { .start = addr, .len = PAGE } };

	if (ioctl(t->uffd, UFFDIO_ZEROPAGE, &z) == 0) {
		t->zero_pages++;
		t->ctx->stats.zeroed++;
		return;
	}
	if (errno == EEXIST) {
		/* Someone filled it meanwhile; make sure the faulting thread runs. */
		struct uffdio_range r = { .start = addr, .len = PAGE };
		ioctl(t->uffd, UFFDIO_WAKE, &r);
	} else if (gone_errno(errno)) {
		uffd_task_gone(t, "zeropage: process exited");
	} else if (errno != ENOENT && errno != EAGAIN) {
		uffd_fatal(t->ctx, "%s: UFFDIO_ZEROPAGE 0x%llx: %s", t->name,
			   (unsigned long long)addr, strerror(errno));
	}
}

int uffd_request(struct uffd_task *t, const struct uffd_range *r, int fault,
		 const struct timespec *t0)
{
	struct uffd_req *req = calloc(1, sizeof(*req));
	int ret;

	if (!req)
		return -ENOMEM;
	ret = uffd_ranges_add(&t->pending, r->start, r->end, r->img_start);
	if (ret) {
		free(req);
		return ret;
	}
	if (fault) {
		t->ctx->fault_reqs++;
		uffd_prefetch_fault(t->ctx);
		ret = uffd_ranges_add(&t->asked, r->img_start, r->img_start + (r->end - r->start), 0);
		if (ret) {
			free(req);
			return ret;
		}
	} else {
		t->ctx->bg_reqs++;
	}
	req->task = t;
	req->img_addr = r->img_start;
	req->nr = (r->end - r->start) / PAGE;
	req->fault = fault;
	req->local = uffd_local_covers(t, req->img_addr, req->nr);
	if (t0)
		req->t0 = *t0;
	if (req->local)
		return t->ctx->local_fetch->submit(t->ctx, req);
	return t->ctx->fetch->submit(t->ctx, req);
}

/* A fault on page A, already in flight (pending piece P).  If a background
 * request carries it, that reply may be queued behind megabytes of other
 * background data; ask for this one page again on the fault link.  Whichever
 * reply comes first is copied, the other finds the page no longer pending. */
static void uffd_preempt(struct uffd_task *t, const struct uffd_range *p, uint64_t a,
			 const struct timespec *t0)
{
	uint64_t img = p->img_start + (a - p->start);
	struct uffd_req *req;

	if (t->ctx->opts.no_preempt || !uffd_remote_fault_link(t->ctx) ||
	    uffd_ranges_find(&t->asked, img) || uffd_local_covers(t, img, 1))
		return; /* a fault request is out already, or the data is local */
	req = calloc(1, sizeof(*req));
	if (!req || uffd_ranges_add(&t->asked, img, img + PAGE, 0)) {
		free(req);
		uffd_fatal(t->ctx, "out of memory");
		return;
	}
	*req = (struct uffd_req){ .task = t, .img_addr = img, .nr = 1, .fault = 1, .dup = 1,
				  .t0 = *t0 };
	t->ctx->fault_reqs++;
	uffd_prefetch_fault(t->ctx);
	if (t->ctx->fetch->submit(t->ctx, req))
		uffd_fatal(t->ctx, "%s: cannot request page 0x%llx", t->name, (unsigned long long)a);
}

/* Faults on consecutive pages of one batch become one request. */
static void request_run(struct uffd_task *t, uint64_t start, uint64_t end,
			const struct timespec *t0)
{
	struct uffd_ranges cut;
	int ret;

	uffd_ranges_init(&cut);
	ret = uffd_ranges_cut(&t->todo, start, end, &cut);
	for (size_t i = 0; !ret && i < cut.n; i++)
		ret = uffd_request(t, &cut.v[i], 1, t0);
	if (ret)
		uffd_fatal(t->ctx, "%s: cannot request pages: %s", t->name, strerror(-ret));
	uffd_ranges_free(&cut);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void on_faults(struct uffd_task *t, uint64_t *addrs, size_t n, const struct timespec *t0)
{
	uint64_t run_start = 0, run_end = 0;

	qsort(addrs, n, sizeof(*addrs), cmp_u64);
	for (size_t i = 0; i < n && !t->exited; i++) {
		uint64_t a = addrs[i] & ~(uint64_t)(PAGE - 1);

		t->faults++;
		if (a >= run_start && a < run_end)
			continue; /* a duplicate within the batch */
		const struct uffd_range *p = uffd_ranges_find(&t->pending, a);
		if (p) {
			uffd_preempt(t, p, a, t0); /* its copy wakes this thread too */
			continue;
		}
		const struct uffd_range *r = uffd_ranges_find(&t->todo, a);
		if (!r) {
			uffd_trace_copy(a, PAGE, ts_ns(t0));
			zero_page(t, a);
			continue;
		}
		if (a == run_end && r == uffd_ranges_find(&t->todo, run_start)) {
			run_end += PAGE; /* extends the current run, same range */
			continue;
		}
		if (run_end > run_start)
			request_run(t, run_start, run_end, t0);
		run_start = a;
		run_end = a + PAGE;
	}
	if (run_end > run_start && !t->exited)
		request_run(t, run_start, run_end, t0);
}

static void read_done(struct xport_op *op, int res)
{
	struct uffd_task *t = (struct uffd_task *)((char *)op - offsetof(struct uffd_task, read_op));
	uint64_t faults[UFFD_MSG_BATCH];
	struct timespec t0;
	size_t nf = 0;

	t->read_busy = 0;
	if (t->exited || t->ctx->stopped)
		return;
	if (res >= 0) {
		ssize_t n = read(t->uffd, t->msgs, sizeof(t->msgs));
		res = n < 0 ? -errno : (int)n;
	}
	if (res == -EAGAIN || res == -EINTR) {
		uffd_task_arm(t);
		return;
	}
	if (res < 0) {
		uffd_task_gone(t, strerror(-res));
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; res > 0 && i < res / (int)sizeof(struct uffd_msg); i++) {
		const struct uffd_msg *m = &t->msgs[i];

		if (m->event == UFFD_EVENT_PAGEFAULT) {
			faults[nf++] = m->arg.pagefault.address;
			continue;
		}
		/* Events change the address space: settle earlier faults first. */
		on_faults(t, faults, nf, &t0);
		nf = 0;
		uffd_event(t, m);
	}
	on_faults(t, faults, nf, &t0);
	uffd_task_arm(t);
}

/* One UFFDIO_COPY of LEN bytes; returns bytes done (maybe short), or -errno. */
static long copy_pages(struct uffd_task *t, uint64_t dst, const uint8_t *src, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		struct uffdio_copy c = { .dst = dst + done, .src = (uint64_t)(uintptr_t)(src + done),
					 .len = len - done };
		if (ioctl(t->uffd, UFFDIO_COPY, &c) == 0) {
			done = len;
			break;
		}
		int err = errno;
		if (c.copy > 0)
			done += (uint64_t)c.copy;
		if (err == EEXIST) {
			done += PAGE; /* already there (e.g. eagerly restored): skip it */
			continue;
		}
		if (err == EAGAIN && c.copy > 0)
			continue;
		return done ? (long)done : -err;
	}
	return (long)done;
}

struct span {
	uint64_t dst, img, len;
};

/* Pending pieces of T that overlap dump-time [ia, ie). */
static size_t find_spans(const struct uffd_task *t, uint64_t ia, uint64_t ie, struct span *s)
{
	size_t n = 0;

	for (size_t i = 0; i < t->pending.n && n < MAX_SPANS; i++) {
		const struct uffd_range *p = &t->pending.v[i];
		uint64_t pa = p->img_start, pe = p->img_start + (p->end - p->start);
		uint64_t lo = pa > ia ? pa : ia, hi = pe < ie ? pe : ie;

		if (lo < hi)
			s[n++] = (struct span){ .dst = p->start + (lo - pa), .img = lo, .len = hi - lo };
	}
	return n;
}

/* Copies what it can; returns 1 if some span must be retried later (EAGAIN). */
static int copy_spans(struct uffd_task *t, const struct uffd_req *req, const uint8_t *data)
{
	struct span s[MAX_SPANS];
	size_t n = find_spans(t, req->img_addr, req->img_addr + req->nr * PAGE, s);
	int retry = 0;

	for (size_t i = 0; i < n && !t->exited; i++) {
		uffd_trace_copy(s[i].dst, s[i].len, ts_ns(&req->t0));
		long ret = copy_pages(t, s[i].dst, data + (s[i].img - req->img_addr), s[i].len);
		uint64_t done = ret > 0 ? (uint64_t)ret : 0;

		if (ret == -EAGAIN) {
			retry = 1;
			continue;
		}
		if (ret < 0 && gone_errno((int)-ret)) {
			uffd_task_gone(t, "copy: process exited");
			break;
		}
		if (ret < 0 && ret != -ENOENT)
			uffd_fatal(t->ctx, "%s: UFFDIO_COPY 0x%llx+%llu: %s", t->name,
				   (unsigned long long)s[i].dst, (unsigned long long)s[i].len,
				   strerror((int)-ret));
		/* Copied, or gone from the address space (ENOENT): no longer pending. */
		uint64_t drop = ret < 0 ? s[i].len : done;
		if (uffd_ranges_cut(&t->pending, s[i].dst, s[i].dst + drop, NULL))
			uffd_fatal(t->ctx, "out of memory");
		t->copied_pages += done / PAGE;
		retry |= done < s[i].len && ret >= 0;
	}
	return retry;
}

void uffd_deliver(struct uffd_ctx *ctx, struct uffd_req *req, const uint8_t *data)
{
	struct uffd_task *t = req->task;
	struct timespec now;

	if (!t->exited && copy_spans(t, req, data) && !t->exited) {
		/* EAGAIN: an mm change is in progress and its event is queued on
		 * the uffd; retry once the loop has read it (uffd_retry). */
		if (!req->data) {
			req->data = malloc(req->nr * PAGE);
			if (!req->data) {
				uffd_fatal(ctx, "out of memory");
				return;
			}
			memcpy(req->data, data, req->nr * PAGE);
		}
		req->next = ctx->retry;
		ctx->retry = req;
		return;
	}
	if (req->fault) {
		ctx->fault_reqs--;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uffd_hist_add(&ctx->stats.lat, (uint64_t)(uffd_elapsed(&req->t0, &now) * 1e9));
		if (!req->local)
			uffd_prefetch_rtt(ctx, (uint64_t)(uffd_elapsed(&req->t0, &now) * 1e9));
		if (!t->exited && uffd_ranges_cut(&t->asked, req->img_addr, req->img_addr + req->nr * PAGE,
						  NULL))
			uffd_fatal(ctx, "out of memory");
	}
	if (req->dup) {
		/* Its page also counts in the background request that carried it. */
		ctx->stats.dup += req->nr;
		free(req);
		uffd_check_done(ctx);
		return;
	}
	if (req->fault) {
		ctx->stats.faulted += req->nr;
	} else {
		ctx->bg_reqs--;
		ctx->stats.prefetched += req->nr;
	}
	ctx->stats.bytes += req->nr * PAGE;
	if (req->local || !ctx->remote)
		ctx->stats.local += req->nr;
	else
		ctx->stats.remote += req->nr;
	free(req->data);
	free(req);
	uffd_progress(ctx, 0);
	uffd_check_done(ctx);
}

void uffd_retry(struct uffd_ctx *ctx)
{
	struct uffd_req *list = ctx->retry;

	ctx->retry = NULL;
	while (list) {
		struct uffd_req *req = list;

		list = req->next;
		req->next = NULL;
		uffd_deliver(ctx, req, req->data);
	}
}
