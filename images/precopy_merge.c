/* SPDX-License-Identifier: MIT */
/* `faultline precopy merge`: folds a pre-copy page store into the images of a
 * `criu dump --lazy-pages`.  Per task of pstree.img:
 *   plan   split every lazy-only entry (flags PE_LAZY) along the store's valid
 *          runs: covered pieces get data (flags PRESENT, or PRESENT|LAZY in
 *          lazy mode), the rest stays PE_LAZY; other entries are kept as they
 *          are, with their data from the old pages file;
 *   write  (only once every task has been planned, so that full mode changes
 *          nothing when a page is missing) a new pages-<fresh id>.img, then
 *          the pagemap naming it (both temp + rename), then drop the old file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/frame.h"
#include "images/img_write.h"
#include "images/precopy.h"

#define PG IMG_PAGE_SIZE
enum { SRC_NONE, SRC_OLD, SRC_STORE };
enum { COPY_BUF = 1 << 20 };

struct out_ent {
	struct img_pm_entry e;
	int src;         /* where its data comes from */
	uint64_t src_off;
};

struct job {
	int32_t pid;
	struct img_pagemap pm;
	enum img_pm_layout layout;
	struct img_pc_run *runs;
	size_t nr_runs;
	struct out_ent *out;
	size_t n, cap;
	uint64_t local, remote, kept, missing;
	int changes; /* has lazy-only entries: must be rewritten */
};

struct merge {
	struct img_dir dir;
	int store_fd;
	enum img_pc_mode mode;
	struct job *jobs;
	size_t nr_jobs;
	uint32_t next_id;
	struct img_err *err;
};

static int push(struct job *j, uint64_t vaddr, uint64_t nr, uint32_t flags, int src,
		uint64_t src_off)
{
	struct out_ent *last = j->n ? &j->out[j->n - 1] : NULL;

	/* Join a piece that continues the last one in memory and in its source. */
	if (last && last->e.vaddr + last->e.nr_pages * PG == vaddr && last->e.flags == flags &&
	    last->src == src && (src == SRC_NONE || last->src_off + last->e.nr_pages * PG == src_off)) {
		last->e.nr_pages += nr;
		return 0;
	}
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 32;
		struct out_ent *v = realloc(j->out, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		j->out = v;
		j->cap = cap;
	}
	j->out[j->n++] = (struct out_ent){ { .vaddr = vaddr, .nr_pages = nr, .flags = flags },
					   src, src_off };
	return 0;
}

/* Splits lazy-only entry E along the store's runs. */
static int plan_lazy(struct job *j, const struct img_pm_entry *e, enum img_pc_mode mode)
{
	uint64_t a = e->vaddr, end = e->vaddr + e->nr_pages * PG;
	uint32_t with_data = mode == IMG_PC_FULL ? IMG_PE_PRESENT : IMG_PE_PRESENT | IMG_PE_LAZY;
	size_t lo = 0, hi = j->nr_runs;
	int ret = 0;

	while (lo < hi) { /* first run ending after A */
		size_t mid = lo + (hi - lo) / 2;
		if (j->runs[mid].vaddr + j->runs[mid].nr_pages * PG <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; !ret && a < end; i++) {
		const struct img_pc_run *r = i < j->nr_runs ? &j->runs[i] : NULL;
		uint64_t rs = r && r->vaddr < end ? r->vaddr : end;

		if (rs > a) { /* a hole: no valid copy */
			ret = push(j, a, (rs - a) / PG, IMG_PE_LAZY, SRC_NONE, 0);
			j->remote += (rs - a) / PG;
			a = rs;
		}
		if (!r || a >= end || ret)
			continue;
		uint64_t re = r->vaddr + r->nr_pages * PG;
		uint64_t pe = re < end ? re : end;
		ret = push(j, a, (pe - a) / PG, with_data, SRC_STORE, r->offset + (a - r->vaddr));
		j->local += (pe - a) / PG;
		a = pe;
	}
	return ret;
}

static int plan(struct job *j, enum img_pc_mode mode)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < j->pm.nr_ents; i++) {
		const struct img_pm_entry *e = &j->pm.ents[i];

		if ((e->flags & IMG_PE_LAZY) && !(e->flags & IMG_PE_PRESENT)) {
			j->changes = 1;
			ret = plan_lazy(j, e, mode);
			continue;
		}
		if (e->flags & IMG_PE_PRESENT)
			j->kept += e->nr_pages;
		ret = push(j, e->vaddr, e->nr_pages, e->flags,
			   e->flags & IMG_PE_PRESENT ? SRC_OLD : SRC_NONE, e->file_off);
	}
	if (mode == IMG_PC_FULL) {
		j->missing = j->remote;
		j->remote = 0;
	}
	return ret;
}

