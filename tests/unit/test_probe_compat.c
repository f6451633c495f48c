/* SPDX-License-Identifier: MIT */
/* bpf/compat.h against the running kernel: pm_scan_arg's layout against its
 * BTF, and the ioctl number, flags, categories and uffd feature bits by what
 * they do, in this process's own memory.  Prints SKIP when the kernel lacks
 * a feature or userfaultfd is not allowed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/unit/suites.h"

#ifdef FL_NO_BPF
Suite *probe_compat_suite(void)
{
	return suite_create("probe_compat (not built: FL_NO_BPF)");
}
#else
#include <bpf/btf.h>

#include "bpf/compat.h"

#define PG 4096UL
enum { NPAGES = 16 };

START_TEST(pm_scan_arg_matches_kernel_btf)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
		{ "size", offsetof(struct pm_scan_arg, size) },
		{ "flags", offsetof(struct pm_scan_arg, flags) },
		{ "start", offsetof(struct pm_scan_arg, start) },
		{ "end", offsetof(struct pm_scan_arg, end) },
		{ "walk_end", offsetof(struct pm_scan_arg, walk_end) },
		{ "vec", offsetof(struct pm_scan_arg, vec) },
		{ "vec_len", offsetof(struct pm_scan_arg, vec_len) },
		{ "max_pages", offsetof(struct pm_scan_arg, max_pages) },
		{ "category_inverted", offsetof(struct pm_scan_arg, category_inverted) },
		{ "category_mask", offsetof(struct pm_scan_arg, category_mask) },
		{ "category_anyof_mask", offsetof(struct pm_scan_arg, category_anyof_mask) },
		{ "return_mask", offsetof(struct pm_scan_arg, return_mask) },
	};
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_member *m;
	int id;

	if (!btf) {
		printf("SKIP: no kernel BTF\n");
		return;
	}
	id = btf__find_by_name_kind(btf, "pm_scan_arg", BTF_KIND_STRUCT);
	ck_assert_int_gt(id, 0);
	t = btf__type_by_id(btf, id);
	ck_assert_uint_eq(t->size, sizeof(struct pm_scan_arg));
	ck_assert_uint_eq(btf_vlen(t), sizeof(f) / sizeof(f[0]));
	m = btf_members(t);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ck_assert_str_eq(btf__name_by_offset(btf, m[i].name_off), f[i].name);
		ck_assert_uint_eq(btf_member_bit_offset(t, (__u32)i), f[i].off * 8);
	}
	id = btf__find_by_name_kind(btf, "page_region", BTF_KIND_STRUCT);
	ck_assert_int_gt(id, 0);
	ck_assert_uint_eq(btf__type_by_id(btf, id)->size, sizeof(struct page_region));
	btf__free(btf);
}
END_TEST

struct t_wp {
	int uffd, pagemap;
	char *mem;
};

/* A 16-page mapping with pages 0-7 populated, registered for async WP and
 * protected.  Returns 0, or 1 after printing SKIP. */
