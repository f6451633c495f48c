/* SPDX-License-Identifier: MIT */
/* `probe hotness` /proc parsers: which mappings are tracked, NSpid, and the
 * readers on this very process. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/unit/suites.h"

#ifdef FL_NO_BPF
Suite *probe_procfs_suite(void)
{
	return suite_create("probe_procfs (not built: FL_NO_BPF)");
}
#else
#include "bpf/procfs.h"

static const struct {
	const char *line;
	int ok, anon_rw;
	const char *name;
} maps[] = {
	{ "55b3660a4000-55b3660c5000 rw-p 00000000 00:00 0                          [heap]\n", 1, 1, "[heap]" },
	{ "7ffe32a00000-7ffe32a21000 rw-p 00000000 00:00 0                          [stack]", 1, 1, "[stack]" },
	{ "7f9431b98000-7f9431bba000 rw-p 00000000 00:00 0 \n", 1, 1, "" },
	{ "7f9431b98000-7f9431bba000 rw-p 00000000 00:00 0", 1, 1, "" },
	{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0    [anon:jemalloc]\n", 1, 1, "[anon:jemalloc]" },
	{ "55b3515ec000-55b3515ed000 rw-p 0000a000 fe:00 247134    /usr/bin/cat\n", 1, 0, "/usr/bin/cat" },
	{ "7f9431e0a000-7f9431e0e000 r--p 00000000 00:00 0   [vvar]\n", 1, 0, "[vvar]" },
	{ "7fff000000-7fff002000 r-xp 00000000 00:00 0   [vdso]\n", 1, 0, "[vdso]" },
	{ "7f0000000000-7f0000100000 ---p 00000000 00:00 0\n", 1, 0, "" },
	{ "7f0000000000-7f0000100000 rw-s 00000000 00:01 1029  /dev/zero (deleted)\n", 1, 0, NULL },
	{ "7f0000000000-7f0000100000 r--p 00000000 00:00 0\n", 1, 0, "" },
	{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n", 1, 0, "[vsyscall]" },
	{ "", 0, 0, NULL },
	{ "7f00-7e00 rw-p 00000000 00:00 0\n", 0, 0, NULL },            /* reversed */
	{ "7f00-7f00 rw-p 00000000 00:00 0\n", 0, 0, NULL },            /* empty */
	{ "7g00-7f10 rw-p 00000000 00:00 0\n", 0, 0, NULL },            /* not hex */
	{ "7f00-7f10 rw-p\n", 0, 0, NULL },                              /* cut short */
	{ "11111111111111111-21111111111111111 rw-p 0 00:00 0\n", 0, 0, NULL }, /* 17 digits */
	{ "7f00-7f10 rw-p 0 00:00\n", 0, 0, NULL },                      /* no inode */
};

START_TEST(maps_lines)
{
	struct probe_vma v;
	int ret = probe_maps_parse_line(maps[_i].line, strlen(maps[_i].line), &v);

	ck_assert_msg((ret == 0) == maps[_i].ok, "'%s': returned %d", maps[_i].line, ret);
	if (!maps[_i].ok)
		return;
	ck_assert_msg(probe_vma_is_anon_rw(&v) == maps[_i].anon_rw, "'%s'", maps[_i].line);
	ck_assert(v.start < v.end);
	if (maps[_i].name)
		ck_assert_str_eq(v.name, maps[_i].name);
}
END_TEST

START_TEST(status_fields)
{
	static const char nested[] = "Name:\tx\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n"
				     "NStgid:\t4242\t1\nNSpid:\t4243\t7\t1\n";
	static const char flat[] = "Tgid:\t9\nNSpid:\t12  \n";
	static const char none[] = "Name:\tx\nNSpidx\n";

	ck_assert_int_eq(fl_status_field(nested, strlen(nested), "NSpid:"), 1);
	ck_assert_int_eq(fl_status_field(nested, strlen(nested), "Tgid:"), 4242);
	ck_assert_int_eq(fl_status_field(flat, strlen(flat), "NSpid:"), 12);
	ck_assert_int_eq(fl_status_field(flat, strlen(flat), "Tgid:"), 9);
	ck_assert_int_eq(fl_status_field(none, strlen(none), "NSpid:"), -EINVAL);
	ck_assert_int_eq(fl_status_field(nested, 20, "NSpid:"), -EINVAL); /* cut before it */
}
END_TEST

static int find_base(void *arg, const struct probe_vma *v)
{
	uint64_t *want = arg;

	if (v->start <= want[0] && want[0] < v->end)
		want[1] = 1;
	return 0;
}

START_TEST(readers_on_self)
{
	void *p = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t want[2] = { (uint64_t)(uintptr_t)p, 0 }, ip, st[3];
	static const int fields[3] = { 3, 22, 28 };
	pid_t tgid, vpid;

	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(probe_maps_for_each_anon(getpid(), find_base, want), 0);
	ck_assert_uint_eq(want[1], 1);
	ck_assert_int_eq(fl_proc_ids(getpid(), &tgid, &vpid), 0);
	ck_assert_int_eq(tgid, getpid());
	ck_assert_int_gt(vpid, 0);
	ck_assert_int_eq(probe_find_syscall_insn(getpid(), &ip), 0);
	ck_assert_int_eq(((unsigned char *)(uintptr_t)ip)[0], 0x0f);
	ck_assert_int_eq(((unsigned char *)(uintptr_t)ip)[1], 0x05);
	ck_assert_int_eq(probe_proc_stat(getpid(), fields, 3, st), 0);
	ck_assert_uint_eq(st[0], 0); /* the state, a letter */
	ck_assert_uint_gt(st[1], 0);
	ck_assert_uint_gt(st[2], 0x1000); /* startstack */
	ck_assert_int_eq(probe_pick_thread(getpid()), getpid());
	ck_assert_int_eq(probe_proc_has_mm(getpid()), 1);
	ck_assert_int_eq(fl_proc_ids(0x7ffffff0, &tgid, &vpid), -ENOENT);
	munmap(p, 8 * 4096);
}
END_TEST

Suite *probe_procfs_suite(void)
{
	Suite *s = suite_create("probe_procfs");
	TCase *tc = tcase_create("procfs");

	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, maps_lines, 0, sizeof(maps) / sizeof(maps[0]));
	tcase_add_test(tc, status_fields);
	tcase_add_test(tc, readers_on_self);
	suite_add_tcase(s, tc);
	return s;
}
#endif
