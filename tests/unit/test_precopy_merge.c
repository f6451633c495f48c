/* SPDX-License-Identifier: MIT */
/* The pagemap writer (round trip through the reader, both layouts) and
 * `precopy merge` on a synthetic `dump --lazy-pages` image dir. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/img_write.h"
#include "tests/unit/test_precopy.h"

#define P IMG_PE_PRESENT
#define L IMG_PE_LAZY
#define PGSZ 4096u

START_TEST(test_writer_round_trip)
{
	static const struct img_pm_entry e[] = {
		{ 0x1000, 2, P, 0 }, { 0x3000, 1, L, 0 }, { 0x4000, 3, P | L, 0 },
		{ 0x100000000000, 0x100000001, P | L, 0 },
	};
	enum img_pm_layout lay[] = { IMG_PM_41, IMG_PM_42 }, got;
	struct img_err err = { "" };
	struct img_pagemap pm;
	uint8_t *buf;
	size_t len;

	for (int k = 0; k < 2; k++) {
		size_t n = lay[k] == IMG_PM_41 ? 3 : 4;

		ck_assert_int_eq(img_pagemap_encode(65537, e, n, lay[k], &buf, &len), 0);
		ck_assert_msg(!img_parse_pagemap(buf, len, "pm", 3, &pm, &err), "%s", err.msg);
		ck_assert_uint_eq(pm.pages_id, 65537);
		ck_assert_uint_eq(pm.nr_ents, n);
		for (size_t i = 0; i < n; i++) {
			ck_assert_uint_eq(pm.ents[i].vaddr, e[i].vaddr);
			ck_assert_uint_eq(pm.ents[i].nr_pages, e[i].nr_pages);
			ck_assert_uint_eq(pm.ents[i].flags, e[i].flags);
		}
		ck_assert_uint_eq(pm.ents[2].file_off, 2 * PGSZ);
		ck_assert_int_eq(img_pagemap_layout(buf, len, "pm", IMG_PM_41, &got, &err), 0);
		ck_assert_int_eq(got, lay[k]);
		img_pagemap_free(&pm);
		free(buf);
	}
	ck_assert_int_eq(img_pagemap_encode(1, e, 4, IMG_PM_41, &buf, &len), -ERANGE);
}
END_TEST

static void fill_file(int dirfd, const char *name, const uint8_t *fills, size_t n)
{
	struct t_buf b = { 0 };
	uint8_t page[PGSZ];

	for (size_t i = 0; i < n; i++) {
		memset(page, fills[i], sizeof(page));
		t_buf_raw(&b, page, sizeof(page));
	}
	t_write_file(dirfd, name, &b);
	t_buf_free(&b);
}

/* A dump --lazy-pages of pid 7: 0x10000-0x13fff lazy, 0x400000 two pages present. */
static int make_dump(char *dir, enum t_pe_style style)
{
	static const struct t_pe e[] = { { 0x10000, 4, L }, { 0x400000, 2, P } };
	static const uint8_t fills[] = { 0xa0, 0xa1 };
	struct img_task task = { .pid = 7, .ppid = 0, .pgid = 7, .sid = 7 };
	struct t_buf b = { 0 };
	int dfd;

	t_mkdtemp(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	t_die_if(dfd < 0);
	t_write_dump_head(dfd, &task);
	t_img_pagemap(&b, 1, e, 2, style);
	t_write_file(dfd, "pagemap-7.img", &b);
	t_buf_free(&b);
	fill_file(dfd, "pages-1.img", fills, 2);
	return dfd;
}

static void check_pages(int dfd, uint32_t id, const uint8_t *fills, size_t n)
{
	char name[32];
	uint8_t page[PGSZ];
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "pages-%u.img", id);
	fd = openat(dfd, name, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)(n * PGSZ));
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(pread(fd, page, PGSZ, (off_t)(i * PGSZ)), PGSZ);
		ck_assert_msg(page[0] == fills[i] && page[PGSZ - 1] == fills[i],
			      "page %zu: 0x%x, want 0x%x", i, page[0], fills[i]);
	}
	close(fd);
}

