/* SPDX-License-Identifier: MIT */
/* Framing and header errors, common to every image parser. */
#include <errno.h>
#include <stdio.h>

#include "proto/mm.pb-c.h"
#include "tests/unit/helpers.h"
#include "tests/unit/test_img.h"

enum parser { P_INV, P_PSTREE, P_MM, P_PM };

static int run_parser(enum parser p, const struct t_buf *b, const char *name,
		      struct img_err *err)
{
	struct img_inventory inv;
	struct img_pstree ps;
	struct img_mm mm;
	struct img_pagemap pm;
	int ret = -EINVAL;

	switch (p) {
	case P_INV:
		ret = img_parse_inventory(b->p, b->len, name, &inv, err);
		break;
	case P_PSTREE:
		ret = img_parse_pstree(b->p, b->len, name, &ps, err);
		if (!ret)
			img_pstree_free(&ps);
		break;
	case P_MM:
		ret = img_parse_mm(b->p, b->len, name, &mm, err);
		if (!ret)
			img_mm_free(&mm);
		break;
	case P_PM:
		ret = img_parse_pagemap(b->p, b->len, name, 1, &pm, err);
		if (!ret)
			img_pagemap_free(&pm);
		break;
	}
	return ret;
}

static const struct t_pe one_pe[] = { { 0x10000, 1, IMG_PE_PRESENT } };

static void b_bad_common(struct t_buf *b)
{
	t_img_pagemap(b, 1, one_pe, 1, T_PE_41);
	b->p[0] ^= 0xff;
}
static void b_mm_magic(struct t_buf *b) { t_img_mm(b, NULL, 0); }
static void b_bad_inv(struct t_buf *b) { t_img_pagemap(b, 1, one_pe, 1, T_PE_41); }
static void b_short_hdr(struct t_buf *b) { t_buf_u32(b, IMG_MAGIC_COMMON); t_buf_raw(b, "\x25\x40", 2); }
static void b_short_len(struct t_buf *b)
{
	t_img_pagemap(b, 1, one_pe, 1, T_PE_41); /* 26 bytes */
	t_buf_raw(b, "\x05\x00", 2);
}
static void b_short_msg(struct t_buf *b)
{
	t_img_pagemap(b, 1, NULL, 0, T_PE_41); /* 14 bytes */
	t_buf_u32(b, 20);
	t_buf_raw(b, "\x08\x01\x08\x01\x08\x01\x08", 7);
}
static void b_huge_len(struct t_buf *b)
{
	t_buf_header(b, IMG_MAGIC_PSTREE);
	t_buf_u32(b, 1000);
	t_buf_raw(b, "\x08\x01\x10", 3);
}
static void b_corrupt(struct t_buf *b)
{
	t_buf_header(b, IMG_MAGIC_PSTREE);
	t_buf_u32(b, 2);
	t_buf_raw(b, "\x08\x80", 2); /* varint cut short */
}
static void b_two_mm(struct t_buf *b)
{
	FlMmEntry mm = FL_MM_ENTRY__INIT;

	t_img_mm(b, NULL, 0); /* 12 bytes: header + empty message */
	t_buf_msg(b, &mm.base);
}
static void b_empty_pstree(struct t_buf *b) { t_buf_header(b, IMG_MAGIC_PSTREE); }
static void b_no_head(struct t_buf *b) { t_buf_header(b, IMG_MAGIC_PAGEMAP); }
static void b_inv_v3(struct t_buf *b) { t_img_inventory(b, 3); }
static void b_inv_ok(struct t_buf *b) { t_img_inventory(b, 2); }

static const struct frame_case {
	const char *what;
	void (*build)(struct t_buf *b);
	enum parser parser;
	const char *name;
	int ret;
	size_t off;    /* offset the error must name */
	const char *detail;
} frame_cases[] = {
	{ "bad common magic", b_bad_common, P_PM, "pagemap-1.img", -EBADMSG, 0, "0x54564319" },
	{ "mm image read as pagemap", b_mm_magic, P_PM, "pagemap-1.img", -EBADMSG, 4, "0x56084025" },
	{ "pagemap read as inventory", b_bad_inv, P_INV, "inventory.img", -EBADMSG, 0, "0x58313116" },
	{ "truncated header", b_short_hdr, P_PM, "pagemap-1.img", -ENODATA, 0, "need 8 bytes, have 6" },
	{ "truncated length word", b_short_len, P_PM, "pagemap-1.img", -ENODATA, 26, "need 4 bytes, have 2" },
	{ "truncated message", b_short_msg, P_PM, "pagemap-42.img", -ENODATA, 18, "need 20 bytes, have 7" },
	{ "length larger than file", b_huge_len, P_PSTREE, "pstree.img", -EBADMSG, 8, "1000" },
	{ "corrupt protobuf", b_corrupt, P_PSTREE, "pstree.img", -EBADMSG, 12, "pstree_entry" },
	{ "second mm_entry", b_two_mm, P_MM, "mm-7.img", -EPROTO, 12, "second" },
	{ "pstree without entries", b_empty_pstree, P_PSTREE, "pstree.img", -ENODATA, 8, "pstree_entry" },
	{ "pagemap without head", b_no_head, P_PM, "pagemap-1.img", -ENODATA, 8, "pagemap_head" },
	{ "unsupported img_version", b_inv_v3, P_INV, "inventory.img", -EPROTO, 8, "img_version 3" },
	{ "inventory ok", b_inv_ok, P_INV, "inventory.img", 0, 0, NULL },
};

START_TEST(test_frame_table)
{
	const struct frame_case *c = &frame_cases[_i];
	struct img_err err = { "" };
	struct t_buf b = { 0 };
	int ret;

	c->build(&b);
	ret = run_parser(c->parser, &b, c->name, &err);
	ck_assert_msg(ret == c->ret, "%s: ret %d, want %d (%s)", c->what, ret, c->ret, err.msg);
	if (c->ret) {
		t_assert_err_at(&err, c->name, c->off);
		ck_assert_msg(strstr(err.msg, c->detail), "%s: \"%s\" lacks \"%s\"", c->what,
			      err.msg, c->detail);
	}
	t_buf_free(&b);
}
END_TEST

START_TEST(test_inventory_version)
{
	struct img_inventory inv = { 0 };
	struct t_buf b = { 0 };

	t_img_inventory(&b, 2);
	ck_assert_int_eq(img_parse_inventory(b.p, b.len, "inventory.img", &inv, NULL), 0);
	ck_assert_uint_eq(inv.img_version, 2);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_null_err_and_empty_buffer)
{
	struct img_pagemap pm;

	ck_assert_int_eq(img_parse_pagemap(NULL, 0, "pagemap-1.img", 1, &pm, NULL), -ENODATA);
	ck_assert_ptr_null(pm.ents);
}
END_TEST

TCase *img_tcase_frame(void)
{
	TCase *tc = tcase_create("frame");

	tcase_add_loop_test(tc, test_frame_table, 0,
			    sizeof(frame_cases) / sizeof(frame_cases[0]));
	tcase_add_test(tc, test_inventory_version);
	tcase_add_test(tc, test_null_err_and_empty_buffer);
	return tc;
}
