/* SPDX-License-Identifier: MIT */
/* CRIU image framing: a pure cursor over a whole image file in memory.
 *
 * A typed image is u32 IMG_MAGIC_COMMON, u32 type magic, then repeated
 * [u32 LE length][protobuf message].  inventory.img has only its own magic.
 * The cursor never reads past LEN and keeps the offsets that error messages
 * name.  Internal to images/; not thread-safe per cursor. */
#ifndef FL_IMG_FRAME_H
#define FL_IMG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "images/img.h"

struct img_frame {
	const uint8_t *buf;
	size_t len;
	size_t off;     /* next unread byte */
	size_t msg_off; /* offset of the last message body returned */
	const char *name;
};

enum img_frame_res { IMG_FRAME_MSG = 1, IMG_FRAME_EOF = 2 };

/* Checks the header of BUF/LEN: for IMG_MAGIC_INVENTORY a single magic word,
 * for any other MAGIC the common magic followed by MAGIC.  Returns 0 and leaves
 * F positioned at the first message, -ENODATA if the header is truncated or
 * -EBADMSG on a wrong magic (message in ERR).  F borrows BUF and NAME. */
int img_frame_init(struct img_frame *f, const uint8_t *buf, size_t len, const char *name,
		   uint32_t magic, struct img_err *err);

/* Returns IMG_FRAME_MSG with *MSG and *MSG_LEN pointing into the buffer (and
 * f->msg_off set), IMG_FRAME_EOF at a clean end of file, -ENODATA if the
 * length word or the message is cut short, or -EBADMSG if the length is
 * larger than the whole file. */
int img_frame_next(struct img_frame *f, const uint8_t **msg, size_t *msg_len,
		   struct img_err *err);

/* For images that hold exactly one message (mm, inventory): returns 0 with
 * that message, -ENODATA if there is none, -EPROTO if another follows, or an
 * img_frame_next error.  WHAT names the message type in ERR. */
int img_frame_single(struct img_frame *f, const uint8_t **msg, size_t *msg_len,
		     const char *what, struct img_err *err);

/* Formats a message into ERR (which may be NULL) and returns RET, so that
 * callers can write `return img_errf(err, -EPROTO, "%s: ...", name);`. */
int img_errf(struct img_err *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
