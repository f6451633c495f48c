/* SPDX-License-Identifier: MIT */
/* The pre-copy page store: `faultline precopy recv` feeds the FLPC parser
 * (flpc.c) and keeps, per pid, an extent map of the latest copy of each page:
 * a sorted array of runs that either point into precopy-<pid>.pages (data is
 * appended there as it arrives, so a newer copy of a page simply points
 * further on) or are marked invalidated.  Memory is bounded by the number of
 * runs; page data only passes through a fixed buffer.  At a valid END the
 * valid runs become precopy-<pid>.idx. */
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
#define NO_DATA UINT64_MAX
enum { MAX_PIDS = 512, IO_BUF = 1 << 20, IDX_HDR = 16, IDX_RUN = 24 };

struct ext {
	uint64_t vaddr, nr, off; /* off: NO_DATA = invalidated */
};

struct pc_pid {
	uint32_t pid;
	int fd;
	uint64_t size; /* bytes in the .pages file */
	struct ext *v;
	size_t n, cap;
};

struct pc_recv {
	int dirfd;
	struct pc_pid *pids;
	size_t n;
	struct pc_pid *cur; /* the PAGES record whose data is coming */
	struct img_err *err;
};

static uint64_t ext_off_at(const struct ext *e, uint64_t vaddr)
{
	return e->off == NO_DATA ? NO_DATA : e->off + (vaddr - e->vaddr);
}

static int joinable(const struct ext *a, const struct ext *b)
{
	if (a->vaddr + a->nr * PG != b->vaddr)
		return 0;
	if (a->off == NO_DATA || b->off == NO_DATA)
		return a->off == b->off;
	return a->off + a->nr * PG == b->off;
}

