/* SPDX-License-Identifier: MIT */
/* Async uffd write-protect + PAGEMAP_SCAN dirty tracking of a process that
 * did not cooperate (see wp.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf/inject.h"
#include "bpf/procfs.h"
#include "bpf/wp.h"
#include "common/log.h"

enum { VEC_LEN = 4096 };

/* Appends [S, E); with MERGE, extends the last range instead when they touch. */
static int ranges_append(struct probe_ranges *r, uint64_t s, uint64_t e, int merge)
{
	if (merge && r->n && r->v[r->n - 1].end == s) {
		r->v[r->n - 1].end = e;
		return 0;
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 32;
		struct probe_range *nv = realloc(r->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = (struct probe_range){ s, e };
	return 0;
}

int probe_ranges_add(struct probe_ranges *r, uint64_t s, uint64_t e)
{
	return ranges_append(r, s, e, 1);
}

static int cmp_range(const void *a, const void *b)
{
	const struct probe_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void probe_ranges_normalize(struct probe_ranges *r)
{
	size_t o = 0;

	if (!r->n)
		return;
	qsort(r->v, r->n, sizeof(r->v[0]), cmp_range);
	for (size_t i = 1; i < r->n; i++) {
		if (r->v[i].start <= r->v[o].end) {
			if (r->v[i].end > r->v[o].end)
				r->v[o].end = r->v[i].end;
		} else {
			r->v[++o] = r->v[i];
		}
	}
	r->n = o + 1;
}

void probe_ranges_free(struct probe_ranges *r)
{
	free(r->v);
	*r = (struct probe_ranges){ 0 };
}

static int collect_vma(void *arg, const struct probe_vma *v)
{
	return ranges_append(arg, v->start, v->end, 0);
}

static int uffd_register(struct probe_wp *w, uint64_t s, uint64_t e)
{
	struct uffdio_register reg = { .range = { s, e - s }, .mode = UFFDIO_REGISTER_MODE_WP };

	if (ioctl(w->uffd, UFFDIO_REGISTER, &reg)) {
		int err = errno;

		fl_dbg(w->name, "cannot register %#llx-%#llx: %s (skipped)", (unsigned long long)s,
		       (unsigned long long)e, strerror(err));
		return -err;
	}
	return probe_ranges_add(&w->ever, s, e);
}

static int uffd_protect(struct probe_wp *w, uint64_t s, uint64_t e)
{
	struct uffdio_writeprotect wp = { .range = { s, e - s }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	return ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

static int in_ranges(const struct probe_ranges *r, uint64_t s, uint64_t e)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->v[mid].start < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n && r->v[lo].start == s && r->v[lo].end == e;
}

/* Rebuilds W->now from the target's maps, registering what is new.  With
 * PROTECT (at attach) also write-protects it. */
static int refresh(struct probe_wp *w, int protect)
{
	struct probe_ranges cand = { 0 }, now = { 0 };
	int ret = probe_maps_for_each_anon(w->pid, collect_vma, &cand);

	if (ret)
		goto out;
	w->registered_pages = 0;
	for (size_t i = 0; i < cand.n && !ret; i++) {
		uint64_t s = cand.v[i].start, e = cand.v[i].end;

		if (!in_ranges(&w->now, s, e)) {
			if (uffd_register(w, s, e))
				continue;
			if (!protect)
				w->new_vmas++;
			else if (e - s <= w->wp_max_vma && uffd_protect(w, s, e))
				fl_dbg(w->name, "cannot write-protect %#llx-%#llx: %s",
				       (unsigned long long)s, (unsigned long long)e, strerror(errno));
		}
		ret = ranges_append(&now, s, e, 0);
		w->registered_pages += (e - s) / 4096;
	}
	if (ret)
		goto out;
	probe_ranges_free(&w->now);
	w->now = now;
	now = (struct probe_ranges){ 0 };
out:
	probe_ranges_free(&cand);
	probe_ranges_free(&now);
	return ret;
}

/* Scans [S, E) with FLAGS; calls FN per run of written pages. */
static long scan(struct probe_wp *w, uint64_t s, uint64_t e, uint64_t flags, probe_wp_fn fn, void *arg)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = flags,
		.start = s,
		.end = e,
		.vec = (uint64_t)(uintptr_t)w->vec,
		.vec_len = w->vec_len,
		/* Written, but not the shared zero page a read fault maps. */
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
		.category_inverted = PAGE_IS_PFNZERO,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long pages = 0;

	for (;;) {
		long n = ioctl(w->pagemap, PAGEMAP_SCAN, &a);

		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			int ret = fn ? fn(arg, w->vec[i].start, w->vec[i].end) : 0;

			if (ret)
				return ret;
			pages += (long)((w->vec[i].end - w->vec[i].start) / 4096);
		}
		if (a.walk_end >= e || (a.walk_end <= a.start && !n))
			return pages;
		a.start = a.walk_end;
	}
}

/* True once the process has exited (a zombie included). */
static int process_gone(const struct probe_wp *w)
{
	struct pollfd p = { .fd = w->pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

long probe_wp_round(struct probe_wp *w, probe_wp_fn fn, void *arg)
{
	const uint64_t flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	long total = 0, n;
	int ret;

	if (!w->gone && process_gone(w))
		w->gone = 1;
	if (w->gone || w->uffd < 0)
		return -ESRCH;
	ret = refresh(w, 0);
	if (ret) {
		w->gone = ret == -ENOENT || ret == -ESRCH || process_gone(w);
		return w->gone ? -ESRCH : ret;
	}
	for (size_t i = 0; i < w->now.n; i++) {
		uint64_t s = w->now.v[i].start, e = w->now.v[i].end;

		n = scan(w, s, e, flags, fn, arg);
		if (n == -EPERM) {
			/* Part of it is a new mapping at an old address (munmap +
			 * mmap): register it; whatever it holds is new. */
			w->reregistered++;
			uffd_register(w, s, e);
			n = scan(w, s, e, flags & ~(uint64_t)PM_SCAN_CHECK_WPASYNC, fn, arg);
		}
		if (n < 0 && n != -ENOMEM && n != -EINVAL) {
			w->gone = n == -ESRCH || process_gone(w);
			return w->gone ? -ESRCH : n;
		}
		total += n > 0 ? n : 0; /* ENOMEM/EINVAL: it went away meanwhile */
	}
	return total;
}

static int attach_err(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int attach_err(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}

static int take_uffd(struct probe_wp *w, int timeout_ms, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	pid_t tid = probe_pick_thread(w->pid);
	int terr = 0, ret;

	if (tid < 0)
		return attach_err(err, errlen, tid, "no live thread to inject into");
	ret = probe_inject_uffd(w->pid, tid, timeout_ms, &w->uffd, &terr);
	if (terr)
		return attach_err(err, errlen, ret, "userfaultfd() in the target failed: %s "
				  "(a seccomp filter, or vm.unprivileged_userfaultfd=0 for a "
				  "target without CAP_SYS_PTRACE)", strerror(terr));
	if (ret == -EPERM)
		return attach_err(err, errlen, ret, "cannot ptrace it: %s (need root or "
				  "CAP_SYS_PTRACE; is it already traced by a debugger?)",
				  strerror(-ret));
	if (ret == -ETIMEDOUT)
		return attach_err(err, errlen, ret, "it did not stop for ptrace within %d ms "
				  "(uninterruptible sleep?)", timeout_ms);
	if (ret)
		return attach_err(err, errlen, ret, "syscall injection failed: %s", strerror(-ret));
	if (ioctl(w->uffd, UFFDIO_API, &api)) {
		ret = -errno;
		return attach_err(err, errlen, ret == -EINVAL ? -EOPNOTSUPP : ret,
				  "UFFDIO_API(WP_ASYNC|WP_UNPOPULATED): %s (needs Linux 6.7+)",
				  strerror(-ret));
	}
	return 0;
}

/* Everything before the injection: the pidfd, the mappings, pagemap. */
static int open_target(struct probe_wp *w, char *err, size_t errlen)
{
	char path[64];
	int ret;

	w->pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
	if (w->pidfd < 0) {
		ret = -errno;
		return attach_err(err, errlen, ret, "%s", ret == -ESRCH ? "no such process" :
				  ret == -EINVAL ? "not a process id (a thread?)" : strerror(-ret));
	}
	ret = probe_maps_for_each_anon(w->pid, collect_vma, &w->now);
	if (ret)
		return attach_err(err, errlen, ret, "cannot read its maps: %s", strerror(-ret));
	if (!w->now.n)
		return attach_err(err, errlen, -ENODATA, "no private anonymous writable memory to track");
	probe_ranges_free(&w->now); /* refresh() registers them */
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)w->pid);
	w->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (w->pagemap < 0) {
		ret = -errno;
		return attach_err(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

int probe_wp_attach(struct probe_wp *w, pid_t pid, uint64_t wp_max_vma, int timeout_ms,
		    char *err, size_t errlen)
{
	long n;
	int ret;

	memset(w, 0, sizeof(*w));
	w->pid = pid;
	w->uffd = w->pagemap = w->pidfd = -1;
	w->wp_max_vma = wp_max_vma;
	snprintf(w->name, sizeof(w->name), "pid %d", (int)pid);
	w->vec_len = VEC_LEN;
	w->vec = calloc(VEC_LEN, sizeof(*w->vec));
	ret = w->vec ? open_target(w, err, errlen) : attach_err(err, errlen, -ENOMEM, "out of memory");
	if (!ret)
		ret = take_uffd(w, timeout_ms, err, errlen);
	if (!ret && (ret = refresh(w, 1)))
		attach_err(err, errlen, ret, "cannot register its memory: %s", strerror(-ret));
	if (!ret && !w->now.n)
		ret = attach_err(err, errlen, -ENODATA, "none of its anonymous mappings could be registered");
	if (!ret) {
		n = probe_wp_round(w, NULL, NULL); /* baseline: protects the rest */
		ret = n < 0 ? attach_err(err, errlen, (int)n, "first PAGEMAP_SCAN: %s", strerror((int)-n)) : 0;
	}
	if (ret)
		probe_wp_detach(w);
	return ret;
}

int probe_wp_detach(struct probe_wp *w)
{
	int ret = 0;

	if (w->uffd >= 0) {
		probe_ranges_normalize(&w->ever);
		for (size_t i = 0; i < w->ever.n; i++) {
			struct uffdio_range r = { w->ever.v[i].start, w->ever.v[i].end - w->ever.v[i].start };

			/* EINVAL/ENOMEM: that range is unmapped or replaced by now. */
			if (ioctl(w->uffd, UFFDIO_UNREGISTER, &r) && errno != EINVAL && errno != ENOMEM &&
			    errno != ESRCH && !ret)
				ret = -errno;
		}
		/* The last reference: the kernel drops any registration left. */
		close(w->uffd);
		w->uffd = -1;
	}
	if (w->pagemap >= 0)
		close(w->pagemap);
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pagemap = w->pidfd = -1;
	probe_ranges_free(&w->now);
	probe_ranges_free(&w->ever);
	free(w->vec);
	w->vec = NULL;
	return ret;
}
