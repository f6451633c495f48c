/* SPDX-License-Identifier: MIT */
/* A CRIU image directory: reads whole image files and hands them to the
 * pure parsers.  pagemap, mm and pstree images are small (KiB), so a single
 * read into memory is simpler and no slower than streaming. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/frame.h"
#include "images/img.h"

/* No metadata image comes near this; a bigger one is corrupt or hostile. */
#define MAX_IMG_BYTES (256u << 20)

struct img_file {
	uint8_t *buf;
	size_t len;
};

static int open_img(struct img_dir *d, const char *name, int *fd)
{
	*fd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return img_errf(&d->err, -errno, "%s/%s: open: %s", d->path, name,
				strerror(errno));
	return 0;
}

static int read_all(struct img_dir *d, const char *name, int fd, struct img_file *file)
{
	size_t off = 0;
	ssize_t n;

	while (off < file->len) {
		n = read(fd, file->buf + off, file->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return img_errf(&d->err, -errno, "%s: read at offset %zu: %s", name, off,
					strerror(errno));
		if (n == 0)
			return img_errf(&d->err, -ENODATA,
					"%s: file shrank while reading at offset %zu (need %zu bytes)",
					name, off, file->len);
		off += (size_t)n;
	}
	return 0;
}

/* Reads NAME whole into FILE (malloc'd; caller frees file->buf). */
static int load(struct img_dir *d, const char *name, struct img_file *file)
{
	struct stat st;
	int fd, ret;

	*file = (struct img_file){ 0 };
	ret = open_img(d, name, &fd);
	if (ret)
		return ret;
	if (fstat(fd, &st)) {
		ret = img_errf(&d->err, -errno, "%s: fstat: %s", name, strerror(errno));
		goto out_close_fd;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_IMG_BYTES) {
		ret = img_errf(&d->err, -EBADMSG, "%s: not a regular file of at most %u bytes",
			       name, MAX_IMG_BYTES);
		goto out_close_fd;
	}
	file->len = (size_t)st.st_size;
	file->buf = malloc(file->len ? file->len : 1);
	if (!file->buf) {
		ret = img_errf(&d->err, -ENOMEM, "%s: out of memory", name);
		goto out_close_fd;
	}
	ret = read_all(d, name, fd, file);
	if (ret) {
		free(file->buf);
		file->buf = NULL;
	}
out_close_fd:
	close(fd);
	return ret;
}

int img_dir_open(struct img_dir *d, const char *path)
{
	struct img_inventory inv;
	struct img_file file;
	int ret;

	*d = (struct img_dir){ .dirfd = -1 };
	if (strlen(path) >= sizeof(d->path))
		return img_errf(&d->err, -ENAMETOOLONG, "%s: path too long", path);
	strcpy(d->path, path);
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return img_errf(&d->err, -errno, "%s: open: %s", path, strerror(errno));
	ret = load(d, "inventory.img", &file);
	if (ret)
		goto err_close_dir;
	ret = img_parse_inventory(file.buf, file.len, "inventory.img", &inv, &d->err);
	free(file.buf);
	if (ret)
		goto err_close_dir;
	return 0;

err_close_dir:
	close(d->dirfd);
	d->dirfd = -1;
	return ret;
}

void img_dir_close(struct img_dir *d)
{
	if (d->dirfd >= 0)
		close(d->dirfd);
	d->dirfd = -1;
}

int img_dir_read_pstree(struct img_dir *d, struct img_pstree *out)
{
	struct img_file file;
	int ret;

	*out = (struct img_pstree){ 0 };
	ret = load(d, "pstree.img", &file);
	if (ret)
		return ret;
	ret = img_parse_pstree(file.buf, file.len, "pstree.img", out, &d->err);
	free(file.buf);
	return ret;
}

/* Like load(), but a missing file is an empty image (*MISSING = 1). */
static int load_optional(struct img_dir *d, const char *name, struct img_file *file,
			 int *missing)
{
	int ret = load(d, name, file);

	*missing = ret == -ENOENT;
	if (*missing)
		d->err.msg[0] = '\0';
	return *missing ? 0 : ret;
}

int img_dir_read_mm(struct img_dir *d, int32_t pid, struct img_mm *out)
{
	struct img_file file;
	char name[32];
	int ret, missing;

	*out = (struct img_mm){ 0 };
	snprintf(name, sizeof(name), "mm-%d.img", pid);
	ret = load_optional(d, name, &file, &missing);
	if (ret || missing)
		return ret;
	ret = img_parse_mm(file.buf, file.len, name, out, &d->err);
	free(file.buf);
	return ret;
}

int img_dir_read_pagemap(struct img_dir *d, int32_t pid, struct img_pagemap *out)
{
	struct img_file file;
	char name[32];
	int ret, missing;

	*out = (struct img_pagemap){ .pid = pid, .lazy_has_data = 1 };
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	ret = load_optional(d, name, &file, &missing);
	if (ret || missing)
		return ret;
	ret = img_parse_pagemap(file.buf, file.len, name, pid, out, &d->err);
	free(file.buf);
	return ret;
}

int img_dir_open_pages(struct img_dir *d, const struct img_pagemap *pm, int *fd)
{
	struct stat st;
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "pages-%u.img", pm->pages_id);
	ret = open_img(d, name, fd);
	if (ret)
		return ret;
	if (fstat(*fd, &st)) {
		ret = img_errf(&d->err, -errno, "%s: fstat: %s", name, strerror(errno));
		goto err_close_fd;
	}
	if ((uint64_t)st.st_size < pm->present_bytes) {
		ret = img_errf(&d->err, -ENODATA,
			       "%s: short pages image at offset %lld (need %llu bytes, have %lld)",
			       name, (long long)st.st_size, (unsigned long long)pm->present_bytes,
			       (long long)st.st_size);
		goto err_close_fd;
	}
	return 0;

err_close_fd:
	close(*fd);
	*fd = -1;
	return ret;
}
