/* SPDX-License-Identifier: MIT */
/* FLPC v1 streams: the parser (good, truncated, malformed) and the store that
 * `precopy recv` builds (latest copy wins, INVALIDATE after PAGES). */
#include <fcntl.h>
#include <unistd.h>

#include "images/precopy.h"
#include "tests/unit/helpers.h"
#include "tests/unit/test_precopy.h"

#define PGSZ 4096u

static void rec(struct t_buf *b, uint32_t type, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	t_buf_u32(b, type);
	t_buf_u32(b, pid);
	t_buf_raw(b, &vaddr, 8);
	t_buf_raw(b, &nr, 8);
}

/* PAGES with every byte of page i equal to FILL + i. */
static void pages(struct t_buf *b, uint32_t pid, uint64_t vaddr, uint64_t nr, uint8_t fill)
{
	uint8_t page[PGSZ];

	rec(b, IMG_FLPC_PAGES, pid, vaddr, nr);
	for (uint64_t i = 0; i < nr; i++) {
		memset(page, fill + (int)i, sizeof(page));
		t_buf_raw(b, page, sizeof(page));
	}
}

static void head(struct t_buf *b)
{
	t_buf_raw(b, "FLPC", 4);
	t_buf_u32(b, 1);
}

/* Round 0: pid 7 pages 0x10000-0x13fff (fill 1), pid 9 one page.  Round 1:
 * pid 7 page 0x11000 again (fill 0x50), then 0x12000-0x12fff invalidated. */
void t_flpc_sample(struct t_buf *b, int with_end)
{
	head(b);
	pages(b, 7, 0x10000, 4, 1);
	pages(b, 9, 0x20000, 1, 0x30);
	rec(b, IMG_FLPC_ROUND, 0, 0, 5);
	pages(b, 7, 0x11000, 1, 0x50);
	rec(b, IMG_FLPC_INVALIDATE, 7, 0x12000, 1);
	rec(b, IMG_FLPC_ROUND, 0, 1, 1);
	if (with_end)
		rec(b, IMG_FLPC_END, 0, 2, 6);
}

struct counts {
	uint64_t pages, data, inval;
};

static int c_pages(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	(void)pid;
	(void)vaddr;
	((struct counts *)arg)->pages += nr;
	return 0;
}

static int c_data(void *arg, const uint8_t *buf, size_t len)
{
	(void)buf;
	((struct counts *)arg)->data += len;
	return 0;
}

static int c_inval(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr)
{
	(void)pid;
	(void)vaddr;
	((struct counts *)arg)->inval += nr;
	return 0;
}

START_TEST(test_flpc_good_any_split)
{
	struct t_buf b = { 0 };
	size_t steps[] = { 1, 7, 4096, 1 << 20 };

	t_flpc_sample(&b, 1);
	for (size_t s = 0; s < 4; s++) {
		struct counts c = { 0 };
		struct img_flpc_sink sink = { &c, c_pages, c_data, c_inval };
		struct img_flpc p;

		img_flpc_init(&p);
		for (size_t off = 0; off < b.len; off += steps[s]) {
			size_t n = b.len - off < steps[s] ? b.len - off : steps[s];
			ck_assert_msg(!img_flpc_feed(&p, b.p + off, n, &sink), "%s", p.err);
		}
		ck_assert_int_eq(img_flpc_finish(&p), 0);
		ck_assert_uint_eq(c.pages, 6);
		ck_assert_uint_eq(c.data, 6 * PGSZ);
		ck_assert_uint_eq(c.inval, 1);
		ck_assert_uint_eq(p.rounds, 2);
	}
	t_buf_free(&b);
}
END_TEST

/* Feeds B whole; returns the error, which must name "offset OFF". */
static int feed_bad(const struct t_buf *b, uint64_t off)
{
	struct img_flpc p;
	char want[48];
	int ret;

	img_flpc_init(&p);
	ret = img_flpc_feed(&p, b->p, b->len, NULL);
	if (!ret)
		ret = img_flpc_finish(&p);
	snprintf(want, sizeof(want), "offset %llu", (unsigned long long)off);
	ck_assert_msg(strstr(p.err, want), "error \"%s\" should name %s", p.err, want);
	return ret;
}

