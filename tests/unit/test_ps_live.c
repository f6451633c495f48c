/* SPDX-License-Identifier: MIT */
/* pageserver/live.c: mapping pstree pids to live tasks and reading their pages.
 * A forked child stands for the frozen dumped task: it changes its memory
 * after the fork (so the bytes can only come from it) and stops itself. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pageserver/source.h"
#include "tests/unit/helpers.h"

enum { NPAGES = 24, PAGE = 4096 };

struct live_fx {
	char dir[64];
	uint8_t *mem; /* NPAGES pages at the same address in the child */
	pid_t child;
	struct ps_source src;
};

static uint8_t want_byte(size_t off)
{
	return (uint8_t)((off * 7 + off / PAGE) ^ 0x5a);
}

/* Pagemap of the child: pages 0-7 lazy (flags 2, as `dump --lazy-pages`
 * writes), 8-11 eager (4), 12-19 lazy, 20-23 not dumped. */
static void write_dump(struct live_fx *fx, int32_t pid)
{
	uint64_t a = (uint64_t)(uintptr_t)fx->mem;
	const struct t_pe pe[] = {
		{ a, 8, IMG_PE_LAZY },
		{ a + 8 * PAGE, 4, IMG_PE_PRESENT },
		{ a + 12 * PAGE, 8, IMG_PE_LAZY },
	};
	struct img_task task = { .pid = pid, .pgid = pid, .sid = pid, .nr_threads = 1,
				 .threads = &task.pid };
	struct t_buf b = { 0 };
	char name[64];
	int dfd = open(fx->dir, O_RDONLY | O_DIRECTORY);

	t_die_if(dfd < 0);
	t_write_dump_head(dfd, &task);
	t_img_pagemap(&b, 1, pe, 3, T_PE_42);
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	t_write_file(dfd, name, &b);
	t_buf_free(&b);
	close(dfd);
}

static void fx_start(struct live_fx *fx)
{
	int st;

	memset(fx, 0, sizeof(*fx));
	t_mkdtemp(fx->dir);
	fx->mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	t_die_if(fx->mem == MAP_FAILED);
	/* A hole after the buffer, for the unmapped-read case. */
	t_die_if(munmap(fx->mem + (NPAGES - 1) * PAGE, PAGE));
	fx->child = fork();
	t_die_if(fx->child < 0);
	if (fx->child == 0) {
		for (size_t i = 0; i < (NPAGES - 1) * PAGE; i++)
			fx->mem[i] = want_byte(i);
		for (;;)
			raise(SIGSTOP);
	}
	t_die_if(waitpid(fx->child, &st, WUNTRACED) != fx->child || !WIFSTOPPED(st));
	write_dump(fx, fx->child);
}

static void fx_stop(struct live_fx *fx)
{
	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	munmap(fx->mem, NPAGES * PAGE);
	t_rmdir_all(fx->dir);
}

START_TEST(test_live_reads_child)
{
	struct live_fx fx;
	uint8_t buf[8 * PAGE];
	uint64_t a;
	char why[200];

	fx_start(&fx);
	a = (uint64_t)(uintptr_t)fx.mem;
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, fx.child), 0);
	ck_assert_uint_eq(fx.src.nr_tasks, 1);
	ck_assert_uint_eq(fx.src.nr_lazy_pages, 16);
	ck_assert_int_eq(fx.src.tasks[0].host_pid, fx.child);
	ck_assert_int_eq(ps_live_read(&fx.src.tasks[0], a + 12 * PAGE, buf, sizeof(buf), why,
				      sizeof(why)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_msg(buf[i] == want_byte(12 * PAGE + i), "byte %zu differs", i);
	/* Our own copy was never written: the bytes came from the child. */
	ck_assert_uint_eq(fx.mem[12 * PAGE + 1], 0);
	ps_source_close(&fx.src);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_live_lookup)
{
	struct live_fx fx;
	uint64_t a;

	fx_start(&fx);
	a = (uint64_t)(uintptr_t)fx.mem;
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, fx.child), 0);
	const struct ps_task *t = &fx.src.tasks[0];
	ck_assert_int_eq(ps_live_lookup(t, a, 8), 0);
	ck_assert_int_eq(ps_live_lookup(t, a + 3 * PAGE, 5), 0);
	ck_assert_int_eq(ps_live_lookup(t, a + 12 * PAGE, 8), 0);
	ck_assert_int_eq(ps_live_lookup(t, a, 9), -ERANGE);         /* runs into eager */
	ck_assert_int_eq(ps_live_lookup(t, a + 8 * PAGE, 1), -EACCES); /* eager page */
	ck_assert_int_eq(ps_live_lookup(t, a + 20 * PAGE, 1), -ENOENT);
	ck_assert_int_eq(ps_live_lookup(t, a - PAGE, 1), -ENOENT);
	ck_assert_int_eq(ps_live_lookup(t, a + 1, 1), -EINVAL);
	ck_assert_int_eq(ps_live_lookup(t, a, 0), -EINVAL);
	ps_source_close(&fx.src);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_live_wrong_pid)
{
	struct live_fx fx;

	fx_start(&fx);
	/* Our own pid is alive but is not the dump's root. */
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, getpid()), -ESRCH);
	ck_assert_msg(strstr(fx.src.err, "is not the root"), "%s", fx.src.err);
	/* A pid that does not exist (pid_max is at most 4M). */
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, 4194304 + 7), -ESRCH);
	ck_assert_msg(strstr(fx.src.err, "no such process"), "%s", fx.src.err);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_live_task_gone)
{
	struct live_fx fx;
	uint8_t buf[PAGE];
	char why[200];
	pid_t child;

	fx_start(&fx);
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, fx.child), 0);
	child = fx.child;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	fx.child = 0;
	ck_assert_int_eq(ps_live_read(&fx.src.tasks[0], (uint64_t)(uintptr_t)fx.mem, buf,
				      sizeof(buf), why, sizeof(why)), -ESRCH);
	ck_assert_msg(strstr(why, "is gone"), "%s", why);
	ps_source_close(&fx.src);
	/* Opening after the exit names the missing task. */
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, child), -ESRCH);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_live_unmapped)
{
	struct live_fx fx;
	uint8_t buf[2 * PAGE];
	char why[200];

	fx_start(&fx);
	ck_assert_int_eq(ps_source_open_live(&fx.src, fx.dir, fx.child), 0);
	/* Across the end of the child's mapping, into the hole. */
	ck_assert_int_eq(ps_live_read(&fx.src.tasks[0], (uint64_t)(uintptr_t)fx.mem +
				      (NPAGES - 2) * PAGE, buf, sizeof(buf), why, sizeof(why)),
			 -EFAULT);
	ck_assert_msg(strstr(why, "not mapped"), "%s", why);
	ps_source_close(&fx.src);
	fx_stop(&fx);
}
END_TEST

Suite *ps_live_suite(void)
{
	Suite *s = suite_create("ps_live");
	TCase *tc = tcase_create("live");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_live_reads_child);
	tcase_add_test(tc, test_live_lookup);
	tcase_add_test(tc, test_live_wrong_pid);
	tcase_add_test(tc, test_live_task_gone);
	tcase_add_test(tc, test_live_unmapped);
	suite_add_tcase(s, tc);
	return s;
}