/* Lays [vaddr, vaddr + nr pages) with data at OFF (or NO_DATA) over P's map. */
static int overlay(struct pc_pid *p, uint64_t vaddr, uint64_t nr, uint64_t off)
{
	uint64_t end = vaddr + nr * PG;
	struct ext piece[3];
	size_t i = 0, j, k = 0;

	if (p->n + 3 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct ext *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	while (i < p->n && p->v[i].vaddr + p->v[i].nr * PG <= vaddr)
		i++;
	for (j = i; j < p->n && p->v[j].vaddr < end; j++)
		;
	if (i < j && p->v[i].vaddr < vaddr)
		piece[k++] = (struct ext){ p->v[i].vaddr, (vaddr - p->v[i].vaddr) / PG, p->v[i].off };
	piece[k++] = (struct ext){ vaddr, nr, off };
	if (i < j && p->v[j - 1].vaddr + p->v[j - 1].nr * PG > end) {
		const struct ext *r = &p->v[j - 1];
		piece[k++] = (struct ext){ end, (r->vaddr + r->nr * PG - end) / PG, ext_off_at(r, end) };
	}
	memmove(p->v + i + k, p->v + j, (p->n - j) * sizeof(*p->v));
	memcpy(p->v + i, piece, k * sizeof(*piece));
	p->n = p->n - (j - i) + k;
	/* Keep the map small: join the new run with contiguous neighbours. */
	size_t lo = i ? i - 1 : 0, hi = i + k < p->n ? i + k : p->n - 1;
	for (size_t a = lo; a < hi && a + 1 < p->n;) {
		if (joinable(&p->v[a], &p->v[a + 1])) {
			p->v[a].nr += p->v[a + 1].nr;
			memmove(p->v + a + 1, p->v + a + 2, (p->n - a - 2) * sizeof(*p->v));
			p->n--;
			hi--;
		} else {
			a++;
		}
	}
	return 0;
}

static struct pc_pid *get_pid(struct pc_recv *r, uint32_t pid)
{
	char name[48];

	for (size_t i = 0; i < r->n; i++)
		if (r->pids[i].pid == pid)
			return &r->pids[i];
	if (r->n == MAX_PIDS) {
		img_errf(r->err, -EMFILE, "more than %d pids in the stream", MAX_PIDS);
		return NULL;
	}
	snprintf(name, sizeof(name), "precopy-%u.pages", pid);
	int fd = openat(r->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		img_errf(r->err, -errno, "%s: create: %s", name, strerror(errno));
		return NULL;
	}
	r->pids[r->n] = (struct pc_pid){ .pid = pid, .fd = fd };
	return &r->pids[r->n++];
}

static int sink_pages(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	struct pc_recv *r = arg;
	struct pc_pid *p = get_pid(r, pid);
	int ret;

	if (!p)
		return -EIO;
	ret = overlay(p, vaddr, nr, p->size);
	if (ret)
		return img_errf(r->err, ret, "out of memory");
	r->cur = p;
	return 0;
}

static int sink_data(void *arg, const uint8_t *buf, size_t len)
{
	struct pc_recv *r = arg;
	struct pc_pid *p = r->cur;

	while (len) {
		ssize_t n = pwrite(p->fd, buf, len, (off_t)p->size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return img_errf(r->err, n < 0 ? -errno : -EIO,
					"precopy-%u.pages: write at offset %llu: %s", p->pid,
					(unsigned long long)p->size, strerror(n < 0 ? errno : EIO));
		p->size += (uint64_t)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sink_invalidate(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	struct pc_recv *r = arg;
	struct pc_pid *p = get_pid(r, pid);

	if (!p)
		return -EIO;
	return overlay(p, vaddr, nr, NO_DATA) ? img_errf(r->err, -ENOMEM, "out of memory") : 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int write_index(struct pc_recv *r, struct pc_pid *p, struct img_pc_recv_stats *st)
{
	uint8_t *buf = malloc(IDX_HDR + p->n * IDX_RUN);
	size_t runs = 0;
	char name[48];
	int ret;

	if (!buf)
		return img_errf(r->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		const struct ext *e = &p->v[i];
		uint8_t *q = buf + IDX_HDR + runs * IDX_RUN;

		if (e->off == NO_DATA) {
			st->invalidated += e->nr;
			continue;
		}
		st->valid += e->nr;
		put_le64(q, e->vaddr);
		put_le64(q + 8, e->nr);
		put_le64(q + 16, e->off);
		runs++;
	}
	put_le64(buf, (uint64_t)IMG_FLPI_VERSION << 32 | IMG_FLPI_MAGIC);
	put_le64(buf + 8, runs);
	snprintf(name, sizeof(name), "precopy-%u.idx", p->pid);
	ret = fsync(p->fd) ? -errno : 0;
	if (!ret)
		ret = img_write_atomic(r->dirfd, name, buf, IDX_HDR + runs * IDX_RUN, r->err);
	else
		img_errf(r->err, ret, "precopy-%u.pages: fsync: %s", p->pid, strerror(-ret));
	free(buf);
	return ret;
}

/* Removes the precopy-* files an earlier recv left in the store. */
static int clear_store(struct pc_recv *r)
{
	int fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return img_errf(r->err, -errno, "store: opendir: %s", strerror(errno));
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "precopy-", 8) &&
		    (strstr(de->d_name, ".pages") || strstr(de->d_name, ".idx")))
			unlinkat(r->dirfd, de->d_name, 0);
	closedir(d);
	return 0;
}

static int pump(struct pc_recv *r, int fd, struct img_flpc *p, uint64_t *bytes)
{
	const struct img_flpc_sink sink = { .arg = r, .pages = sink_pages, .data = sink_data,
					    .invalidate = sink_invalidate };
	uint8_t *buf = malloc(IO_BUF);
	int ret = 0;

	if (!buf)
		return img_errf(r->err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf, IO_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = img_errf(r->err, -errno, "read at stream offset %llu: %s",
				       (unsigned long long)p->off, strerror(errno));
			break;
		}
		if (n == 0) {
			ret = img_flpc_finish(p);
			break;
		}
		*bytes += (uint64_t)n;
		ret = img_flpc_feed(p, buf, (size_t)n, &sink);
		if (ret)
			break;
	}
	if (ret && p->err[0] && !r->err->msg[0])
		img_errf(r->err, ret, "%s", p->err);
	free(buf);
	return ret;
}

static int open_store(const char *store, int *dirfd, struct img_err *err)
{
	if (mkdir(store, 0700) && errno != EEXIST)
		return img_errf(err, -errno, "%s: mkdir: %s", store, strerror(errno));
	*dirfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return img_errf(err, -errno, "%s: open: %s", store, strerror(errno));
	return 0;
}

int img_pc_recv(int fd, const char *store, struct img_pc_recv_stats *st, struct img_err *err)
{
	struct pc_recv r = { .err = err };
	struct img_flpc p;
	int ret;

	*st = (struct img_pc_recv_stats){ 0 };
	err->msg[0] = 0;
	ret = open_store(store, &r.dirfd, err);
	if (ret)
		return ret;
	r.pids = calloc(MAX_PIDS, sizeof(*r.pids));
	ret = r.pids ? clear_store(&r) : img_errf(err, -ENOMEM, "out of memory");
	img_flpc_init(&p);
	if (!ret)
		ret = pump(&r, fd, &p, &st->bytes);
	for (size_t i = 0; !ret && i < r.n; i++)
		ret = write_index(&r, &r.pids[i], st);
	st->received = p.pages_sent;
	st->rounds = p.rounds;
	st->nr_pids = r.n;
	for (size_t i = 0; r.pids && i < r.n; i++) {
		close(r.pids[i].fd);
		free(r.pids[i].v);
	}
	free(r.pids);
	close(r.dirfd);
	return ret;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int check_runs(const struct img_pc_run *v, size_t n, const char *name,
		      struct img_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct img_pc_run *x = &v[i];

		if (x->vaddr % PG || x->offset % PG || !x->nr_pages ||
		    x->nr_pages > (UINT64_MAX - x->vaddr) / PG ||
		    (i && x->vaddr < v[i - 1].vaddr + v[i - 1].nr_pages * PG))
			return img_errf(err, -EBADMSG, "%s: bad run at offset %zu", name,
					(size_t)IDX_HDR + i * IDX_RUN);
	}
	return 0;
}

int img_pc_index_read(int dirfd, int32_t pid, struct img_pc_run **runs, size_t *n,
		      struct img_err *err)
{
	uint8_t hdr[IDX_HDR], *buf = NULL;
	char name[48];
	struct stat st;
	int ret, fd;

	*runs = NULL;
	*n = 0;
	snprintf(name, sizeof(name), "precopy-%d.idx", pid);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : img_errf(err, -errno, "%s: open: %s", name, strerror(errno));
	ret = fstat(fd, &st) ? -errno : 0;
	if (!ret && pread(fd, hdr, IDX_HDR, 0) != IDX_HDR)
		ret = img_errf(err, -ENODATA, "%s: truncated header at offset 0", name);
	else if (!ret && get_le64(hdr) != ((uint64_t)IMG_FLPI_VERSION << 32 | IMG_FLPI_MAGIC))
		ret = img_errf(err, -EBADMSG, "%s: bad magic at offset 0", name);
	uint64_t count = ret ? 0 : get_le64(hdr + 8);
	if (!ret && (count > (uint64_t)st.st_size / IDX_RUN ||
		     (uint64_t)st.st_size != IDX_HDR + count * IDX_RUN))
		ret = img_errf(err, -ENODATA, "%s: %llu runs do not fit its %lld bytes", name,
			       (unsigned long long)count, (long long)st.st_size);
	if (!ret && count && !(buf = malloc(count * IDX_RUN)) )
		ret = -ENOMEM;
	if (!ret && count && pread(fd, buf, count * IDX_RUN, IDX_HDR) != (ssize_t)(count * IDX_RUN))
		ret = img_errf(err, -ENODATA, "%s: short read at offset %d", name, IDX_HDR);
	if (!ret && count && !(*runs = malloc(count * sizeof(**runs))))
		ret = -ENOMEM;
	for (uint64_t i = 0; !ret && i < count; i++)
		(*runs)[i] = (struct img_pc_run){ get_le64(buf + i * IDX_RUN),
						  get_le64(buf + i * IDX_RUN + 8),
						  get_le64(buf + i * IDX_RUN + 16) };
	if (!ret)
		ret = check_runs(*runs, count, name, err);
	free(buf);
	close(fd);
	if (ret) {
		free(*runs);
		*runs = NULL;
		return ret;
	}
	*n = count;
	return 0;
}
