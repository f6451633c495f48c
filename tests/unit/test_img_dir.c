/* SPDX-License-Identifier: MIT */
/* img_dir_*: reading a CRIU image directory from disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/helpers.h"
#include "tests/unit/test_img.h"

static const struct t_pe dir_pm[] = {
	{ 0x10000, 2, IMG_PE_PRESENT },
	{ 0x20000, 1, IMG_PE_PRESENT | IMG_PE_LAZY },
};

/* A tiny dump of pid 100: pages-3.img holds 3 pages, page i filled with 'a'+i. */
static void make_dump(const char *path, uint64_t pages_bytes)
{
	int32_t threads[] = { 100, 101 };
	struct img_task task = { .pid = 100, .pgid = 100, .sid = 100, .nr_threads = 2,
				 .threads = threads };
	struct img_vma vma = { .start = 0x10000, .end = 0x30000, .prot = 3, .fd = -1 };
	struct t_buf b = { 0 };
	int dfd = open(path, O_RDONLY | O_DIRECTORY);

	t_die_if(dfd < 0);
	t_write_dump_head(dfd, &task);
	t_img_mm(&b, &vma, 1);
	t_write_file(dfd, "mm-100.img", &b);
	t_buf_free(&b);
	t_img_pagemap(&b, 3, dir_pm, 2, T_PE_41);
	t_write_file(dfd, "pagemap-100.img", &b);
	t_buf_free(&b);
	for (uint64_t i = 0; i < pages_bytes; i++) {
		uint8_t c = 'a' + i / IMG_PAGE_SIZE;

		t_buf_raw(&b, &c, 1);
	}
	t_write_file(dfd, "pages-3.img", &b);
	t_buf_free(&b);
	close(dfd);
}

static void write_raw(const char *path, const char *name, const void *p, size_t n)
{
	struct t_buf b = { 0 };
	int dfd = open(path, O_RDONLY | O_DIRECTORY);

	t_die_if(dfd < 0);
	t_buf_raw(&b, p, n);
	t_write_file(dfd, name, &b);
	t_buf_free(&b);
	close(dfd);
}

START_TEST(test_dir_read_all)
{
	char path[64], c;
	struct img_dir d;
	struct img_pstree ps;
	struct img_mm mm;
	struct img_pagemap pm;
	int fd;

	t_mkdtemp(path);
	make_dump(path, 3 * IMG_PAGE_SIZE);
	ck_assert_msg(!img_dir_open(&d, path), "%s", d.err.msg);
	ck_assert_msg(!img_dir_read_pstree(&d, &ps), "%s", d.err.msg);
	ck_assert_uint_eq(ps.nr_tasks, 1);
	ck_assert_uint_eq(ps.tasks[0].nr_threads, 2);
	ck_assert_msg(!img_dir_read_mm(&d, 100, &mm), "%s", d.err.msg);
	ck_assert_uint_eq(mm.nr_vmas, 1);
	ck_assert_msg(!img_dir_read_pagemap(&d, 100, &pm), "%s", d.err.msg);
	ck_assert_uint_eq(pm.nr_ents, 2);
	ck_assert_msg(!img_dir_open_pages(&d, &pm, &fd), "%s", d.err.msg);
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)pm.ents[1].file_off), 1);
	ck_assert_int_eq(c, 'c');
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);
	img_pagemap_free(&pm);
	img_mm_free(&mm);
	img_pstree_free(&ps);
	img_dir_close(&d);
	t_rmdir_all(path);
}
END_TEST

START_TEST(test_dir_missing_task_files)
{
	char path[64];
	struct img_dir d;
	struct img_mm mm;
	struct img_pagemap pm;

	t_mkdtemp(path);
	make_dump(path, 3 * IMG_PAGE_SIZE);
	ck_assert_int_eq(img_dir_open(&d, path), 0);
	ck_assert_int_eq(img_dir_read_mm(&d, 200, &mm), 0);
	ck_assert_uint_eq(mm.nr_vmas, 0);
	ck_assert_int_eq(img_dir_read_pagemap(&d, 200, &pm), 0);
	ck_assert_uint_eq(pm.nr_ents, 0);
	ck_assert_int_eq(pm.pid, 200);
	ck_assert_int_eq(pm.lazy_has_data, 1);
	img_dir_close(&d);
	t_rmdir_all(path);
}
END_TEST

START_TEST(test_dir_short_pages)
{
	char path[64];
	struct img_dir d;
	struct img_pagemap pm;
	int fd = 1234;

	t_mkdtemp(path);
	make_dump(path, 3 * IMG_PAGE_SIZE - 7);
	ck_assert_int_eq(img_dir_open(&d, path), 0);
	ck_assert_int_eq(img_dir_read_pagemap(&d, 100, &pm), 0);
	ck_assert_int_eq(img_dir_open_pages(&d, &pm, &fd), -ENODATA);
	ck_assert_int_eq(fd, -1);
	t_assert_err_at(&d.err, "pages-3.img", 3 * IMG_PAGE_SIZE - 7);
	ck_assert_ptr_nonnull(strstr(d.err.msg, "need 12288 bytes"));
	img_pagemap_free(&pm);
	img_dir_close(&d);
	t_rmdir_all(path);
}
END_TEST

START_TEST(test_dir_errors)
{
	static const uint8_t junk[] = { 0x16, 0x11, 0x31, 0x59 };
	char path[64], file[96];
	struct img_dir d;
	struct img_pstree ps;
	struct img_pagemap pm;

	ck_assert_int_eq(img_dir_open(&d, "/nonexistent/fl-unit"), -ENOENT);
	ck_assert_int_eq(d.dirfd, -1);
	t_mkdtemp(path);
	ck_assert_int_eq(img_dir_open(&d, path), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.err.msg, "inventory.img"));
	write_raw(path, "inventory.img", junk, sizeof(junk));
	ck_assert_int_eq(img_dir_open(&d, path), -EBADMSG);
	t_assert_err_at(&d.err, "inventory.img", 0);

	make_dump(path, 3 * IMG_PAGE_SIZE);
	ck_assert_int_eq(img_dir_open(&d, path), 0);
	write_raw(path, "pagemap-100.img", "\x19\x43\x56\x54\x25\x40\x08\x56\x09", 9);
	ck_assert_int_eq(img_dir_read_pagemap(&d, 100, &pm), -ENODATA);
	t_assert_err_at(&d.err, "pagemap-100.img", 8);
	ck_assert_ptr_null(pm.ents);
	snprintf(file, sizeof(file), "%s/pstree.img", path);
	t_die_if(unlink(file));
	ck_assert_int_eq(img_dir_read_pstree(&d, &ps), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.err.msg, "pstree.img"));
	img_dir_close(&d);
	t_rmdir_all(path);
}
END_TEST

TCase *img_tcase_dir(void)
{
	TCase *tc = tcase_create("dir");

	tcase_add_test(tc, test_dir_read_all);
	tcase_add_test(tc, test_dir_missing_task_files);
	tcase_add_test(tc, test_dir_short_pages);
	tcase_add_test(tc, test_dir_errors);
	return tc;
}
