/* SPDX-License-Identifier: MIT */
/* `faultline precopy send`: tracking a process tree, pre-copy rounds and the
 * final pass, written as an FLPC v1 stream (see precopy_send.h). */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bpf/precopy_send.h"
#include "bpf/procfs.h"
#include "bpf/targets.h"
#include "common/log.h"

enum { VEC_LEN = 4096, IOV_BATCH = 512, REC = sizeof(struct probe_flpc_rec), PAGE = PROBE_FLPC_PAGE };

/* What a pass does with the pages it finds. */
enum pass_mode { PASS_FULL, PASS_ROUND, PASS_FINAL_DATA, PASS_FINAL_INVALIDATE };

uint64_t probe_pc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Writes out the buffer.  Returns 0, -EPIPE (the reader is gone) or -errno. */
static int flush(struct probe_pc_ctx *c)
{
	size_t off = 0;

	while (off < c->len) {
		ssize_t n = write(c->o.out_fd, c->buf + off, c->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->o.out_fd, .events = POLLOUT };

			poll(&p, 1, -1);
			continue;
		}
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			fprintf(stderr, "precopy send: writing the stream: %s%s\n", strerror(err),
				err == EPIPE ? " (its reader closed it)" : "");
			return -err;
		}
		off += (size_t)n;
	}
	c->bytes += c->len;
	c->len = 0;
	return 0;
}

static void put_hdr(uint8_t *at, uint32_t type, pid_t pid, uint64_t vaddr, uint64_t n)
{
	struct probe_flpc_rec r = { htole32(type), htole32((uint32_t)pid), htole64(vaddr), htole64(n) };

	memcpy(at, &r, sizeof(r));
}

/* Appends a record without data.  Returns 0 or -errno from flushing. */
static int put_rec(struct probe_pc_ctx *c, uint32_t type, pid_t pid, uint64_t vaddr, uint64_t n)
{
	int ret = c->cap - c->len < REC ? flush(c) : 0;

	if (ret)
		return ret;
	put_hdr(c->buf + c->len, type, pid, vaddr, n);
	c->len += REC;
	return 0;
}

/* INVALIDATE records for every range of R (normalized).  Adds to *PAGES. */
static int put_invalidate(struct probe_pc_ctx *c, const struct probe_pc_proc *p,
			  const struct probe_ranges *r, uint64_t *pages)
{
	for (size_t i = 0; i < r->n; i++) {
		uint64_t n = (r->v[i].end - r->v[i].start) / PAGE;
		int ret = put_rec(c, PROBE_FLPC_INVALIDATE, p->vpid, r->v[i].start, n);

		if (ret)
			return ret;
		*pages += n;
	}
	return 0;
}

/* Where reading a list of runs has got to. */
struct cursor {
	const struct probe_range *v;
	size_t n, i;
	uint64_t at;
};

static void cursor_set(struct cursor *k, size_t i, uint64_t at)
{
	k->i = i;
	k->at = at;
	if (i < k->n && at >= k->v[i].end) {
		k->i++;
		k->at = k->i < k->n ? k->v[k->i].start : 0;
	}
}

struct batch {
	struct iovec lio[IOV_BATCH], rio[IOV_BATCH];
	size_t hdr[IOV_BATCH], run[IOV_BATCH];
	size_t n;
};

/* Lays out PAGES records for the runs at K in the free part of the buffer. */
static void plan(struct probe_pc_ctx *c, struct cursor *k, struct batch *b)
{
	size_t off = c->len;

	b->n = 0;
	while (k->i < k->n && b->n < IOV_BATCH && c->cap - off >= REC + PAGE) {
		uint64_t want = (k->v[k->i].end - k->at) / PAGE, room = (c->cap - off - REC) / PAGE;
		uint64_t n = want < room ? want : room;

		b->hdr[b->n] = off;
		b->run[b->n] = k->i;
		b->lio[b->n] = (struct iovec){ c->buf + off + REC, n * PAGE };
		b->rio[b->n] = (struct iovec){ (void *)(uintptr_t)k->at, n * PAGE };
		b->n++;
		off += REC + n * PAGE;
		cursor_set(k, k->i, k->at + n * PAGE);
	}
}

/* Reads one batch of runs from K with process_vm_readv straight into the
 * buffer behind their headers.  A page it cannot read (unmapped meanwhile)
 * gets an INVALIDATE record, and reading goes on after it. */
