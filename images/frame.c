/* SPDX-License-Identifier: MIT */
/* CRIU image framing cursor: magic words and length-prefixed messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "images/frame.h"

int img_errf(struct img_err *err, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return ret;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int check_magic(const struct img_frame *f, size_t off, uint32_t want,
		       struct img_err *err)
{
	uint32_t got = get_le32(f->buf + off);

	if (got != want)
		return img_errf(err, -EBADMSG, "%s: bad magic 0x%08x at offset %zu (want 0x%08x)",
				f->name, got, off, want);
	return 0;
}

int img_frame_init(struct img_frame *f, const uint8_t *buf, size_t len, const char *name,
		   uint32_t magic, struct img_err *err)
{
	size_t hdr = magic == IMG_MAGIC_INVENTORY ? 4 : 8;
	int ret;

	*f = (struct img_frame){ .buf = buf, .len = len, .name = name };
	if (len < hdr)
		return img_errf(err, -ENODATA,
				"%s: truncated header at offset 0 (need %zu bytes, have %zu)", name,
				hdr, len);
	if (hdr == 4)
		ret = check_magic(f, 0, magic, err);
	else
		ret = check_magic(f, 0, IMG_MAGIC_COMMON, err) ?: check_magic(f, 4, magic, err);
	if (ret)
		return ret;
	f->off = hdr;
	return 0;
}

int img_frame_next(struct img_frame *f, const uint8_t **msg, size_t *msg_len,
		   struct img_err *err)
{
	size_t have = f->len - f->off;
	uint32_t n;

	if (have == 0)
		return IMG_FRAME_EOF;
	if (have < 4)
		return img_errf(err, -ENODATA,
				"%s: truncated length word at offset %zu (need 4 bytes, have %zu)",
				f->name, f->off, have);
	n = get_le32(f->buf + f->off);
	have -= 4;
	if (n > f->len)
		return img_errf(err, -EBADMSG,
				"%s: message length %u at offset %zu is larger than the file (%zu bytes)",
				f->name, n, f->off, f->len);
	if (n > have)
		return img_errf(err, -ENODATA,
				"%s: truncated message at offset %zu (need %u bytes, have %zu)",
				f->name, f->off + 4, n, have);
	f->msg_off = f->off + 4;
	f->off += 4 + (size_t)n;
	*msg = f->buf + f->msg_off;
	*msg_len = n;
	return IMG_FRAME_MSG;
}

int img_frame_single(struct img_frame *f, const uint8_t **msg, size_t *msg_len,
		     const char *what, struct img_err *err)
{
	const uint8_t *extra;
	size_t extra_len, off;
	int ret;

	ret = img_frame_next(f, msg, msg_len, err);
	if (ret < 0)
		return ret;
	if (ret == IMG_FRAME_EOF)
		return img_errf(err, -ENODATA, "%s: no %s at offset %zu", f->name, what, f->off);
	off = f->off;
	ret = img_frame_next(f, &extra, &extra_len, err);
	if (ret < 0)
		return ret;
	if (ret == IMG_FRAME_MSG)
		return img_errf(err, -EPROTO, "%s: unexpected second message at offset %zu",
				f->name, off);
	f->msg_off = (size_t)(*msg - f->buf);
	return 0;
}