START_TEST(test_flpc_truncated)
{
	struct t_buf b = { 0 };
	size_t full;

	t_flpc_sample(&b, 1);
	full = b.len;
	b.len = full - 24; /* no END */
	ck_assert_int_eq(feed_bad(&b, full - 24), -ENODATA);
	b.len = full - 10; /* half an END header */
	ck_assert_int_eq(feed_bad(&b, full - 24), -ENODATA);
	b.len = 8 + 24 + 100; /* inside the first PAGES data */
	ck_assert_int_eq(feed_bad(&b, 8 + 24 + 100), -ENODATA);
	b.len = 3;
	ck_assert_int_eq(feed_bad(&b, 3), -ENODATA);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_flpc_malformed)
{
	struct t_buf b = { 0 };

	t_buf_raw(&b, "FLPX", 4);
	t_buf_u32(&b, 1);
	ck_assert_int_eq(feed_bad(&b, 0), -EBADMSG);
	t_buf_free(&b);
	head(&b);
	rec(&b, 9, 7, 0x1000, 1);
	ck_assert_int_eq(feed_bad(&b, 8), -EBADMSG);
	t_buf_free(&b);
	head(&b);
	pages(&b, 7, 0x1000, 1, 0);
	rec(&b, IMG_FLPC_PAGES, 7, 0x2800, 1);
	ck_assert_int_eq(feed_bad(&b, 8 + 24 + PGSZ), -EBADMSG);
	t_buf_free(&b);
	head(&b);
	rec(&b, IMG_FLPC_INVALIDATE, 7, 0x1000, 0);
	ck_assert_int_eq(feed_bad(&b, 8), -EBADMSG);
	t_buf_free(&b);
	head(&b);
	pages(&b, 7, 0x1000, 1, 0);
	rec(&b, IMG_FLPC_END, 0, 0, 2); /* totals do not match */
	ck_assert_int_eq(feed_bad(&b, 8 + 24 + PGSZ), -EPROTO);
	t_buf_free(&b);
	t_flpc_sample(&b, 1);
	t_buf_u32(&b, 0); /* a byte after END */
	ck_assert_int_eq(feed_bad(&b, b.len - 4), -EPROTO);
	t_buf_free(&b);
}
END_TEST

/* Runs `precopy recv` on B into STORE; returns its result. */
int t_flpc_recv(const struct t_buf *b, const char *store, struct img_pc_recv_stats *st,
		struct img_err *err)
{
	char path[96];
	int fd, ret;

	snprintf(path, sizeof(path), "%s.stream", store);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	t_die_if(fd < 0 || write(fd, b->p, b->len) != (ssize_t)b->len);
	lseek(fd, 0, SEEK_SET);
	ret = img_pc_recv(fd, store, st, err);
	close(fd);
	unlink(path);
	return ret;
}

START_TEST(test_recv_latest_wins_and_invalidate)
{
	struct img_pc_recv_stats st;
	struct img_err err = { "" };
	struct img_pc_run *runs;
	struct t_buf b = { 0 };
	char store[64];
	uint8_t page[PGSZ];
	size_t n;
	int dfd, fd;

	t_mkdtemp(store);
	t_flpc_sample(&b, 1);
	ck_assert_msg(!t_flpc_recv(&b, store, &st, &err), "%s", err.msg);
	ck_assert_uint_eq(st.received, 6);
	ck_assert_uint_eq(st.valid, 4);
	ck_assert_uint_eq(st.invalidated, 1);
	ck_assert_uint_eq(st.rounds, 2);
	ck_assert_uint_eq(st.bytes, b.len);
	dfd = open(store, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(img_pc_index_read(dfd, 7, &runs, &n, &err), 0);
	/* 0x10000 (round 0), 0x11000 (round 1), 0x13000 (round 0); 0x12000 invalid. */
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(runs[0].vaddr, 0x10000);
	ck_assert_uint_eq(runs[1].vaddr, 0x11000);
	ck_assert_uint_eq(runs[2].vaddr, 0x13000);
	fd = openat(dfd, "precopy-7.pages", O_RDONLY);
	ck_assert_int_eq(pread(fd, page, PGSZ, (off_t)runs[1].offset), PGSZ);
	ck_assert_uint_eq(page[0], 0x50);
	ck_assert_int_eq(pread(fd, page, PGSZ, (off_t)runs[2].offset), PGSZ);
	ck_assert_uint_eq(page[0], 4);
	close(fd);
	free(runs);
	/* A truncated stream writes no index (and clears the old one). */
	b.len -= 24;
	ck_assert_int_eq(t_flpc_recv(&b, store, &st, &err), -ENODATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "without END"));
	ck_assert_int_eq(faccessat(dfd, "precopy-7.idx", F_OK, 0), -1);
	close(dfd);
	t_buf_free(&b);
	t_rmdir_all(store);
}
END_TEST

Suite *precopy_suite(void)
{
	Suite *s = suite_create("precopy");
	TCase *tc = tcase_create("flpc");

	tcase_add_test(tc, test_flpc_good_any_split);
	tcase_add_test(tc, test_flpc_truncated);
	tcase_add_test(tc, test_flpc_malformed);
	tcase_add_test(tc, test_recv_latest_wins_and_invalidate);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, precopy_merge_tcase());
	return s;
}
