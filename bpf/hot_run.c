/* SPDX-License-Identifier: MIT */
/* `faultline probe hotness`: attach, rounds, detach (see hot_run.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/hot_run.h"
#include "bpf/procfs.h"

uint64_t probe_hot_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

long probe_hot_find(const struct hot_ctx *c, pid_t pid)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i].pid == pid)
			return (long)i;
	return -1;
}

static struct hot_proc *new_proc(struct hot_ctx *c, pid_t pid, pid_t vpid)
{
	struct hot_proc *p;

	if (c->nprocs == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 8;

		if (nc > PROBE_MAX_PROCS)
			return NULL;
		p = realloc(c->procs, nc * sizeof(*p));
		if (!p)
			return NULL;
		c->procs = p;
		c->cap = nc;
	}
	p = &c->procs[c->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->vpid = vpid;
	p->wp.uffd = p->wp.pagemap = p->wp.pidfd = -1;
	return p;
}

/* Resolves PID to its process, refusing ourselves.  Returns 0 or -errno
 * after printing why (a warning only for FROM_TREE). */
static int resolve(pid_t pid, int from_tree, pid_t *tgid, pid_t *vpid)
{
	const char *lvl = from_tree ? "warning: " : "";
	int ret = fl_proc_ids(pid, tgid, vpid);

	if (ret) {
		fprintf(stderr, "hotness: %spid %d: %s\n", lvl, (int)pid,
			ret == -ENOENT || ret == -ESRCH ? "no such process" : strerror(-ret));
		return ret;
	}
	if (*tgid == getpid()) {
		fprintf(stderr, "hotness: pid %d: that is this probe\n", (int)pid);
		return -EINVAL;
	}
	if (*tgid != pid) {
		fprintf(stderr, "hotness: pid %d is a thread of process %d: tracking the process\n",
			(int)pid, (int)*tgid);
		return fl_proc_ids(*tgid, tgid, vpid);
	}
	return 0;
}

/* Starts tracking process PID.  A failure is printed; for FROM_TREE it is a
 * warning and the pid is remembered as failed (not retried). */
static int add_proc(struct hot_ctx *c, pid_t pid, int from_tree)
{
	char err[256] = "";
	pid_t tgid, vpid;
	struct hot_proc *p;
	int ret = resolve(pid, from_tree, &tgid, &vpid);

	if (ret || probe_hot_find(c, tgid) >= 0)
		return ret;
	p = new_proc(c, tgid, vpid);
	if (!p) {
		fprintf(stderr, "hotness: too many processes\n");
		return -ENOMEM;
	}
	p->from_tree = from_tree;
	if (c->have_bpf && (ret = probe_hot_bpf_track(&c->bpf, tgid)))
		snprintf(err, sizeof(err), "cannot add it to the BPF filter: %s", strerror(-ret));
	if (!ret)
		ret = probe_wp_attach(&p->wp, tgid, c->o.wp_max_vma, c->o.stop_timeout_ms, err, sizeof(err));
	if (ret) {
		if (c->have_bpf)
			probe_hot_bpf_untrack(&c->bpf, tgid);
		fprintf(stderr, "hotness: %spid %d: %s\n", from_tree ? "warning: " : "", (int)tgid, err);
		p->exited = 1; /* not retried */
		return ret;
	}
	p->tracking = 1;
	if (c->o.verbose || from_tree)
		fprintf(stderr, "hotness: pid %d (vpid %d): tracking %.1f MiB in %zu mappings\n",
			(int)tgid, (int)vpid, p->wp.registered_pages / 256.0, p->wp.now.n);
	return 0;
}

/* --tree: attaches the children of procs[IDX] not seen before. */
static void discover(struct hot_ctx *c, size_t idx)
{
	pid_t *kids = NULL;
	size_t n = 0, cap = 0;

	if (fl_proc_children(c->procs[idx].pid, &kids, &n, &cap) == 0)
		for (size_t i = 0; i < n; i++)
			if (probe_hot_find(c, kids[i]) < 0)
				add_proc(c, kids[i], 1);
	free(kids);
}

int probe_hot_start(struct hot_ctx *c)
{
	int ret;

	if (c->o.bpf) {
		ret = probe_hot_bpf_open(&c->bpf, c->o.bpf_max_pages, "hotness");
		c->have_bpf = !ret;
		if (ret)
			fprintf(stderr, "hotness: warning: continuing without BPF (as with --no-bpf): "
				"dirty pages from PAGEMAP_SCAN only, no per-page fault counts\n");
	}
	for (size_t i = 0; i < c->o.npids; i++) {
		ret = add_proc(c, c->o.pids[i], 0);
		if (ret) {
			probe_hot_finish(c);
			return ret;
		}
	}
	/* Children appended here are walked too: the whole tree, depth first. */
	for (size_t i = 0; c->o.tree && i < c->nprocs; i++)
		if (c->procs[i].tracking)
			discover(c, i);
	c->t0_ns = c->last_ns = probe_hot_now_ns();
	return 0;
}

struct round_cb {
	struct hot_ctx *c;
	unsigned proc;
	uint64_t fresh;
	int err;
};

static int on_written(void *arg, uint64_t start, uint64_t end)
{
	struct round_cb *cb = arg;

	for (uint64_t a = start; a < end; a += 4096) {
		int is_new = 0;
		int ret = probe_pageset_written(&cb->c->pages, cb->proc, a, cb->c->round, &is_new);

		if (ret)
			return cb->err = ret;
		cb->fresh += (uint64_t)is_new;
	}
	return 0;
}

