/* SPDX-License-Identifier: MIT */
/* CRIU's page-server wire protocol: the one place that knows its layout.
 *
 * CRIU sends raw host structs with no negotiation; on x86-64 that is
 * little-endian.  Two header layouts exist:
 *   4.1:  u32 cmd, u32 nr_pages, u64 vaddr, u64 dst_id              (24 bytes)
 *   4.2+: u32 cmd, u32 pad, u64 nr_pages, u64 vaddr, u64 dst_id     (32 bytes)
 * The low 16 bits of cmd are the command, the high 16 bits PE_* flags. */
#ifndef FL_XPORT_PROTO_H
#define FL_XPORT_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum xport_cmd {
	XPORT_CMD_ADD = 1,
	XPORT_CMD_HOLE = 2,
	XPORT_CMD_OPEN = 3,
	XPORT_CMD_OPEN2 = 4,
	XPORT_CMD_PARENT = 5,
	XPORT_CMD_ADD_F = 6,
	XPORT_CMD_GET = 7,
	XPORT_CMD_CLOSE = 0x1023,
	XPORT_CMD_FORCE_CLOSE = 0x1024,
};

enum xport_pe_flags { XPORT_PE_PARENT = 1, XPORT_PE_LAZY = 2, XPORT_PE_PRESENT = 4 };

enum xport_proto_ver {
	XPORT_PROTO_AUTO = 0, /* detect from the first header (server side only) */
	XPORT_PROTO_41 = 41,
	XPORT_PROTO_42 = 42,
};

enum {
	XPORT_PAGE_SIZE = 4096,
	XPORT_HDR41_SIZE = 24,
	XPORT_HDR42_SIZE = 32,
	XPORT_HDR_MAX = XPORT_HDR42_SIZE,
	XPORT_CLOSE_REPLY_SIZE = 4, /* int32 status */
	/* A GET's reply command: ADD_F with PE_PRESENT in the flag half. */
	XPORT_GET_REPLY_CMD = XPORT_CMD_ADD_F | (XPORT_PE_PRESENT << 16),
};

/* The wire images, for size asserts and documentation; encode/decode go
 * through explicit little-endian byte access, never through these. */
struct xport_wire_hdr41 {
	uint32_t cmd;
	uint32_t nr_pages;
	uint64_t vaddr;
	uint64_t dst_id;
} __attribute__((packed));
_Static_assert(sizeof(struct xport_wire_hdr41) == XPORT_HDR41_SIZE, "4.1 header is 24 bytes");

struct xport_wire_hdr42 {
	uint32_t cmd;
	uint32_t pad;
	uint64_t nr_pages;
	uint64_t vaddr;
	uint64_t dst_id;
} __attribute__((packed));
_Static_assert(sizeof(struct xport_wire_hdr42) == XPORT_HDR42_SIZE, "4.2 header is 32 bytes");

/* A decoded header, independent of the layout. */
struct xport_msg {
	uint16_t cmd;    /* enum xport_cmd, low half of the wire cmd */
	uint16_t flags;  /* high half of the wire cmd (PE_* for ADD_F) */
	uint64_t nr_pages;
	uint64_t vaddr;
	uint64_t dst_id;
};

/* Header size for VER (41 or 42); 0 for anything else. */
size_t xport_hdr_size(enum xport_proto_ver ver);

/* Encodes MSG in VER's layout into BUF (at least xport_hdr_size(ver) bytes).
 * Returns the size written, -EINVAL for a bad VER, -ERANGE if nr_pages does
 * not fit the 4.1 u32. */
int xport_hdr_encode(enum xport_proto_ver ver, const struct xport_msg *msg, uint8_t *buf,
		     size_t len);

/* Decodes one header of VER from BUF.  Returns 0, -EAGAIN if LEN is shorter
 * than the header, -EINVAL for a bad VER.  Does not judge the command. */
int xport_hdr_decode(enum xport_proto_ver ver, const uint8_t *buf, size_t len,
		     struct xport_msg *msg);

/* Tells a 4.1 client from a 4.2 one by the first header it sent, which for a
 * lazy client is a GET (or a CLOSE).  Needs 24 bytes; returns 0 with *VER set,
 * -EAGAIN if fewer are buffered, -EPROTO if neither layout gives a plausible
 * GET/CLOSE.  The rule: in 4.2, bytes 4..7 are padding and bytes 8..15 a small
 * page count; in 4.1 they are a non-zero page count and a page-aligned address. */
int xport_detect_version(const uint8_t *buf, size_t len, enum xport_proto_ver *ver);

/* A short name for CMD ("GET", "CLOSE", ...) or NULL if it is unknown. */
const char *xport_cmd_name(unsigned cmd);

#endif
