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

/* Write-protects the parts of [S, E) that OLD does not cover: a mapping that
 * is new, or grew.  Protecting what was registered before would drop the
 * writes it had this round. */
static void protect_new(struct probe_wp *w, const struct probe_ranges *old, uint64_t s, uint64_t e)
{
	uint64_t cur = s;

	if (e - s > w->wp_max_vma)
		return; /* populated pages: the scan protects them */
	for (size_t i = 0; i < old->n && cur < e; i++) {
		if (old->v[i].end <= cur || old->v[i].start >= e)
			continue;
		if (old->v[i].start > cur && uffd_protect(w, cur, old->v[i].start))
			break;
		cur = old->v[i].end;
	}
	if (cur < e && uffd_protect(w, cur, e))
		fl_dbg(w->name, "cannot write-protect %#llx-%#llx: %s", (unsigned long long)cur,
		       (unsigned long long)e, strerror(errno));
}

/* Rebuilds W->now from the target's maps, registering and write-protecting
 * what is new.  Pages a new mapping got before this count from the next
 * round on. */
static int refresh(struct probe_wp *w, int attach)
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
			w->new_vmas += !attach;
			protect_new(w, &w->now, s, e);
			if (!attach && w->on_untracked && (ret = w->on_untracked(w->untracked_arg, s, e)))
				break;
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

/* Hands the first N entries of W->vec to FN and adds their pages to *PAGES. */
static int deliver(struct probe_wp *w, size_t n, probe_wp_fn fn, void *arg, long *pages)
{
	for (size_t i = 0; i < n; i++) {
		int ret = fn ? fn(arg, w->vec[i].start, w->vec[i].end) : 0;

		if (ret)
			return ret;
		*pages += (long)((w->vec[i].end - w->vec[i].start) / 4096);
	}
	return 0;
}

/* Scans [S, E) with FLAGS and calls FN per run of pages written since the
 * last scan, adding them to *PAGES.  Returns 0 or -errno.  On -EPERM (a VMA
 * without async wp) the runs found before it, which the kernel has already
 * re-protected, are delivered too: they are the leading non-zero entries of
 * the vector, hence the zeroing of what the previous call wrote. */
static int scan(struct probe_wp *w, uint64_t s, uint64_t e, uint64_t flags, probe_wp_fn fn, void *arg,
		long *pages)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = flags,
		.start = s,
		.end = e,
		.vec = (uint64_t)(uintptr_t)w->vec,
		.vec_len = w->vec_len,
		/* Written, holding data (present or swapped: not a hole that
		 * MADV_DONTNEED left unprotected), and not the zero page. */
		.category_mask = PAGE_IS_WRITTEN | PAGE_IS_PFNZERO,
		.category_inverted = PAGE_IS_PFNZERO,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_WRITTEN,
	};

	for (;;) {
		long n;
		int ret;

		memset(w->vec, 0, w->vec_dirty * sizeof(*w->vec));
		n = ioctl(w->pagemap, PAGEMAP_SCAN, &a);
		if (n < 0) {
			ret = -errno;
			for (n = 0; (size_t)n < w->vec_len && w->vec[n].end; n++)
				;
			w->vec_dirty = (size_t)n;
			if (ret == -EPERM) {
				int r = deliver(w, (size_t)n, fn, arg, pages);

				if (r)
					return r;
			}
			return ret;
		}
		w->vec_dirty = (size_t)n;
		ret = deliver(w, (size_t)n, fn, arg, pages);
		if (ret)
			return ret;
		if (a.walk_end >= e || (a.walk_end <= a.start && !n))
			return 0;
		a.start = a.walk_end;
	}
}

/* True once the process has exited (a zombie included). */
static int process_gone(const struct probe_wp *w)
{
	struct pollfd p = { .fd = w->pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* A range had a VMA that is not registered (munmap + mmap at an old address,
 * or a MAP_FIXED over part of it): scan the rest, then register and protect
 * all of it.  Writes to its registered part between the two are lost. */
static int rescan(struct probe_wp *w, uint64_t s, uint64_t e, probe_wp_fn fn, void *arg, long *pages)
{
	int ret = scan(w, s, e, PM_SCAN_WP_MATCHING, fn, arg, pages);

	w->reregistered++;
	if (!ret && !uffd_register(w, s, e) && e - s <= w->wp_max_vma)
		uffd_protect(w, s, e);
	if (!ret && w->on_untracked)
		ret = w->on_untracked(w->untracked_arg, s, e);
	return ret;
}

static const int image_fields[3] = { 28, 48, 51 };

/* True if the process no longer runs the image W was attached to.  (All 0:
 * it is exiting, its mm already gone.) */
static int exec_happened(const struct probe_wp *w)
{
	uint64_t now[3];

	return !probe_proc_stat(w->pid, image_fields, 3, now) && (now[0] | now[1] | now[2]) &&
	       memcmp(now, w->image, sizeof(now));
}

long probe_wp_round(struct probe_wp *w, probe_wp_fn fn, void *arg)
{
	long total = 0;
	int ret;

	if (!w->gone && process_gone(w))
		w->gone = 1;
	if (w->gone || w->uffd < 0)
		return -ESRCH;
	if (exec_happened(w))
		return -ESTALE;
	ret = refresh(w, 0);
	if (ret) {
		w->gone = ret == -ENOENT || ret == -ESRCH || process_gone(w);
		return w->gone ? -ESRCH : ret;
	}
	for (size_t i = 0; i < w->now.n; i++) {
		uint64_t s = w->now.v[i].start, e = w->now.v[i].end;

		ret = scan(w, s, e, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, fn, arg, &total);
		if (ret == -EPERM)
			ret = rescan(w, s, e, fn, arg, &total);
		/* ENOMEM/EINVAL: the range went away meanwhile. */
		if (ret && ret != -ENOMEM && ret != -EINVAL) {
			w->gone = ret == -ESRCH || process_gone(w);
			return w->gone ? -ESRCH : ret;
		}
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
	ret = probe_proc_stat(w->pid, image_fields, 3, w->image);
	if (!ret)
		ret = probe_maps_for_each_anon(w->pid, collect_vma, &w->now);
	if (ret == -EACCES || ret == -EPERM)
		return attach_err(err, errlen, -EPERM, "no permission to inspect it (tracking "
				  "another user's process needs root or CAP_SYS_PTRACE)");
	if (ret)
		return attach_err(err, errlen, ret, "cannot read its maps: %s", strerror(-ret));
	if (!w->now.n && !probe_proc_has_mm(w->pid))
		return attach_err(err, errlen, -ENODATA, "it has no user memory (a kernel thread, "
				  "or a zombie)");
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

/* UFFDIO_UNREGISTER over each range of R.  Returns the first unexpected
 * -errno: EINVAL/ENOMEM mean that range is unmapped or replaced by now. */
static int unregister_all(struct probe_wp *w, const struct probe_ranges *r)
{
	int ret = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct uffdio_range u = { r->v[i].start, r->v[i].end - r->v[i].start };

		if (ioctl(w->uffd, UFFDIO_UNREGISTER, &u) && errno != EINVAL && errno != ENOMEM &&
		    errno != ESRCH && !ret)
			ret = -errno;
	}
	return ret;
}

int probe_wp_detach(struct probe_wp *w)
{
	int ret = 0;

	if (w->uffd >= 0) {
		/* The current mappings one by one, then whatever was registered
		 * once and has moved or shrunk since. */
		ret = unregister_all(w, &w->now);
		probe_ranges_normalize(&w->ever);
		if (!ret)
			ret = unregister_all(w, &w->ever);
		/* Closing the last reference drops any registration left. */
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