static int read_batch(struct probe_pc_ctx *c, const struct probe_pc_proc *p, struct cursor *k,
		      struct probe_pc_round *r)
{
	struct batch b;
	ssize_t got;
	uint64_t left;

	plan(c, k, &b);
	if (!b.n)
		return flush(c);
	got = process_vm_readv(p->pid, b.lio, b.n, b.rio, b.n, 0);
	if (got < 0 && errno != EFAULT) {
		int err = errno;

		if (err == ESRCH)
			fprintf(stderr, "precopy send: pid %d (vpid %d) exited\n", (int)p->pid, (int)p->vpid);
		else
			fprintf(stderr, "precopy send: pid %d: process_vm_readv at %p: %s\n", (int)p->pid,
				b.rio[0].iov_base, strerror(err));
		return -err;
	}
	left = got < 0 ? 0 : (uint64_t)got;
	for (size_t i = 0; i < b.n; i++) {
		uint64_t want = b.rio[i].iov_len, have = (left < want ? left : want) / PAGE * PAGE;
		uint64_t at = (uint64_t)(uintptr_t)b.rio[i].iov_base;

		left -= left < want ? left : want;
		if (have) {
			put_hdr(c->buf + b.hdr[i], PROBE_FLPC_PAGES, p->vpid, at, have / PAGE);
			c->len = b.hdr[i] + REC + have;
			r->pages += have / PAGE;
			c->total_pages += have / PAGE;
		}
		if (have < want) {
			/* The slot had room for this header: at least a page is unused. */
			c->len = have ? c->len : b.hdr[i];
			fl_dbg(p->wp.name, "cannot read %#llx: invalidated", (unsigned long long)(at + have));
			put_hdr(c->buf + c->len, PROBE_FLPC_INVALIDATE, p->vpid, at + have, 1);
			c->len += REC;
			r->invalidated++;
			cursor_set(k, b.run[i], at + have + PAGE);
			return 0;
		}
	}
	return 0;
}

/* PAGES records for every page of R (normalized runs of pages with data). */
static int send_runs(struct probe_pc_ctx *c, const struct probe_pc_proc *p, const struct probe_ranges *r,
		     struct probe_pc_round *rd)
{
	struct cursor k = { r->v, r->n, 0, r->n ? r->v[0].start : 0 };
	int ret = 0;

	while (!ret && k.i < k.n) {
		if (c->cap - c->len < REC + PAGE && (ret = flush(c)))
			break;
		ret = read_batch(c, p, &k, rd);
	}
	return ret;
}

/* 1 if any swap area is active (/proc/swaps lists more than its header). */
static int swap_active(void)
{
	static int active = -1;
	char line[256];
	FILE *f;

	if (active >= 0)
		return active;
	f = fopen("/proc/swaps", "re");
	active = 1; /* unknown: assume swapped pages may exist */
	if (f) {
		int n = 0;

		while (fgets(line, sizeof(line), f))
			n++;
		fclose(f);
		active = n > 1;
	}
	return active;
}

/* Appends [S, E), pages PAGEMAP_SCAN called swapped, to OUT if they may really
 * be in swap.  It also reports uffd-wp markers (which WP_UNPOPULATED leaves on
 * pages never populated) as PAGE_IS_SWAPPED, and so does the pagemap's PM_SWAP:
 * without an active swap area they can only be markers, holding no data. */
static int add_swapped(uint64_t s, uint64_t e, struct probe_ranges *out)
{
	return swap_active() ? probe_ranges_add(out, s, e) : 0;
}

/* Appends the runs of [S, E) that hold data (present, not the zero page, or in
 * swap) to OUT. */
static int add_present(struct probe_pc_ctx *c, const struct probe_pc_proc *p, uint64_t s, uint64_t e,
		       struct probe_ranges *out)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = s,
		.end = e,
		.vec = (uint64_t)(uintptr_t)c->vec,
		.vec_len = VEC_LEN,
		.category_mask = PAGE_IS_PFNZERO,
		.category_inverted = PAGE_IS_PFNZERO,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};

	for (;;) {
		long n = ioctl(p->wp.pagemap, PAGEMAP_SCAN, &a);
		int ret = 0;

		if (n < 0)
			return errno == ENOMEM || errno == EINVAL ? 0 : -errno; /* gone meanwhile */
		for (long i = 0; i < n && !ret; i++) {
			if (c->vec[i].categories & PAGE_IS_PRESENT)
				ret = probe_ranges_add(out, c->vec[i].start, c->vec[i].end);
			else
				ret = add_swapped(c->vec[i].start, c->vec[i].end, out);
		}
		if (ret)
			return ret;
		if (a.walk_end >= e || (a.walk_end <= a.start && !n))
			return 0;
		a.start = a.walk_end;
	}
}

