/* SPDX-License-Identifier: MIT */
/* The destination side of pre-copy: the FLPC v1 stream parser, the page store
 * that `faultline precopy recv` fills, and the merge of a store into CRIU
 * images (`faultline precopy merge`).
 *
 * FLPC v1 (little-endian): "FLPC", u32 version 1, then records, each a
 * 24-byte header {u32 type; u32 pid; u64 vaddr; u64 nr_pages}:
 *   1 PAGES       nr_pages * 4096 bytes of data follow; a later copy wins
 *   2 INVALIDATE  earlier copies of these pages are stale
 *   3 ROUND       end of round `vaddr`; nr_pages = pages sent in it; pid 0
 *   4 END         vaddr = rounds, nr_pages = pages sent; nothing may follow
 *
 * The store, per pid: STORE/precopy-<pid>.pages (PAGES data appended as it
 * came) and, written only at a valid END, STORE/precopy-<pid>.idx: the magic
 * "FLPI", u32 version 1, u64 count, then count sorted, disjoint runs
 * {u64 vaddr, u64 nr_pages, u64 offset} of the pages whose latest copy is
 * valid, offset being where the run's data starts in the .pages file.
 *
 * Nothing here is thread-safe per object. */
#ifndef FL_IMG_PRECOPY_H
#define FL_IMG_PRECOPY_H

#include <stddef.h>
#include <stdint.h>

#include "images/img.h"

enum img_flpc_type {
	IMG_FLPC_PAGES = 1,
	IMG_FLPC_INVALIDATE = 2,
	IMG_FLPC_ROUND = 3,
	IMG_FLPC_END = 4,
};

enum {
	IMG_FLPC_MAGIC = 0x43504c46,     /* "FLPC" as a LE u32 */
	IMG_FLPC_VERSION = 1,
	IMG_FLPC_HDR = 8,                /* stream header */
	IMG_FLPC_REC = 24,               /* record header */
	IMG_FLPC_MAX_RUN = 1u << 20,     /* pages per record (4 GiB) */
	IMG_FLPI_MAGIC = 0x49504c46,     /* "FLPI" */
	IMG_FLPI_VERSION = 1,
};

/* Where the parser sends what it finds.  Each callback returns 0 or -errno;
 * an error stops the parser, which then returns it. */
struct img_flpc_sink {
	void *arg;
	/* A PAGES record of NR pages at VADDR begins; its data follows in calls
	 * to data() (LEN bytes each, in order, possibly split anywhere). */
	int (*pages)(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr);
	int (*data)(void *arg, const uint8_t *buf, size_t len);
	int (*invalidate)(void *arg, uint32_t pid, uint64_t vaddr, uint64_t nr);
};

/* The incremental parser: a pure function of the bytes fed so far. */
struct img_flpc {
	uint64_t off;          /* stream bytes consumed */
	uint64_t rec_off;      /* offset of the current record's header */
	uint8_t hdr[IMG_FLPC_REC];
	size_t hdr_have;
	int got_magic, ended;
	uint64_t data_left;    /* bytes of the current PAGES record still to come */
	uint64_t rounds;       /* ROUND records seen */
	uint64_t pages_sent;   /* pages in all PAGES records */
	uint64_t round_pages;  /* pages in PAGES records since the last ROUND */
	uint64_t invalidated;  /* pages named by INVALIDATE records */
	char err[256];
};

void img_flpc_init(struct img_flpc *p);

/* Feeds LEN bytes of the stream.  Returns 0, or -EBADMSG (bad magic, bad
 * record), -EPROTO (bad version, totals that do not match, bytes after END)
 * or a sink error, with p->err naming the byte offset.  Once it has failed,
 * it must not be fed again. */
int img_flpc_feed(struct img_flpc *p, const uint8_t *buf, size_t len,
		  const struct img_flpc_sink *sink);

/* At end of input: 0 if END was seen; else -ENODATA with p->err naming the
 * offset where the stream stops (truncated header, record or data). */
int img_flpc_finish(struct img_flpc *p);

/* A run of valid pages in a store. */
struct img_pc_run {
	uint64_t vaddr, nr_pages, offset;
};

/* Reads STORE's precopy-<PID>.idx (DIRFD is STORE).  A missing index is 0
 * runs.  On success *RUNS (malloc'd, owned by the caller) holds *N sorted,
 * disjoint runs.  Returns 0, -EBADMSG/-ENODATA (message in ERR) or -errno. */
int img_pc_index_read(int dirfd, int32_t pid, struct img_pc_run **runs, size_t *n,
		      struct img_err *err);

/* Statistics of one recv. */
struct img_pc_recv_stats {
	uint64_t received, valid, invalidated, rounds, bytes;
	size_t nr_pids;
};

/* Reads an FLPC stream from FD into the store in directory STORE (created
 * if missing; earlier precopy-* files there are removed first).  Indexes are
 * written only when the whole stream is valid.  Memory stays bounded by the
 * number of runs, not by the data.  Returns 0 or -errno with ERR set. */
int img_pc_recv(int fd, const char *store, struct img_pc_recv_stats *st, struct img_err *err);

enum img_pc_mode { IMG_PC_FULL, IMG_PC_LAZY };

/* Per-pid result of a merge. */
struct img_pc_merge_pid {
	int32_t pid;
	uint64_t local, remote; /* lazy pages with local data / still to fetch */
	uint64_t kept;          /* non-lazy pages carried over */
};

struct img_pc_merge_stats {
	struct img_pc_merge_pid *pids; /* malloc'd; the caller frees */
	size_t n;
};

/* Merges the store in STORE into the dump in IMGDIR (see `faultline precopy
 * merge --help`).  In IMG_PC_FULL mode a lazy page without data is an error
 * (-ENODATA, counts per pid in ST and ERR) and nothing is changed.  Each
 * task's pagemap and pages image are replaced atomically: a new pages-<id>.img
 * under a fresh id, then the pagemap naming it, then the old pages file goes.
 * Returns 0 or -errno with ERR set. */
int img_pc_merge(const char *store, const char *imgdir, enum img_pc_mode mode,
		 struct img_pc_merge_stats *st, struct img_err *err);

#endif
