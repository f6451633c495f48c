/* SPDX-License-Identifier: MIT */
/* CRIU page-server header codec: both layouts, byte for byte, and the
 * 4.1/4.2 detection rule. */
#include <errno.h>
#include <string.h>

#include <check.h>

#include "tests/unit/suites.h"
#include "transport/proto.h"

/* A GET as CRIU 4.1 puts it on the wire (x86-64, little-endian). */
static const uint8_t get41[24] = {
	0x07, 0, 0, 0,  0x10, 0, 0, 0,                       /* cmd 7, nr 16 */
	0x00, 0x30, 0x6b, 0x2a, 0xf1, 0x7f, 0, 0,            /* vaddr 0x7ff12a6b3000 */
	0x2a, 0, 0, 0, 0, 0, 0, 0,                           /* pid 42 */
};

/* The same GET as CRIU 4.2 sends it: 4 bytes of padding, then u64s. */
static const uint8_t get42[32] = {
	0x07, 0, 0, 0,  0, 0, 0, 0,
	0x10, 0, 0, 0, 0, 0, 0, 0,
	0x00, 0x30, 0x6b, 0x2a, 0xf1, 0x7f, 0, 0,
	0x2a, 0, 0, 0, 0, 0, 0, 0,
};

static const struct {
	enum xport_proto_ver ver;
	const uint8_t *wire;
	size_t len;
} layouts[] = {
	{ XPORT_PROTO_41, get41, sizeof(get41) },
	{ XPORT_PROTO_42, get42, sizeof(get42) },
};

START_TEST(decode_get)
{
	struct xport_msg m;

	ck_assert_int_eq(xport_hdr_decode(layouts[_i].ver, layouts[_i].wire, layouts[_i].len, &m), 0);
	ck_assert_uint_eq(m.cmd, XPORT_CMD_GET);
	ck_assert_uint_eq(m.flags, 0);
	ck_assert_uint_eq(m.nr_pages, 16);
	ck_assert_uint_eq(m.vaddr, 0x7ff12a6b3000ULL);
	ck_assert_uint_eq(m.dst_id, 42);
	ck_assert_int_eq(xport_hdr_decode(layouts[_i].ver, layouts[_i].wire, layouts[_i].len - 1, &m),
			 -EAGAIN);
}
END_TEST

START_TEST(encode_roundtrip)
{
	struct xport_msg m, back;

	memset(&m, 0, sizeof(m));
	memset(&back, 0, sizeof(back));
	uint8_t buf[XPORT_HDR_MAX];

	ck_assert_int_eq(xport_hdr_decode(layouts[_i].ver, layouts[_i].wire, layouts[_i].len, &m), 0);
	ck_assert_int_eq(xport_hdr_encode(layouts[_i].ver, &m, buf, sizeof(buf)), (int)layouts[_i].len);
	ck_assert_mem_eq(buf, layouts[_i].wire, layouts[_i].len);
	ck_assert_int_eq(xport_hdr_decode(layouts[_i].ver, buf, sizeof(buf), &back), 0);
	ck_assert_mem_eq(&m, &back, sizeof(m));
}
END_TEST

START_TEST(encode_reply_cmd)
{
	struct xport_msg r = { .cmd = XPORT_CMD_ADD_F, .flags = XPORT_PE_PRESENT, .nr_pages = 3,
			       .vaddr = 0x1000, .dst_id = 7 };
	uint8_t buf[XPORT_HDR_MAX];

	ck_assert_int_eq(xport_hdr_encode(XPORT_PROTO_41, &r, buf, sizeof(buf)), 24);
	/* CRIU reads the reply command as one u32: 0x00040006. */
	ck_assert_mem_eq(buf, "\x06\x00\x04\x00\x03\x00\x00\x00", 8);
	ck_assert_int_eq(XPORT_GET_REPLY_CMD, 0x00040006);
}
END_TEST

START_TEST(encode_errors)
{
	struct xport_msg big = { .cmd = XPORT_CMD_GET, .nr_pages = 1ULL << 32 };
	uint8_t buf[XPORT_HDR_MAX];

	ck_assert_int_eq(xport_hdr_encode(XPORT_PROTO_41, &big, buf, sizeof(buf)), -ERANGE);
	ck_assert_int_eq(xport_hdr_encode(XPORT_PROTO_42, &big, buf, sizeof(buf)), 32);
	ck_assert_int_eq(xport_hdr_encode(XPORT_PROTO_42, &big, buf, 31), -EINVAL);
	ck_assert_int_eq(xport_hdr_encode(XPORT_PROTO_AUTO, &big, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(xport_hdr_decode(XPORT_PROTO_AUTO, buf, sizeof(buf), &big), -EINVAL);
	ck_assert_uint_eq(xport_hdr_size(XPORT_PROTO_41), 24);
	ck_assert_uint_eq(xport_hdr_size(XPORT_PROTO_42), 32);
}
END_TEST

START_TEST(detect)
{
	enum xport_proto_ver v = XPORT_PROTO_AUTO;
	uint8_t close42[32] = { 0x23, 0x10 }, junk[24] = { 0x63 }, odd42[32];

	ck_assert_int_eq(xport_detect_version(get41, 24, &v), 0);
	ck_assert_int_eq(v, XPORT_PROTO_41);
	ck_assert_int_eq(xport_detect_version(get42, 32, &v), 0);
	ck_assert_int_eq(v, XPORT_PROTO_42);
	/* 24 bytes are enough to tell, even of a 32-byte header. */
	ck_assert_int_eq(xport_detect_version(get42, 24, &v), 0);
	ck_assert_int_eq(v, XPORT_PROTO_42);
	ck_assert_int_eq(xport_detect_version(get42, 23, &v), -EAGAIN);
	ck_assert_int_eq(xport_detect_version(close42, 32, &v), 0);
	ck_assert_int_eq(xport_detect_version(junk, 24, &v), -EPROTO);
	/* 4.2 with garbage padding is still 4.2: a small count, an aligned vaddr. */
	memcpy(odd42, get42, 32);
	odd42[5] = 0x55;
	ck_assert_int_eq(xport_detect_version(odd42, 32, &v), 0);
	ck_assert_int_eq(v, XPORT_PROTO_42);
}
END_TEST

START_TEST(cmd_names)
{
	ck_assert_str_eq(xport_cmd_name(XPORT_CMD_GET), "GET");
	ck_assert_str_eq(xport_cmd_name(XPORT_CMD_CLOSE), "CLOSE");
	ck_assert_ptr_null(xport_cmd_name(0x99));
}
END_TEST

Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, decode_get, 0, 2);
	tcase_add_loop_test(tc, encode_roundtrip, 0, 2);
	tcase_add_test(tc, encode_reply_cmd);
	tcase_add_test(tc, encode_errors);
	tcase_add_test(tc, detect);
	tcase_add_test(tc, cmd_names);
	suite_add_tcase(s, tc);
	return s;
}