/* OUT = A minus B, both sorted and without overlaps. */
static int subtract(const struct probe_ranges *a, const struct probe_ranges *b, struct probe_ranges *out)
{
	size_t j = 0;
	int ret = 0;

	for (size_t i = 0; i < a->n && !ret; i++) {
		uint64_t s = a->v[i].start, e = a->v[i].end;

		while (j < b->n && b->v[j].end <= s)
			j++;
		for (size_t k = j; k < b->n && b->v[k].start < e && s < e && !ret; k++) {
			if (b->v[k].start > s)
				ret = probe_ranges_add(out, s, b->v[k].start);
			if (b->v[k].end > s)
				s = b->v[k].end;
		}
		if (s < e && !ret)
			ret = probe_ranges_add(out, s, e);
	}
	return ret;
}

static int copy_ranges(struct probe_ranges *dst, const struct probe_ranges *src)
{
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++) {
		int ret = probe_ranges_add(dst, src->v[i].start, src->v[i].end);

		if (ret)
			return ret;
	}
	return 0;
}

static int on_dirty(void *arg, uint64_t s, uint64_t e)
{
	struct probe_pc_proc *p = arg;
	int ret = probe_ranges_add(&p->dirty, s, e);

	return ret ? (p->err = ret) : 0;
}

static int on_untracked(void *arg, uint64_t s, uint64_t e)
{
	struct probe_pc_proc *p = arg;
	int ret = probe_ranges_add(&p->untracked, s, e);

	fl_dbg(p->wp.name, "%#llx-%#llx was not tracked continuously: copied whole",
	       (unsigned long long)s, (unsigned long long)e);
	return ret ? (p->err = ret) : 0;
}

/* Scans P once (not for PASS_FULL), filling p->dirty and p->untracked. */
static int scan_proc(struct probe_pc_proc *p, enum pass_mode m, struct probe_pc_round *r)
{
	long got;

	p->dirty.n = p->untracked.n = 0;
	p->err = 0;
	if (m == PASS_FULL)
		return copy_ranges(&p->untracked, &p->wp.now);
	got = probe_wp_round(&p->wp, on_dirty, p);
	if (p->err)
		return p->err;
	if (got == -ESRCH) {
		fprintf(stderr, "precopy send: pid %d (vpid %d) exited\n", (int)p->pid, (int)p->vpid);
		return -ESRCH;
	}
	if (got == -ESTALE) {
		fprintf(stderr, "precopy send: pid %d executed a new program: not supported\n", (int)p->pid);
		return -ESTALE;
	}
	if (got < 0) {
		fprintf(stderr, "precopy send: pid %d: PAGEMAP_SCAN: %s\n", (int)p->pid, strerror((int)-got));
		return (int)got;
	}
	r->dirty += (uint64_t)got;
	return 0;
}

/* One pass over P: scan, then INVALIDATE what is stale and send (or with
 * PASS_FINAL_INVALIDATE invalidate) what was written or not tracked. */
static int pass_proc(struct probe_pc_ctx *c, struct probe_pc_proc *p, enum pass_mode m,
		     struct probe_pc_round *r)
{
	struct probe_ranges lost = { 0 }, send = { 0 };
	int ret = copy_ranges(&p->old_now, &p->wp.now);

