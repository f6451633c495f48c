/* SPDX-License-Identifier: MIT */
/* What Debian 12's linux-libc-dev (6.1) lacks for `faultline probe hotness`:
 * the PAGEMAP_SCAN ioctl (6.7) and the userfaultfd feature bits after
 * WP_HUGETLBFS_SHMEM.  Values are the kernel's uapi ones (include/uapi/linux/
 * fs.h, userfaultfd.h); tests/unit/test_probe_compat.c checks them against
 * the running kernel (struct layout against its BTF, the ioctl and the bits by
 * behaviour).  Newer system headers win: each definition is guarded. */
#ifndef FL_BPF_COMPAT_H
#define FL_BPF_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

/* Markers on unpopulated PTEs, so their first write is tracked too.  The
 * kernel turns it on by itself along with WP_ASYNC. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#ifndef PAGEMAP_SCAN
/* Categories of pages, as PAGEMAP_SCAN reports and filters them. */
#define PAGE_IS_WPALLOWED (1 << 0) /* in a VMA registered for async uffd-wp */
#define PAGE_IS_WRITTEN   (1 << 1) /* not write-protected: written since */
#define PAGE_IS_FILE      (1 << 2)
#define PAGE_IS_PRESENT   (1 << 3)
#define PAGE_IS_SWAPPED   (1 << 4)
#define PAGE_IS_PFNZERO   (1 << 5) /* maps the zero page */
#define PAGE_IS_HUGE      (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* Flags of pm_scan_arg. */
#define PM_SCAN_WP_MATCHING   (1 << 0) /* write-protect the pages it reports */
#define PM_SCAN_CHECK_WPASYNC (1 << 1) /* fail (EPERM) on a VMA without async wp */

struct pm_scan_arg {
	__u64 size;              /* sizeof(struct pm_scan_arg) */
	__u64 flags;
	__u64 start, end;        /* the range to walk */
	__u64 walk_end;          /* out: where the walk stopped */
	__u64 vec;               /* struct page_region[vec_len] */
	__u64 vec_len;
	__u64 max_pages;         /* 0: no limit */
	__u64 category_inverted; /* categories that must be absent, not present */
	__u64 category_mask;     /* all of these (after inversion) */
	__u64 category_anyof_mask;
	__u64 return_mask;       /* categories reported in page_region */
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg is 96 bytes (PM_SCAN_ARG_SIZE_VER0)");
_Static_assert(sizeof(struct page_region) == 24, "page_region is 24 bytes");

#endif
