/* SPDX-License-Identifier: MIT */
#include "uffd/hotness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PAGE = 4096, MAX_MAP = 64 << 20 };

static int push(struct uffd_hotmap *m, size_t *cap, const struct uffd_hot *h)
{
	if (m->n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct uffd_hot *v = realloc(m->v, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->v = v;
		*cap = c;
	}
	m->v[m->n++] = *h;
	return 0;
}

/* One data line (NUL-terminated, no newline). */
static int parse_line(const char *line, struct uffd_hot *h)
{
	char extra;
	long long pid;

	if (sscanf(line, "%lld %" SCNx64 " %" SCNx64 " %" SCNu64 " %c", &pid, &h->start, &h->end,
		   &h->writes, &extra) != 4)
		return -EBADMSG;
	if (pid <= 0 || pid > INT32_MAX || h->start >= h->end || (h->start | h->end) % PAGE)
		return -EBADMSG;
	h->vpid = (int32_t)pid;
	return 0;
}

int uffd_hotmap_parse(const char *buf, size_t len, struct uffd_hotmap *m)
{
	size_t cap = 0, lineno = 0;
	char line[256];

	memset(m, 0, sizeof(*m));
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		struct uffd_hot h;
		int ret = 0;

		lineno++;
		if (n >= sizeof(line)) {
			ret = -EBADMSG;
		} else {
			memcpy(line, buf + pos, n);
			line[n] = 0;
			size_t skip = strspn(line, " \t\r");
			if (line[skip] && line[skip] != '#' && !memchr(line, 0, n))
				ret = parse_line(line, &h);
			else if (line[skip] && line[skip] != '#')
				ret = -EBADMSG; /* a NUL inside the line */
			else
				goto next;
			if (!ret)
				ret = push(m, &cap, &h);
		}
		if (ret) {
			snprintf(m->err, sizeof(m->err), "line %zu: %s", lineno,
				 ret == -ENOMEM ? "out of memory"
						: "expected 'vpid start end writes' (hex, page aligned)");
			uffd_hotmap_free(m);
			return ret;
		}
next:
		pos += n + 1;
	}
	return 0;
}

int uffd_hotmap_load(const char *path, struct uffd_hotmap *m)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got = 0;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(m->err, sizeof(m->err), "%s: %s", path, strerror(errno));
		goto out;
	}
	ret = -EFBIG;
	if (st.st_size > MAX_MAP) {
		snprintf(m->err, sizeof(m->err), "%s: larger than 64 MiB", path);
		goto out;
	}
	ret = -ENOMEM;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	while (got < st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)(st.st_size - got));
		if (k <= 0)
			break;
		got += k;
	}
	ret = uffd_hotmap_parse(buf, (size_t)got, m);
	if (ret) {
		/* The whole path: a long one must not lose the file name. */
		char why[sizeof(m->err)];
		memcpy(why, m->err, sizeof(why));
		snprintf(m->err, sizeof(m->err), "%.*s: %.150s", PATH_MAX - 1, path, why);
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

void uffd_hotmap_widen(struct uffd_hotmap *m, unsigned block_pages)
{
	uint64_t blk = (uint64_t)block_pages * PAGE;

	if (block_pages <= 1 || (block_pages & (block_pages - 1)))
		return;
	for (size_t i = 0; i < m->n; i++) {
		m->v[i].start &= ~(blk - 1);
		m->v[i].end = (m->v[i].end + blk - 1) & ~(blk - 1);
	}
}

void uffd_hotmap_free(struct uffd_hotmap *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}