	if (!ret)
		ret = scan_proc(p, m, r);
	/* Registered before, not now (unmapped, no longer writable, split off):
	 * what was sent of it may be stale. */
	if (!ret && m != PASS_FULL)
		ret = subtract(&p->old_now, &p->wp.now, &lost);
	if (!ret && m == PASS_FINAL_INVALIDATE) {
		ret = copy_ranges(&send, &p->dirty);
		for (size_t i = 0; !ret && i < p->untracked.n; i++)
			ret = probe_ranges_add(&send, p->untracked.v[i].start, p->untracked.v[i].end);
		for (size_t i = 0; !ret && i < lost.n; i++)
			ret = probe_ranges_add(&send, lost.v[i].start, lost.v[i].end);
		probe_ranges_normalize(&send);
		if (!ret)
			ret = put_invalidate(c, p, &send, &r->invalidated);
		goto out;
	}
	if (!ret)
		ret = put_invalidate(c, p, &lost, &r->invalidated);
	if (!ret)
		ret = copy_ranges(&send, &p->dirty);
	for (size_t i = 0; !ret && i < p->untracked.n; i++)
		ret = add_present(c, p, p->untracked.v[i].start, p->untracked.v[i].end, &send);
	probe_ranges_normalize(&send);
	if (!ret)
		ret = send_runs(c, p, &send, r);
out:
	if (ret == -ENOMEM)
		fprintf(stderr, "precopy send: out of memory\n");
	probe_ranges_free(&lost);
	probe_ranges_free(&send);
	return ret;
}

int probe_pc_any_gone(const struct probe_pc_ctx *c, pid_t *pid)
{
	for (size_t i = 0; i < c->nprocs; i++) {
		struct pollfd p = { .fd = c->procs[i].wp.pidfd, .events = POLLIN };

		if (c->procs[i].tracking && poll(&p, 1, 0) > 0) {
			*pid = c->procs[i].pid;
			return 1;
		}
	}
	return 0;
}

static long find_proc(const struct probe_pc_ctx *c, pid_t pid)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].pid == pid)
			return (long)i;
	return -1;
}

/* Fails unless the tree under o.pid is still exactly the tracked processes. */
static int check_tree(const struct probe_pc_ctx *c)
{
	struct probe_pids now = { 0 };
	pid_t gone;
	int ret = probe_pids_add_tree(&now, c->o.pid);

	if (!ret && probe_pc_any_gone(c, &gone)) {
		fprintf(stderr, "precopy send: pid %d exited\n", (int)gone);
		ret = -ESRCH;
	}
	for (size_t i = 0; !ret && i < now.n; i++)
		if (find_proc(c, now.v[i]) < 0) {
			fprintf(stderr, "precopy send: pid %d appeared in the tree of pid %d after "
				"tracking began: processes forked while tracking are not supported\n",
				(int)now.v[i], (int)c->o.pid);
			ret = -ECHILD;
		}
	probe_pids_free(&now);
	return ret;
}

static int attach_one(struct probe_pc_ctx *c, struct probe_pc_proc *p, pid_t pid)
{
	char err[256] = "";
	pid_t tgid;
	int ret = fl_proc_ids(pid, &tgid, &p->vpid);

	if (ret) {
		fprintf(stderr, "precopy send: pid %d: %s\n", (int)pid,
			ret == -ENOENT || ret == -ESRCH ? "no such process" : strerror(-ret));
		return ret;
	}
	if (tgid != pid) {
		fprintf(stderr, "precopy send: pid %d is a thread of process %d: give the process\n",
			(int)pid, (int)tgid);
		return -EINVAL;
	}
	ret = probe_wp_attach(&p->wp, pid, c->o.wp_max_vma, c->o.stop_timeout_ms, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "precopy send: pid %d: %s\n", (int)pid, err);
		return ret;
	}
	p->pid = pid;
	p->tracking = 1;
	p->wp.on_untracked = on_untracked;
	p->wp.untracked_arg = p;
	if (c->o.verbose)
		fprintf(stderr, "precopy send: pid %d (vpid %d): tracking %.1f MiB in %zu mappings\n",
			(int)pid, (int)p->vpid, (double)p->wp.registered_pages / 256.0, p->wp.now.n);
	return 0;
}

int probe_pc_start(struct probe_pc_ctx *c)
{
	struct probe_pids tree = { 0 };
	uint32_t ver = htole32(PROBE_FLPC_VERSION);
	int ret;

	c->cap = c->o.buf_size < 2 * (REC + PAGE) ? 2 * (REC + PAGE) : c->o.buf_size;
	c->buf = malloc(c->cap);
	c->vec = calloc(VEC_LEN, sizeof(*c->vec));
	ret = c->buf && c->vec ? probe_pids_add_tree(&tree, c->o.pid) : -ENOMEM;
	if (!ret && !(c->procs = calloc(tree.n, sizeof(*c->procs))))
		ret = -ENOMEM;
	if (ret == -ENOMEM)
		fprintf(stderr, "precopy send: out of memory\n");
	for (size_t i = 0; !ret && i < tree.n; i++) {
		ret = attach_one(c, &c->procs[i], tree.v[i]);
		c->nprocs += !ret;
	}
	probe_pids_free(&tree);
	if (!ret)
		ret = check_tree(c);
	if (ret)
		return ret;
	memcpy(c->buf, PROBE_FLPC_MAGIC, 4);
	memcpy(c->buf + 4, &ver, 4);
	c->len = PROBE_FLPC_HDR_SIZE;
	c->last_scan_ns = probe_pc_now_ns();
	return flush(c);
}