static int setup(struct t_wp *t, __u64 features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	t->mem = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(t->mem, MAP_FAILED);
	madvise(t->mem, NPAGES * PG, MADV_NOHUGEPAGE);
	for (int i = 0; i < 8; i++)
		t->mem[i * PG] = 1;
	t->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (t->uffd < 0) {
		printf("SKIP: userfaultfd: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(t->uffd, UFFDIO_API, &api)) {
		printf("SKIP: UFFDIO_API(%#llx): %s\n", (unsigned long long)features, strerror(errno));
		return 1;
	}
	struct uffdio_register reg = { .range = { (__u64)(uintptr_t)t->mem, NPAGES * PG },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	ck_assert_int_eq(ioctl(t->uffd, UFFDIO_REGISTER, &reg), 0);
	ck_assert_int_eq(ioctl(t->uffd, UFFDIO_WRITEPROTECT, &wp), 0);
	t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(t->pagemap, 0);
	return 0;
}

static void teardown(struct t_wp *t)
{
	close(t->uffd);
	close(t->pagemap);
	munmap(t->mem, NPAGES * PG);
}

/* PAGEMAP_SCAN of the mapping: regions as "first-last:categories ..." */
static long scan(struct t_wp *t, __u64 flags, __u64 mask, __u64 inverted, char *out, size_t len)
{
	struct page_region v[NPAGES];
	struct pm_scan_arg a = { .size = sizeof(a), .flags = flags, .start = (__u64)(uintptr_t)t->mem,
				 .end = (__u64)(uintptr_t)t->mem + NPAGES * PG, .vec = (__u64)(uintptr_t)v,
				 .vec_len = NPAGES, .category_mask = mask, .category_inverted = inverted,
				 .return_mask = 0xff }; /* every category this header knows */
	long n = ioctl(t->pagemap, PAGEMAP_SCAN, &a);
	size_t o = 0;

	out[0] = 0;
	for (long i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%llu-%llu:%#llx", i ? " " : "",
				      (v[i].start - a.start) / PG, (v[i].end - a.start) / PG - 1,
				      v[i].categories);
	return n < 0 ? -errno : n;
}

START_TEST(async_wp_and_pagemap_scan_behave_as_defined)
{
	const __u64 cats = PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_PRESENT;
	char got[512], want[512];
	struct t_wp t;
	volatile char sink;

	if (setup(&t, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED))
		return;
	/* WP_UNPOPULATED: the holes 8-15 got markers, reported as swapped. */
	ck_assert_int_eq(scan(&t, 0, 0, 0, got, sizeof(got)), 2);
	snprintf(want, sizeof(want), "0-7:%#x 8-15:%#x", PAGE_IS_WPALLOWED | PAGE_IS_PRESENT,
		 PAGE_IS_WPALLOWED | PAGE_IS_SWAPPED);
	ck_assert_str_eq(got, want);
	/* WP_ASYNC: these writes do not block, and only they count as written. */
	t.mem[2 * PG] = 2;
	t.mem[9 * PG] = 3;
	sink = t.mem[11 * PG]; /* a read maps the zero page, still protected */
	(void)sink;
	ck_assert_int_eq(scan(&t, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, 0, got,
			      sizeof(got)), 2);
	snprintf(want, sizeof(want), "2-2:%#llx 9-9:%#llx", (unsigned long long)cats,
		 (unsigned long long)cats);
	ck_assert_str_eq(got, want);
	/* PAGE_IS_PFNZERO */
	ck_assert_int_eq(scan(&t, 0, PAGE_IS_PFNZERO, 0, got, sizeof(got)), 1);
	snprintf(want, sizeof(want), "11-11:%#x", PAGE_IS_WPALLOWED | PAGE_IS_PRESENT | PAGE_IS_PFNZERO);
	ck_assert_str_eq(got, want);
	/* PM_SCAN_WP_MATCHING protected them again. */
	ck_assert_int_eq(scan(&t, 0, PAGE_IS_WRITTEN, 0, got, sizeof(got)), 0);
	/* category_inverted: not written = everything, split by category. */
	ck_assert_int_eq(scan(&t, 0, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, got, sizeof(got)), 6);
	ck_assert_str_eq(got, "0-7:0x9 8-8:0x11 9-9:0x9 10-10:0x11 11-11:0x29 12-15:0x11");
	teardown(&t);
}
END_TEST

START_TEST(unpopulated_bit_gives_markers)
{
	char got[256];
	struct t_wp t;

	/* The kernel turns WP_UNPOPULATED on with WP_ASYNC, so tell bit 13 by
	 * itself in synchronous WP mode (nothing here writes, nothing blocks):
	 * with it the holes 8-15 get markers, which scan as swapped. */
	if (setup(&t, UFFD_FEATURE_WP_UNPOPULATED))
		return;
	ck_assert_int_eq(scan(&t, 0, 0, 0, got, sizeof(got)), 2);
	ck_assert_str_eq(got, "0-7:0x8 8-15:0x10");
	teardown(&t);
	if (setup(&t, 0))
		return;
	ck_assert_int_eq(scan(&t, 0, PAGE_IS_SWAPPED, 0, got, sizeof(got)), 0);
	teardown(&t);
}
END_TEST

START_TEST(check_wpasync_refuses_an_unregistered_vma)
{
	char got[256];
	struct t_wp t;

	if (setup(&t, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED))
		return;
	t.mem[1 * PG] = 1;
	/* A new mapping over pages 8-15 is not registered. */
	ck_assert_ptr_ne(mmap(t.mem + 8 * PG, 8 * PG, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), MAP_FAILED);
	ck_assert_int_eq(scan(&t, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, 0, got,
			      sizeof(got)), -EPERM);
	/* The walk had protected page 1 before it failed: it is gone now. */
	ck_assert_int_eq(scan(&t, PM_SCAN_WP_MATCHING, PAGE_IS_WRITTEN, 0, got, sizeof(got)), 0);
	teardown(&t);
}
END_TEST

START_TEST(feature_bits)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		printf("SKIP: userfaultfd: %s\n", strerror(errno));
		return;
	}
	ck_assert_int_eq(ioctl(fd, UFFDIO_API, &api), 0);
	close(fd);
	ck_assert_uint_eq(PAGEMAP_SCAN, 0xc0606610);
	if (!(api.features & UFFD_FEATURE_WP_ASYNC)) {
		printf("SKIP: kernel features %#llx lack WP_ASYNC\n", (unsigned long long)api.features);
		return;
	}
	/* Everything up to MOVE, the newest bit this header knows. */
	ck_assert(api.features & UFFD_FEATURE_WP_UNPOPULATED);
	ck_assert(api.features & UFFD_FEATURE_POISON);
	ck_assert(api.features & UFFD_FEATURE_MOVE);
	ck_assert_uint_eq(api.features & (UFFD_FEATURE_MOVE * 2 - 1), UFFD_FEATURE_MOVE * 2 - 1);
}
END_TEST

Suite *probe_compat_suite(void)
{
	Suite *s = suite_create("probe_compat");
	TCase *tc = tcase_create("kernel");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, pm_scan_arg_matches_kernel_btf);
	tcase_add_test(tc, feature_bits);
	tcase_add_test(tc, async_wp_and_pagemap_scan_behave_as_defined);
	tcase_add_test(tc, unpopulated_bit_gives_markers);
	tcase_add_test(tc, check_wpasync_refuses_an_unregistered_vma);
	suite_add_tcase(s, tc);
	return s;
}
#endif