START_TEST(test_merge_lazy_and_full)
{
	enum t_pe_style style = _i ? T_PE_42 : T_PE_41;
	static const uint8_t want[] = { 1, 0x50, 4, 0xa0, 0xa1 };
	struct img_pc_recv_stats rs;
	struct img_pc_merge_stats ms;
	struct img_err err = { "" };
	struct img_dir d;
	struct img_pagemap pm;
	char dir[64], store[64];
	struct t_buf b = { 0 };
	int dfd = make_dump(dir, style);

	t_mkdtemp(store);
	t_flpc_sample(&b, 1);
	ck_assert_msg(!t_flpc_recv(&b, store, &rs, &err), "%s", err.msg);
	/* Full: 0x12000 has no valid copy -> error, nothing changed. */
	ck_assert_int_eq(img_pc_merge(store, dir, IMG_PC_FULL, &ms, &err), -ENODATA);
	ck_assert_msg(strstr(err.msg, "pid 7: 1"), "%s", err.msg);
	free(ms.pids);
	ck_assert_int_eq(faccessat(dfd, "pages-1.img", F_OK, 0), 0);
	/* Lazy: valid pages local (6), the invalidated one stays lazy (2). */
	ck_assert_msg(!img_pc_merge(store, dir, IMG_PC_LAZY, &ms, &err), "%s", err.msg);
	ck_assert_uint_eq(ms.n, 1);
	ck_assert_uint_eq(ms.pids[0].local, 3);
	ck_assert_uint_eq(ms.pids[0].remote, 1);
	ck_assert_uint_eq(ms.pids[0].kept, 2);
	free(ms.pids);
	ck_assert_int_eq(img_dir_open(&d, dir), 0);
	ck_assert_int_eq(img_dir_read_pagemap(&d, 7, &pm), 0);
	ck_assert_uint_eq(pm.pages_id, 2);
	/* 0x10000 and 0x11000 stay apart: their data is not contiguous in the store. */
	ck_assert_uint_eq(pm.nr_ents, 5);
	ck_assert_uint_eq(pm.ents[0].flags, P | L);
	ck_assert_uint_eq(pm.ents[1].flags, P | L);
	ck_assert_uint_eq(pm.ents[2].flags, L);
	ck_assert_uint_eq(pm.ents[2].vaddr, 0x12000);
	ck_assert_uint_eq(pm.ents[3].flags, P | L);
	ck_assert_uint_eq(pm.ents[4].flags, P);
	ck_assert_uint_eq(pm.ents[4].nr_pages, 2);
	check_pages(dfd, 2, want, 5);
	ck_assert_int_eq(faccessat(dfd, "pages-1.img", F_OK, 0), -1);
	img_pagemap_free(&pm);
	img_dir_close(&d);
	t_buf_free(&b);
	close(dfd);
	t_rmdir_all(store);
	t_rmdir_all(dir);
}
END_TEST

START_TEST(test_merge_full_layouts)
{
	enum t_pe_style style = _i ? T_PE_42 : T_PE_41;
	static const uint8_t want[] = { 9, 10, 11, 12, 0xa0, 0xa1 };
	struct img_pc_recv_stats rs;
	struct img_pc_merge_stats ms;
	struct img_err err = { "" };
	enum img_pm_layout lay;
	char dir[64], store[64];
	struct t_buf b = { 0 };
	uint8_t page[PGSZ];
	int dfd = make_dump(dir, style), fd;
	ssize_t len;
	uint8_t pmbuf[512];

	t_mkdtemp(store);
	t_buf_raw(&b, "FLPC", 4);
	t_buf_u32(&b, 1);
	uint64_t hdr[3][3] = { { (7ULL << 32) | 1, 0x10000, 4 }, { 3, 0, 4 }, { 4, 1, 4 } };
	t_buf_raw(&b, hdr[0], 24);
	for (int i = 0; i < 4; i++) {
		memset(page, 9 + i, sizeof(page));
		t_buf_raw(&b, page, sizeof(page));
	}
	t_buf_raw(&b, hdr[1], 24);
	t_buf_raw(&b, hdr[2], 24);
	ck_assert_msg(!t_flpc_recv(&b, store, &rs, &err), "%s", err.msg);
	ck_assert_msg(!img_pc_merge(store, dir, IMG_PC_FULL, &ms, &err), "%s", err.msg);
	ck_assert_uint_eq(ms.pids[0].local, 4);
	ck_assert_uint_eq(ms.pids[0].remote, 0);
	free(ms.pids);
	check_pages(dfd, 2, want, 6);
	fd = openat(dfd, "pagemap-7.img", O_RDONLY);
	len = read(fd, pmbuf, sizeof(pmbuf));
	close(fd);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(img_pagemap_layout(pmbuf, (size_t)len, "pm", IMG_PM_41, &lay, &err), 0);
	ck_assert_int_eq(lay, style == T_PE_42 ? IMG_PM_42 : IMG_PM_41);
	t_buf_free(&b);
	close(dfd);
	t_rmdir_all(store);
	t_rmdir_all(dir);
}
END_TEST

TCase *precopy_merge_tcase(void)
{
	TCase *tc = tcase_create("merge");

	tcase_add_test(tc, test_writer_round_trip);
	tcase_add_loop_test(tc, test_merge_lazy_and_full, 0, 2);
	tcase_add_loop_test(tc, test_merge_full_layouts, 0, 2);
	tcase_set_timeout(tc, 10);
	return tc;
}