/* Keeps P's tracker statistics, which probe_wp_detach() forgets. */
static void keep_stats(struct hot_proc *p)
{
	p->new_vmas += p->wp.new_vmas;
	p->reregistered += p->wp.reregistered;
}

static void proc_gone(struct hot_ctx *c, struct hot_proc *p, const char *why)
{
	keep_stats(p);
	if (c->have_bpf)
		probe_hot_bpf_untrack(&c->bpf, p->pid);
	probe_wp_detach(&p->wp);
	p->tracking = 0;
	p->exited = 1;
	fprintf(stderr, "hotness: pid %d %s\n", (int)p->pid, why);
}

/* P executed a new program: its old uffd covers the old memory only.  Pages
 * counted before stay in the map under the same pid. */
static long reattach(struct hot_ctx *c, struct hot_proc *p)
{
	char err[256];
	int ret;

	keep_stats(p);
	probe_wp_detach(&p->wp);
	ret = probe_wp_attach(&p->wp, p->pid, c->o.wp_max_vma, c->o.stop_timeout_ms, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hotness: pid %d executed a new program, cannot attach to it: %s\n",
			(int)p->pid, err);
		return ret == -ESRCH || ret == -ENOENT ? -ESRCH : ret;
	}
	if (c->o.verbose)
		fprintf(stderr, "hotness: pid %d executed a new program: tracking it anew\n", (int)p->pid);
	return 0;
}

int probe_hot_round(struct hot_ctx *c, struct hot_round *r)
{
	uint64_t now = probe_hot_now_ns(), t_scan;
	struct probe_hot_counters k = { 0 };
	size_t n = c->nprocs;

	memset(r, 0, sizeof(*r));
	r->n = ++c->round;
	r->t = (double)(now - c->t0_ns) / 1e9;
	r->dt = (double)(now - c->last_ns) / 1e9;
	c->last_ns = now;
	for (size_t i = 0; c->o.tree && i < n; i++)
		if (c->procs[i].tracking)
			discover(c, i);
	t_scan = probe_hot_now_ns();
	for (size_t i = 0; i < c->nprocs; i++) {
		struct hot_proc *p = &c->procs[i];
		struct round_cb cb = { c, (unsigned)i, 0, 0 };
		long got;

		if (!p->tracking || i >= n) /* new ones have just had their baseline */
			continue;
		got = probe_wp_round(&p->wp, on_written, &cb);
		if (cb.err)
			return cb.err;
		if (got == -ESTALE && (got = reattach(c, p)) < 0) {
			proc_gone(c, p, got == -ESRCH ? "exited" : "is no longer tracked");
			continue;
		}
		if (got == -ESRCH) {
			proc_gone(c, p, "exited");
			continue;
		}
		if (got < 0) {
			fprintf(stderr, "hotness: pid %d: PAGEMAP_SCAN: %s\n", (int)p->pid, strerror((int)-got));
			proc_gone(c, p, "is no longer tracked");
			continue;
		}
		r->procs++;
		r->dirty += (uint64_t)got;
		r->fresh += cb.fresh;
		p->dirty_total += (uint64_t)got;
	}
	r->scan_ms = (double)(probe_hot_now_ns() - t_scan) / 1e6;
	if (c->have_bpf) {
		probe_hot_bpf_counters(&c->bpf, &k);
		r->faults = k.faults - c->last_faults;
		c->last_faults = k.faults;
	}
	c->scan_ms_total += r->scan_ms;
	if (r->scan_ms > c->scan_ms_max)
		c->scan_ms_max = r->scan_ms;
	if (r->dt > 0 && r->dirty / r->dt > c->rate_max)
		c->rate_max = (double)r->dirty / r->dt;
	c->dirty_total += r->dirty;
	return r->procs ? 0 : -ESRCH;
}

static int merge_fault(void *arg, pid_t tgid, uint64_t page, uint64_t count)
{
	struct hot_ctx *c = arg;
	long i = probe_hot_find(c, tgid);

	return i < 0 ? 0 : probe_pageset_faults(&c->pages, (unsigned)i, page, count);
}

int probe_hot_finish(struct hot_ctx *c)
{
	int ret = 0, r;

	/* Stop counting first: the target's writes after the last round are
	 * not in any scan either. */
	for (size_t i = 0; c->have_bpf && i < c->nprocs; i++)
		if (c->procs[i].tracking)
			probe_hot_bpf_untrack(&c->bpf, c->procs[i].pid);
	for (size_t i = 0; i < c->nprocs; i++) {
		struct hot_proc *p = &c->procs[i];

		if (!p->tracking)
			continue;
		keep_stats(p);
		r = probe_wp_detach(&p->wp);
		if (r && !ret)
			ret = r;
		if (r)
			fprintf(stderr, "hotness: pid %d: unregister: %s\n", (int)p->pid, strerror(-r));
		p->tracking = 0;
	}
	if (c->have_bpf) {
		r = probe_hot_bpf_for_each(&c->bpf, merge_fault, c);
		if (r)
			fprintf(stderr, "hotness: reading the BPF counts: %s\n", strerror(-r));
		for (size_t i = 0; i < c->pages.cap; i++)
			c->bpf_pages_outside += c->pages.v[i].key && !c->pages.v[i].rounds;
	}
	return ret;
}

void probe_hot_free(struct hot_ctx *c)
{
	for (size_t i = 0; i < c->nprocs; i++)
		probe_wp_detach(&c->procs[i].wp);
	if (c->have_bpf)
		probe_hot_bpf_close(&c->bpf);
	c->have_bpf = 0;
	free(c->procs);
	c->procs = NULL;
	c->nprocs = c->cap = 0;
	probe_pageset_free(&c->pages);
}
