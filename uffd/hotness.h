/* SPDX-License-Identifier: MIT */
/* Hotness maps (`faultline probe hotness --map`), read by
 * `faultline lazy-pages --hotness FILE` to prefetch the hottest pages first.
 *
 *   # faultline-hotness 1
 *   # vpid start end writes
 *   1 7f12a4000000 7f12a4010000 523
 *
 * One range per line, hottest first; vpid is the pid in pstree.img, start
 * and end (exclusive) are page-aligned dump-time addresses in hex. */
#ifndef FL_UFFD_HOTNESS_H
#define FL_UFFD_HOTNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct uffd_hot {
	int32_t vpid;
	uint64_t start, end;
	uint64_t writes;
};

struct uffd_hotmap {
	struct uffd_hot *v;
	size_t n;
	char err[PATH_MAX + 160]; /* "[FILE: ]line N: why" on failure */
};

/* Parses a whole map file in BUF (need not be NUL-terminated).  Pure.
 * Returns 0, -EBADMSG for a malformed line (err says which and why), or
 * -ENOMEM.  On failure M holds nothing to free. */
int uffd_hotmap_parse(const char *buf, size_t len, struct uffd_hotmap *m);

/* Reads and parses PATH.  Returns 0 or -errno (err names the file). */
int uffd_hotmap_load(const char *path, struct uffd_hotmap *m);

/* Widens every range to whole aligned blocks of BLOCK_PAGES pages (a power
 * of two; 1 leaves the map as it is).  A probe's map is mostly single pages
 * scattered over memory; their neighbours must come anyway, and one GET per
 * block costs far less than one per page. */
void uffd_hotmap_widen(struct uffd_hotmap *m, unsigned block_pages);

void uffd_hotmap_free(struct uffd_hotmap *m);

#endif
