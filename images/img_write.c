/* SPDX-License-Identifier: MIT */
/* pagemap-<pid>.img writer (the framing of frame.c, in reverse) and atomic
 * replacement of an image file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/frame.h"
#include "images/img_write.h"
#include "proto/pagemap.pb-c.h"

struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

static int wb_reserve(struct wbuf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	while (cap < b->len + more)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int wb_u32(struct wbuf *b, uint32_t v)
{
	uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	int ret = wb_reserve(b, 4);

	if (ret)
		return ret;
	memcpy(b->p + b->len, le, 4);
	b->len += 4;
	return 0;
}

/* Appends [u32 LE length][packed M]. */
static int wb_msg(struct wbuf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	int ret = n > UINT32_MAX ? -ERANGE : wb_u32(b, (uint32_t)n);

	if (!ret)
		ret = wb_reserve(b, n);
	if (ret)
		return ret;
	b->len += protobuf_c_message_pack(m, b->p + b->len);
	return 0;
}

int img_pagemap_encode(uint32_t pages_id, const struct img_pm_entry *e, size_t n,
		       enum img_pm_layout layout, uint8_t **buf, size_t *len)
{
	FlPagemapHead h = FL_PAGEMAP_HEAD__INIT;
	struct wbuf b = { 0 };
	int ret;

	h.has_pages_id = 1;
	h.pages_id = pages_id;
	ret = wb_u32(&b, IMG_MAGIC_COMMON) ?: wb_u32(&b, IMG_MAGIC_PAGEMAP) ?:
	      wb_msg(&b, &h.base);
	for (size_t i = 0; !ret && i < n; i++) {
		FlPagemapEntry pe = FL_PAGEMAP_ENTRY__INIT;

		pe.has_vaddr = 1;
		pe.vaddr = e[i].vaddr;
		pe.has_flags = 1;
		pe.flags = e[i].flags;
		pe.has_compat_nr_pages = 1;
		if (layout == IMG_PM_42) {
			pe.compat_nr_pages = 0;
			pe.has_nr_pages = 1;
			pe.nr_pages = e[i].nr_pages;
		} else if (e[i].nr_pages > UINT32_MAX) {
			ret = -ERANGE;
			break;
		} else {
			pe.compat_nr_pages = (uint32_t)e[i].nr_pages;
		}
		ret = wb_msg(&b, &pe.base);
	}
	if (ret) {
		free(b.p);
		return ret;
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

int img_pagemap_layout(const uint8_t *buf, size_t len, const char *name, enum img_pm_layout def,
		       enum img_pm_layout *out, struct img_err *err)
{
	struct img_frame f;
	const uint8_t *msg;
	size_t n;
	int ret = img_frame_init(&f, buf, len, name, IMG_MAGIC_PAGEMAP, err);

	if (!ret)
		ret = img_frame_next(&f, &msg, &n, err); /* the head */
	if (ret == IMG_FRAME_MSG)
		ret = img_frame_next(&f, &msg, &n, err);
	if (ret < 0)
		return ret;
	*out = def;
	if (ret == IMG_FRAME_EOF)
		return 0;
	FlPagemapEntry *pe = fl_pagemap_entry__unpack(NULL, n, msg);
	if (!pe)
		return img_errf(err, -EBADMSG, "%s: corrupt pagemap_entry at offset %zu", name,
				f.msg_off);
	*out = pe->has_nr_pages ? IMG_PM_42 : IMG_PM_41;
	fl_pagemap_entry__free_unpacked(pe, NULL);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int img_write_atomic(int dirfd, const char *name, const void *buf, size_t len,
		     struct img_err *err)
{
	char tmp[300];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return img_errf(err, -errno, "%s: create: %s", tmp, strerror(errno));
	ret = write_all(fd, buf, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && renameat(dirfd, tmp, dirfd, name))
		ret = -errno;
	if (ret) {
		unlinkat(dirfd, tmp, 0);
		return img_errf(err, ret, "%s: write: %s", name, strerror(-ret));
	}
	return 0;
}
