/* SPDX-License-Identifier: MIT */
/* Live source: the lazy pages of a `criu dump --lazy-pages` are read straight
 * from the dumped tasks, which CRIU keeps frozen while its (unused) page
 * server waits.  The images give the pagemaps (lazy entries carry flags 2,
 * no data); the tasks give the bytes.
 *
 * pstree.img names tasks by their pid inside the dumped pid namespace.  The
 * tree under the root's host pid is walked (/proc/X/task/T/children) and
 * each task is matched by the last NSpid value of /proc/X/status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "pageserver/source.h"

struct live_proc {
	pid_t host, ns; /* pid here, pid in the dumped namespace */
	char state;
};

struct live_tree {
	struct live_proc *p;
	size_t n, cap;
};

static int tree_add(struct live_tree *t, pid_t host)
{
	struct live_proc lp = { .host = host };
	pid_t tgid;
	int ret = fl_proc_ids(host, &tgid, &lp.ns);

	if (ret)
		return ret;
	lp.state = fl_thread_state(host, host);
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i].host == host)
			return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct live_proc *np = realloc(t->p, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		t->p = np;
		t->cap = cap;
	}
	t->p[t->n++] = lp;
	return 0;
}

/* Adds the children of every thread of process I of the tree. */
static int tree_children(struct live_tree *t, size_t i)
{
	pid_t *kids = NULL;
	size_t n = 0, cap = 0;
	int ret = fl_proc_children(t->p[i].host, &kids, &n, &cap);

	for (size_t k = 0; !ret && k < n; k++) {
		ret = tree_add(t, kids[k]);
		if (ret == -ENOENT || ret == -ESRCH)
			ret = 0; /* exited meanwhile: a dumped one is caught below */
	}
	free(kids);
	return ret;
}

static int map_tasks(struct ps_source *src, struct live_tree *tree, pid_t root)
{
	for (size_t i = 0; i < src->nr_tasks; i++) {
		struct ps_task *t = &src->tasks[i];
		const struct live_proc *lp = NULL;

		for (size_t j = 0; j < tree->n && !lp; j++)
			if (tree->p[j].ns == t->pid)
				lp = &tree->p[j];
		if (!lp) {
			snprintf(src->err, sizeof(src->err),
				 "task %d of %.300s/pstree.img has no live task under pid %d (it exited, "
				 "or pid %d is not the root of this dump)", t->pid, src->dir.path,
				 (int)root, (int)root);
			return -ESRCH;
		}
		t->host_pid = lp->host;
		if (lp->state != 't' && lp->state != 'T')
			fl_warn("page-server", "task %d (pid %d here) is not stopped (state %c): "
				"its memory may change while it is served", t->pid, (int)lp->host,
				lp->state);
	}
	return 0;
}

static int walk(struct ps_source *src, pid_t root)
{
	struct live_tree tree = { 0 };
	int ret = tree_add(&tree, root);

	if (ret) {
		snprintf(src->err, sizeof(src->err), "pid %d: %s", (int)root,
			 ret == -ENOENT ? "no such process" : strerror(-ret));
		ret = -ESRCH;
		goto out;
	}
	if (src->nr_tasks && tree.p[0].ns != src->tasks[0].pid) {
		snprintf(src->err, sizeof(src->err),
			 "pid %d is not the root of the dump in %.300s: its pid in its namespace is %d, "
			 "the root in pstree.img is %d", (int)root, src->dir.path, (int)tree.p[0].ns,
			 src->tasks[0].pid);
		ret = -ESRCH;
		goto out;
	}
	for (size_t i = 0; i < tree.n && !ret; i++)
		ret = tree_children(&tree, i);
	if (ret) {
		snprintf(src->err, sizeof(src->err), "walking the tree under pid %d: %s",
			 (int)root, strerror(-ret));
		goto out;
	}
	ret = map_tasks(src, &tree, root);
out:
	free(tree.p);
	return ret;
}

int ps_source_open_live(struct ps_source *src, const char *path, pid_t root)
{
	int ret = ps_source_open_dir(src, path, 1);

	if (ret)
		return ret;
	ret = walk(src, root);
	if (ret) {
		char err[sizeof(src->err)];
		memcpy(err, src->err, sizeof(err));
		ps_source_close(src);
		memcpy(src->err, err, sizeof(err));
		return ret;
	}
	src->live_root = root;
	return 0;
}

int ps_live_lookup(const struct ps_task *t, uint64_t vaddr, uint64_t nr)
{
	const struct img_pagemap *pm = &t->pm;
	uint64_t want;
	size_t i;

	if (nr == 0 || vaddr % IMG_PAGE_SIZE || nr > (UINT64_MAX - vaddr) / IMG_PAGE_SIZE)
		return -EINVAL;
	want = vaddr + nr * IMG_PAGE_SIZE;
	/* First entry that ends above VADDR (entries are sorted and disjoint). */
	size_t lo = 0, hi = pm->nr_ents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pm->ents[mid].vaddr + pm->ents[mid].nr_pages * IMG_PAGE_SIZE <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	if (i >= pm->nr_ents || pm->ents[i].vaddr > vaddr)
		return -ENOENT;
	if (!(pm->ents[i].flags & IMG_PE_LAZY))
		return -EACCES;
	for (;;) {
		const struct img_pm_entry *e = &pm->ents[i];
		uint64_t end = e->vaddr + e->nr_pages * IMG_PAGE_SIZE;

		if (end >= want)
			return 0;
		if (++i >= pm->nr_ents || pm->ents[i].vaddr != end ||
		    !(pm->ents[i].flags & IMG_PE_LAZY))
			return -ERANGE;
	}
}

static int mem_read(struct ps_task *t, uint64_t vaddr, char *buf, size_t len)
{
	if (t->mem_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->host_pid);
		t->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->mem_fd < 0)
			return errno == ENOENT ? -ESRCH : -errno;
	}
	while (len) {
		ssize_t n = pread(t->mem_fd, buf, len, (off_t)vaddr);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EIO ? -EFAULT : -errno;
		if (n == 0)
			return -ESRCH; /* the mm is gone */
		buf += n;
		vaddr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int vm_read(struct ps_task *t, uint64_t vaddr, char *buf, size_t len)
{
	while (len) {
		struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)vaddr, len };
		ssize_t n = process_vm_readv(t->host_pid, &local, 1, &remote, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EFAULT;
		buf += n;
		vaddr += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int ps_live_read(struct ps_task *t, uint64_t vaddr, void *buf, size_t len, char *why,
		 size_t whylen)
{
	int ret = t->mem_fd < 0 ? vm_read(t, vaddr, buf, len) : -ENOSYS;

	if (ret == -ENOSYS || ret == -EPERM)
		ret = mem_read(t, vaddr, buf, len);
	if (!ret)
		return 0;
	if (ret == -ESRCH)
		snprintf(why, whylen, "task %d (pid %d here) is gone: cannot read its pages",
			 t->pid, (int)t->host_pid);
	else if (ret == -EFAULT)
		snprintf(why, whylen, "task %d (pid %d here): 0x%llx..0x%llx is not mapped any "
			 "more", t->pid, (int)t->host_pid, (unsigned long long)vaddr,
			 (unsigned long long)(vaddr + len));
	else
		snprintf(why, whylen, "reading task %d (pid %d here) at 0x%llx: %s", t->pid,
			 (int)t->host_pid, (unsigned long long)vaddr, strerror(-ret));
	return ret;
}