static int read_whole(int dirfd, const char *name, uint8_t **buf, size_t *len, int *missing,
		      struct img_err *err)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), ret = 0;

	*buf = NULL;
	*missing = fd < 0 && errno == ENOENT;
	if (fd < 0)
		return *missing ? 0 : img_errf(err, -errno, "%s: open: %s", name, strerror(errno));
	if (fstat(fd, &st) || st.st_size > (256 << 20))
		ret = img_errf(err, -EBADMSG, "%s: not a readable image", name);
	else if (!(*buf = malloc(st.st_size ? (size_t)st.st_size : 1)))
		ret = -ENOMEM;
	else if (pread(fd, *buf, (size_t)st.st_size, 0) != st.st_size)
		ret = img_errf(err, -ENODATA, "%s: short read", name);
	*len = (size_t)st.st_size;
	close(fd);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

static int load_job(struct merge *m, struct job *j)
{
	char name[48];
	uint8_t *buf;
	size_t len = 0;
	int ret, missing;

	snprintf(name, sizeof(name), "pagemap-%d.img", j->pid);
	ret = read_whole(m->dir.dirfd, name, &buf, &len, &missing, m->err);
	if (ret || missing)
		return ret;
	ret = img_parse_pagemap(buf, len, name, j->pid, &j->pm, m->err);
	if (!ret)
		ret = img_pagemap_layout(buf, len, name, IMG_PM_42, &j->layout, m->err);
	free(buf);
	if (!ret)
		ret = img_pc_index_read(m->store_fd, j->pid, &j->runs, &j->nr_runs, m->err);
	if (!ret)
		ret = plan(j, m->mode);
	if (ret == -ENOMEM)
		img_errf(m->err, ret, "out of memory");
	return ret;
}

/* The first pages id above every pages-N.img in the directory. */
static int fresh_id(struct merge *m)
{
	int fd = openat(m->dir.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	unsigned long max = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return img_errf(m->err, -errno, "%s: opendir: %s", m->dir.path, strerror(errno));
	}
	while ((de = readdir(d))) {
		unsigned long id;
		char tail[8];

		if (sscanf(de->d_name, "pages-%lu.im%1s", &id, tail) == 2 && id > max)
			max = id;
	}
	closedir(d);
	for (size_t i = 0; i < m->nr_jobs; i++)
		if (m->jobs[i].pm.pages_id > max)
			max = m->jobs[i].pm.pages_id;
	if (max >= UINT32_MAX - m->nr_jobs)
		return img_errf(m->err, -ERANGE, "%s: no free pages id", m->dir.path);
	m->next_id = (uint32_t)max + 1;
	return 0;
}

