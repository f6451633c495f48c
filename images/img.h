/* SPDX-License-Identifier: MIT */
/* CRIU image reader: inventory, pstree, mm, pagemap and pages images.
 *
 * Parsers of untrusted input are pure functions over a buffer (img_parse_*),
 * each with a fuzz target; the img_dir_* functions read files and call them.
 * Every error leaves a message naming the file and the byte offset in
 * dir->err (or the caller's struct img_err) and returns -errno:
 *   -ENOENT  a required file is missing        -EBADMSG  wrong magic / corrupt message
 *   -EPROTO  a field is out of range / missing  -ENODATA  truncated file
 * Nothing here is thread-safe per object; distinct objects are independent. */
#ifndef FL_IMG_H
#define FL_IMG_H

#include <stddef.h>
#include <stdint.h>

#define IMG_PAGE_SIZE 4096ULL

enum img_magic {
	IMG_MAGIC_COMMON = 0x54564319,
	IMG_MAGIC_SERVICE = 0x55105940,
	IMG_MAGIC_INVENTORY = 0x58313116,
	IMG_MAGIC_PSTREE = 0x50273030,
	IMG_MAGIC_PAGEMAP = 0x56084025,
	IMG_MAGIC_MM = 0x57492820,
	IMG_MAGIC_CORE = 0x55053847,
};

enum img_pe_flags { IMG_PE_PARENT = 1, IMG_PE_LAZY = 2, IMG_PE_PRESENT = 4 };

struct img_err {
	char msg[256];
};

struct img_inventory {
	uint32_t img_version;
};

struct img_task {
	int32_t pid, ppid, pgid, sid;
	uint32_t nr_threads;
	int32_t *threads;
};

struct img_pstree {
	struct img_task *tasks;
	size_t nr_tasks;
};

struct img_vma {
	uint64_t start, end, pgoff;
	uint32_t prot, flags, status;
	int64_t shmid;
	int32_t fd;
};

struct img_mm {
	struct img_vma *vmas; /* sorted by start, as in the image */
	size_t nr_vmas;
};

/* One pagemap entry; file_off is its data's offset in pages-<pages_id>.img
 * (valid when flags has IMG_PE_PRESENT, else 0). */
struct img_pm_entry {
	uint64_t vaddr;
	uint64_t nr_pages;
	uint32_t flags;
	uint64_t file_off;
};

struct img_pagemap {
	int32_t pid;
	uint32_t pages_id;
	struct img_pm_entry *ents; /* sorted by vaddr, non-overlapping (validated) */
	size_t nr_ents;
	uint64_t nr_lazy_pages;    /* pages in entries with IMG_PE_LAZY */
	uint64_t present_bytes;    /* bytes the pages image must hold */
	int lazy_has_data;         /* 1: lazy entries are PRESENT|LAZY (normal dump);
				      0: lazy-only entries (dump --lazy-pages) */
};

/* Pure parsers: BUF/LEN is a whole image file.  NAME is used in messages. */
int img_parse_inventory(const uint8_t *buf, size_t len, const char *name,
			struct img_inventory *out, struct img_err *err);
int img_parse_pstree(const uint8_t *buf, size_t len, const char *name,
		     struct img_pstree *out, struct img_err *err);
int img_parse_mm(const uint8_t *buf, size_t len, const char *name, struct img_mm *out,
		 struct img_err *err);
int img_parse_pagemap(const uint8_t *buf, size_t len, const char *name, int32_t pid,
		      struct img_pagemap *out, struct img_err *err);

void img_pstree_free(struct img_pstree *p);
void img_mm_free(struct img_mm *m);
void img_pagemap_free(struct img_pagemap *pm);

/* A CRIU image directory. */
struct img_dir {
	int dirfd;
	char path[512];
	struct img_err err;
};

/* Opens PATH (O_DIRECTORY) and checks inventory.img.  Returns 0 or -errno. */
int img_dir_open(struct img_dir *d, const char *path);
void img_dir_close(struct img_dir *d);

/* Read and parse one image of D.  A missing pagemap/mm file counts as empty
 * (a zombie or a dead task) and returns 0 with no entries. */
int img_dir_read_pstree(struct img_dir *d, struct img_pstree *out);
int img_dir_read_mm(struct img_dir *d, int32_t pid, struct img_mm *out);
int img_dir_read_pagemap(struct img_dir *d, int32_t pid, struct img_pagemap *out);

/* Opens pages-<pages_id>.img read-only and checks that it holds at least
 * PM->present_bytes; a short file is -ENODATA with the expected and actual size.
 * On success *FD is an O_CLOEXEC fd owned by the caller. */
int img_dir_open_pages(struct img_dir *d, const struct img_pagemap *pm, int *fd);

/* Range logic for a GET of NR pages at VADDR.  The request must lie wholly in
 * entries that carry IMG_PE_LAZY and data (IMG_PE_PRESENT), possibly spanning
 * several entries that are contiguous in vaddr.  Returns:
 *   0        *FILE_OFF = offset of VADDR's data, *RUN = pages from VADDR that are
 *            contiguous both in memory and in the pages file (1 <= *RUN <= NR);
 *            the caller serves those, then calls again for VADDR + RUN pages;
 *   -ENOENT  VADDR is in no entry;          -EACCES VADDR is in a non-lazy entry;
 *   -ENODATA the entry is lazy but has no data in the images (dump --lazy-pages);
 *   -ERANGE  VADDR+NR runs past the end of the contiguous lazy run;
 *   -EINVAL  VADDR not page aligned or NR == 0. */
int img_pagemap_lookup(const struct img_pagemap *pm, uint64_t vaddr, uint64_t nr,
		       uint64_t *file_off, uint64_t *run);

#endif
