/* SPDX-License-Identifier: MIT */
/* pstree.img and mm-<pid>.img. */
#include <errno.h>

#include "proto/mm.pb-c.h"
#include "proto/pstree.pb-c.h"
#include "tests/unit/helpers.h"
#include "tests/unit/test_img.h"

START_TEST(test_pstree_threads)
{
	int32_t th1[] = { 100, 101, 102 }, th2[] = { 205 };
	struct img_task tasks[] = {
		{ .pid = 100, .ppid = 0, .pgid = 100, .sid = 100, .nr_threads = 3, .threads = th1 },
		{ .pid = 205, .ppid = 100, .pgid = 100, .sid = 100, .nr_threads = 1, .threads = th2 },
	};
	struct img_err err = { "" };
	struct img_pstree ps;
	struct t_buf b = { 0 };

	t_img_pstree(&b, tasks, 2);
	ck_assert_msg(!img_parse_pstree(b.p, b.len, "pstree.img", &ps, &err), "%s", err.msg);
	ck_assert_uint_eq(ps.nr_tasks, 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(ps.tasks[i].pid, tasks[i].pid);
		ck_assert_int_eq(ps.tasks[i].ppid, tasks[i].ppid);
		ck_assert_int_eq(ps.tasks[i].pgid, tasks[i].pgid);
		ck_assert_int_eq(ps.tasks[i].sid, tasks[i].sid);
		ck_assert_uint_eq(ps.tasks[i].nr_threads, tasks[i].nr_threads);
		for (uint32_t t = 0; t < tasks[i].nr_threads; t++)
			ck_assert_int_eq(ps.tasks[i].threads[t], tasks[i].threads[t]);
	}
	img_pstree_free(&ps);
	ck_assert_ptr_null(ps.tasks);
	t_buf_free(&b);
}
END_TEST

/* Pids are uint32 on the wire: 0 and values above INT32_MAX are rejected. */
START_TEST(test_pstree_bad_pid)
{
	static const uint32_t bad[][2] = { { 0, 1 }, { 0x80000000u, 1 }, { 7, 0x80000000u } };
	FlPstreeEntry good = FL_PSTREE_ENTRY__INIT, pe = FL_PSTREE_ENTRY__INIT;
	uint32_t thread = bad[_i][1];
	struct img_err err = { "" };
	struct img_pstree ps;
	struct t_buf b = { 0 };
	size_t off;

	good.has_pid = 1;
	good.pid = 1;
	pe.has_pid = 1;
	pe.pid = bad[_i][0];
	pe.n_threads = 1;
	pe.threads = &thread;
	t_buf_header(&b, IMG_MAGIC_PSTREE);
	t_buf_msg(&b, &good.base);
	off = b.len + 4;
	t_buf_msg(&b, &pe.base);
	ck_assert_int_eq(img_parse_pstree(b.p, b.len, "pstree.img", &ps, &err), -EPROTO);
	t_assert_err_at(&err, "pstree.img", off);
	ck_assert_ptr_null(ps.tasks);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_mm_vmas)
{
	struct img_vma vmas[] = {
		{ .start = 0x400000, .end = 0x401000, .pgoff = 0, .shmid = 12, .prot = 5,
		  .flags = 0x2, .status = 0x41, .fd = -1 },
		{ .start = 0x7f0000000000, .end = 0x7f0000021000, .pgoff = 3, .shmid = 0,
		  .prot = 3, .flags = 0x22, .status = 0x201, .fd = -1 },
	};
	struct img_err err = { "" };
	struct img_mm mm;
	struct t_buf b = { 0 };

	t_img_mm(&b, vmas, 2);
	ck_assert_msg(!img_parse_mm(b.p, b.len, "mm-5.img", &mm, &err), "%s", err.msg);
	ck_assert_uint_eq(mm.nr_vmas, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct img_vma *got = &mm.vmas[i], *want = &vmas[i];

		ck_assert_uint_eq(got->start, want->start);
		ck_assert_uint_eq(got->end, want->end);
		ck_assert_uint_eq(got->pgoff, want->pgoff);
		ck_assert_int_eq(got->shmid, want->shmid);
		ck_assert_uint_eq(got->prot, want->prot);
		ck_assert_uint_eq(got->flags, want->flags);
		ck_assert_uint_eq(got->status, want->status);
		ck_assert_int_eq(got->fd, want->fd);
	}
	img_mm_free(&mm);
	ck_assert_ptr_null(mm.vmas);
	t_buf_free(&b);
}
END_TEST

static const struct mm_bad {
	const char *what;
	struct img_vma v[2];
} mm_bad[] = {
	{ "empty vma", { { .start = 0x1000, .end = 0x1000 }, { .start = 0x5000, .end = 0x6000 } } },
	{ "unaligned", { { .start = 0x1000, .end = 0x1800 }, { .start = 0x5000, .end = 0x6000 } } },
	{ "unsorted", { { .start = 0x5000, .end = 0x6000 }, { .start = 0x1000, .end = 0x2000 } } },
	{ "overlap", { { .start = 0x1000, .end = 0x3000 }, { .start = 0x2000, .end = 0x4000 } } },
};

START_TEST(test_mm_bad)
{
	struct img_err err = { "" };
	struct img_mm mm;
	struct t_buf b = { 0 };

	t_img_mm(&b, mm_bad[_i].v, 2);
	ck_assert_msg(img_parse_mm(b.p, b.len, "mm-5.img", &mm, &err) == -EPROTO, "%s",
		      mm_bad[_i].what);
	t_assert_err_at(&err, "mm-5.img", 12);
	ck_assert_ptr_null(mm.vmas);
	t_buf_free(&b);
}
END_TEST

START_TEST(test_mm_no_vmas)
{
	struct img_mm mm;
	struct t_buf b = { 0 };

	t_img_mm(&b, NULL, 0);
	ck_assert_int_eq(img_parse_mm(b.p, b.len, "mm-5.img", &mm, NULL), 0);
	ck_assert_uint_eq(mm.nr_vmas, 0);
	img_mm_free(&mm);
	t_buf_free(&b);
}
END_TEST

TCase *img_tcase_objs(void)
{
	TCase *tc = tcase_create("pstree_mm");

	tcase_add_test(tc, test_pstree_threads);
	tcase_add_loop_test(tc, test_pstree_bad_pid, 0, 3);
	tcase_add_test(tc, test_mm_vmas);
	tcase_add_loop_test(tc, test_mm_bad, 0, sizeof(mm_bad) / sizeof(mm_bad[0]));
	tcase_add_test(tc, test_mm_no_vmas);
	return tc;
}