static int copy_range(int from, uint64_t off, int to, uint64_t len, uint8_t *buf)
{
	while (len) {
		size_t n = len < COPY_BUF ? (size_t)len : COPY_BUF;
		ssize_t got = pread(from, buf, n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -ENODATA;
		for (ssize_t w = 0; w < got;) {
			ssize_t put = write(to, buf + w, (size_t)(got - w));
			if (put < 0 && errno != EINTR)
				return -errno;
			w += put > 0 ? put : 0;
		}
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* Writes pages-<ID>.img for J from the old pages file OLD and the store file STORE. */
static int write_pages(struct merge *m, struct job *j, uint32_t id, int old, int store)
{
	char name[48], tmp[56];
	uint8_t *buf = malloc(COPY_BUF);
	int fd, ret = buf ? 0 : -ENOMEM;

	snprintf(name, sizeof(name), "pages-%u.img", id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = ret ? -1 : openat(m->dir.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!ret && fd < 0)
		ret = -errno;
	for (size_t i = 0; !ret && i < j->n; i++) {
		const struct out_ent *o = &j->out[i];

		if (o->src == SRC_NONE)
			continue;
		ret = copy_range(o->src == SRC_OLD ? old : store, o->src_off, fd,
				 o->e.nr_pages * PG, buf);
		if (ret)
			img_errf(m->err, ret, "pid %d: copying %s data of 0x%llx+%llu pages: %s",
				 j->pid, o->src == SRC_OLD ? "pages-N.img" : "store",
				 (unsigned long long)o->e.vaddr, (unsigned long long)o->e.nr_pages,
				 strerror(-ret));
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (fd >= 0 && close(fd) && !ret)
		ret = -errno;
	if (!ret && renameat(m->dir.dirfd, tmp, m->dir.dirfd, name))
		ret = -errno;
	if (ret) {
		unlinkat(m->dir.dirfd, tmp, 0);
		if (!m->err->msg[0])
			img_errf(m->err, ret, "%s: write: %s", name, strerror(-ret));
	}
	free(buf);
	return ret;
}

static int open_sources(struct merge *m, struct job *j, int *old, int *store)
{
	char name[48];
	int ret = 0;

	*old = *store = -1;
	if (j->pm.present_bytes)
		ret = img_dir_open_pages(&m->dir, &j->pm, old);
	if (ret) {
		img_errf(m->err, ret, "%s", m->dir.err.msg);
		return ret;
	}
	snprintf(name, sizeof(name), "precopy-%d.pages", j->pid);
	if (j->nr_runs && (*store = openat(m->store_fd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return img_errf(m->err, -errno, "store %s: open: %s", name, strerror(errno));
	return 0;
}

static int rewrite(struct merge *m, struct job *j)
{
	struct img_pm_entry *ents = malloc((j->n ? j->n : 1) * sizeof(*ents));
	uint32_t id = m->next_id++;
	uint8_t *buf = NULL;
	size_t len;
	char name[48];
	int old, store, ret = ents ? open_sources(m, j, &old, &store) : -ENOMEM;

	if (!ents)
		return img_errf(m->err, -ENOMEM, "out of memory");
	if (!ret)
		ret = write_pages(m, j, id, old, store);
	for (size_t i = 0; i < j->n; i++)
		ents[i] = j->out[i].e;
	if (!ret && (ret = img_pagemap_encode(id, ents, j->n, j->layout, &buf, &len)))
		img_errf(m->err, ret, "pagemap-%d.img: cannot encode: %s", j->pid, strerror(-ret));
	snprintf(name, sizeof(name), "pagemap-%d.img", j->pid);
	if (!ret)
		ret = img_write_atomic(m->dir.dirfd, name, buf, len, m->err);
	snprintf(name, sizeof(name), "pages-%u.img", ret ? id : j->pm.pages_id);
	unlinkat(m->dir.dirfd, name, 0); /* the new file on failure, else the old one */
	if (old >= 0)
		close(old);
	if (store >= 0)
		close(store);
	free(buf);
	free(ents);
	return ret;
}

static int check_full(struct merge *m)
{
	char list[160] = "";
	uint64_t total = 0;
	size_t at = 0;

	for (size_t i = 0; i < m->nr_jobs; i++) {
		const struct job *j = &m->jobs[i];

		if (!j->missing)
			continue;
		total += j->missing;
		if (at < sizeof(list))
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%spid %d: %llu",
					       at ? ", " : "", j->pid,
					       (unsigned long long)j->missing);
	}
	if (!total)
		return 0;
	return img_errf(m->err, -ENODATA,
			"--mode full: %llu lazy pages have no valid pre-copied data (%s); nothing "
			"changed", (unsigned long long)total, list);
}

static int run(struct merge *m, struct img_pc_merge_stats *st)
{
	struct img_pstree pst = { 0 };
	int ret = img_dir_read_pstree(&m->dir, &pst);

	if (ret)
		return img_errf(m->err, ret, "%s", m->dir.err.msg);
	m->jobs = calloc(pst.nr_tasks ? pst.nr_tasks : 1, sizeof(*m->jobs));
	st->pids = calloc(pst.nr_tasks ? pst.nr_tasks : 1, sizeof(*st->pids));
	ret = m->jobs && st->pids ? 0 : img_errf(m->err, -ENOMEM, "out of memory");
	for (size_t i = 0; !ret && i < pst.nr_tasks; i++) {
		m->jobs[i].pid = pst.tasks[i].pid;
		m->nr_jobs++;
		ret = load_job(m, &m->jobs[i]);
	}
	img_pstree_free(&pst);
	if (!ret && m->mode == IMG_PC_FULL)
		ret = check_full(m);
	if (!ret)
		ret = fresh_id(m);
	for (size_t i = 0; !ret && i < m->nr_jobs; i++)
		if (m->jobs[i].changes)
			ret = rewrite(m, &m->jobs[i]);
	for (size_t i = 0; st->pids && i < m->nr_jobs; i++) {
		const struct job *j = &m->jobs[i];
		st->pids[st->n++] = (struct img_pc_merge_pid){ j->pid, j->local,
								j->remote + j->missing, j->kept };
	}
	return ret;
}

int img_pc_merge(const char *store, const char *imgdir, enum img_pc_mode mode,
		 struct img_pc_merge_stats *st, struct img_err *err)
{
	struct merge m = { .mode = mode, .err = err, .store_fd = -1 };
	int ret;

	*st = (struct img_pc_merge_stats){ 0 };
	err->msg[0] = 0;
	ret = img_dir_open(&m.dir, imgdir);
	if (ret) {
		img_errf(err, ret, "%s", m.dir.err.msg);
		return ret;
	}
	m.store_fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m.store_fd < 0)
		ret = img_errf(err, -errno, "store %s: open: %s", store, strerror(errno));
	else
		ret = run(&m, st);
	for (size_t i = 0; m.jobs && i < m.nr_jobs; i++) {
		img_pagemap_free(&m.jobs[i].pm);
		free(m.jobs[i].runs);
		free(m.jobs[i].out);
	}
	free(m.jobs);
	if (m.store_fd >= 0)
		close(m.store_fd);
	img_dir_close(&m.dir);
	return ret;
}