/* One pass over every process; R's counters add up. */
static int pass_all(struct probe_pc_ctx *c, enum pass_mode m, struct probe_pc_round *r)
{
	uint64_t t0 = probe_pc_now_ns(), b0 = c->bytes + c->len;
	double since = (double)(t0 - c->last_scan_ns) / 1e9;
	int ret = check_tree(c);
	pid_t gone;

	memset(r, 0, sizeof(*r));
	r->round = c->rounds;
	c->last_scan_ns = t0;
	for (size_t i = 0; !ret && i < c->nprocs; i++)
		ret = pass_proc(c, &c->procs[i], m, r);
	/* A process that died during the pass may have been read as empty. */
	if (!ret && probe_pc_any_gone(c, &gone)) {
		fprintf(stderr, "precopy send: pid %d exited during round %llu\n", (int)gone,
			(unsigned long long)c->rounds);
		ret = -ESRCH;
	}
	if (m == PASS_FULL)
		r->dirty = r->pages;
	r->seconds = (double)(probe_pc_now_ns() - t0) / 1e9;
	r->dirty_rate = since > 0 && m != PASS_FULL ? (double)r->dirty / since : 0;
	r->bytes = c->bytes + c->len - b0;
	return ret;
}

int probe_pc_round(struct probe_pc_ctx *c, struct probe_pc_round *r)
{
	int ret = pass_all(c, c->rounds ? PASS_ROUND : PASS_FULL, r);

	if (!ret)
		ret = put_rec(c, PROBE_FLPC_ROUND, 0, c->rounds, r->pages);
	if (!ret)
		ret = flush(c);
	r->bytes += REC;
	c->rounds += !ret;
	c->prev_dirty = r->dirty;
	return ret;
}

enum probe_pc_stop probe_pc_should_stop(const struct probe_pc_opts *o, const struct probe_pc_round *r,
					uint64_t prev_dirty)
{
	if (o->max_rounds > 0 && r->round + 1 >= (uint64_t)o->max_rounds)
		return PROBE_PC_MAX_ROUNDS;
	if (r->round == 0)
		return PROBE_PC_GO_ON;
	if (r->dirty <= o->stop_dirty)
		return PROBE_PC_STOP_DIRTY;
	/* Clark et al.: stop when the dirty set no longer shrinks enough. */
	if (r->round >= 2 && o->min_shrink > 0 && (double)prev_dirty < o->min_shrink * (double)r->dirty)
		return PROBE_PC_NO_CONVERGENCE;
	return PROBE_PC_GO_ON;
}

int probe_pc_final(struct probe_pc_ctx *c, struct probe_pc_round *r)
{
	enum pass_mode m = c->o.final == PROBE_PC_FINAL_DATA ? PASS_FINAL_DATA : PASS_FINAL_INVALIDATE;
	int ret = pass_all(c, m, r);

	if (!ret)
		ret = put_rec(c, PROBE_FLPC_END, 0, c->rounds, c->total_pages);
	if (!ret)
		ret = flush(c);
	r->bytes += REC;
	return ret;
}

int probe_pc_finish(struct probe_pc_ctx *c)
{
	int ret = 0;

	for (size_t i = 0; i < c->nprocs; i++) {
		struct probe_pc_proc *p = &c->procs[i];
		int r = p->tracking ? probe_wp_detach(&p->wp) : 0;

		if (r) {
			fprintf(stderr, "precopy send: pid %d: unregister: %s\n", (int)p->pid, strerror(-r));
			ret = ret ? ret : r;
		}
		p->tracking = 0;
		probe_ranges_free(&p->dirty);
		probe_ranges_free(&p->untracked);
		probe_ranges_free(&p->old_now);
	}
	free(c->procs);
	free(c->buf);
	free(c->vec);
	c->procs = NULL;
	c->buf = NULL;
	c->vec = NULL;
	c->nprocs = 0;
	return ret;
}
