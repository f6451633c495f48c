/* SPDX-License-Identifier: MIT */
/* `faultline lazy-pages`: the destination fault handler.
 *
 * One thread, one io_uring.  The pieces:
 *   handoff.c   lazy-pages.socket: pids, uffds (SCM_RIGHTS), the finish word
 *   fault.c     THE fault path: uffd message -> request -> reply -> UFFDIO_COPY
 *               (which wakes the thread); also zero pages and retries
 *   events.c    FORK, REMAP, REMOVE, UNMAP
 *   prefetch.c  background fetch after the finish word
 *   remote.c    GETs to a page server over TLS/TCP, pipelined, reconnecting
 *   local.c     reads from local pages-N.img (-D without --page-server, and
 *               with it for PE_PRESENT|PE_LAZY pages of a pre-copy merge)
 *   stats.c     fault latency histogram, progress, summary
 * Every request is a struct uffd_req; a fetch backend completes it by calling
 * uffd_deliver() (fault.c), the one completion callback of the fault path. */
#ifndef FL_UFFD_LAZY_H
#define FL_UFFD_LAZY_H

#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "images/img.h"
#include "transport/conn.h"
#include "transport/proto.h"
#include "transport/ring.h"
#include "uffd/hotness.h"
#include "uffd/ranges.h"

enum { UFFD_MSG_BATCH = 64 };

struct uffd_ctx;

/* The dump-time view of one pid in the images, shared by a task and its forks. */
struct uffd_image {
	int32_t pid;
	struct img_pagemap pm;
	int pages_fd; /* local mode only, else -1 */
};

struct uffd_task {
	struct uffd_ctx *ctx;
	struct uffd_task *next;
	struct uffd_image *img;
	int32_t pid;       /* virtual pid in the images: the GET key */
	pid_t real_pid;    /* in our pid namespace, to kill on fatal errors; 0 unknown */
	int uffd;
	char name[32];     /* "pid-uffd" for log lines */
	struct uffd_ranges todo;    /* lazy pages nobody asked for yet */
	struct uffd_ranges pending; /* requested; reply not copied yet */
	struct uffd_ranges asked;   /* dump-time pages a fault request is out for */
	struct xport_op read_op;
	struct uffd_msg msgs[UFFD_MSG_BATCH];
	int pidfd;                  /* readable once the process exits; -1 unknown */
	struct xport_op exit_op;
	unsigned read_busy : 1, exited : 1, done : 1, exit_busy : 1;
	uint64_t faults, zero_pages, copied_pages;
};

/* A GET in flight: dump-time pages [img_addr, img_addr + nr) of TASK. */
struct uffd_req {
	struct uffd_req *next;
	struct uffd_task *task;
	uint64_t img_addr, nr;
	int fault;          /* 1: a fault waits on it; 0: background */
	int local;          /* 1: served from the local pages file */
	int dup;            /* 1: a fault's second request for a page already in
			     * flight in the background (uffd_preempt) */
	struct timespec t0; /* when the fault was read */
	uint8_t *data;      /* owned copy, only while waiting for a retry */
};

/* A fetch backend.  submit() takes ownership of REQ and later calls
 * uffd_deliver() with its data (or fails the daemon); close() ends the
 * session (PS_IOV_CLOSE for a page server); busy() counts requests in
 * flight.  Returns 0 or -errno. */
struct uffd_fetch_ops {
	int (*submit)(struct uffd_ctx *ctx, struct uffd_req *req);
	int (*close)(struct uffd_ctx *ctx);
	unsigned (*bg_room)(struct uffd_ctx *ctx); /* background requests it takes now */
};

struct uffd_hist {
	uint64_t count;
	uint64_t buckets[64 * 8]; /* log2 buckets with 8 linear sub-buckets, in ns */
};

struct uffd_opts {
	const char *images_dir, *work_dir;
	const char *address; /* page server; NULL: local images */
	uint16_t port;
	enum xport_proto_ver proto;
	double reconnect_timeout; /* seconds */
	unsigned bg_pages;        /* pages per background GET */
	unsigned bg_depth;        /* background GETs in flight */
	int progress;             /* show progress lines */
	const char *hotness;      /* hotness map file, or NULL */
	int no_preempt;           /* 1: a fault never asks again for a page in flight */
};

struct uffd_stats {
	uint64_t faulted, prefetched, zeroed, bytes;
	uint64_t local, remote; /* pages in, by where they came from */
	uint64_t dup;           /* pages asked for again on the fault link (not in faulted) */
	struct uffd_hist lat;
	struct timespec start, finish_word, all_in;
};

struct uffd_remote; /* remote.c */
struct uffd_local;  /* local.c */
struct uffd_handoff; /* handoff.c */

struct uffd_ctx {
	struct uffd_opts opts;
	struct xport_ring ring;
	struct img_dir dir;
	struct uffd_image *images;
	size_t nr_images;
	struct uffd_task *tasks;
	const struct uffd_fetch_ops *fetch;
	const struct uffd_fetch_ops *local_fetch; /* --page-server with local data, else NULL */
	struct uffd_remote *remote;
	struct uffd_local *local;
	struct uffd_handoff *handoff;
	struct uffd_req *retry;       /* replies to copy again after EAGAIN */
	unsigned fault_reqs;          /* fault requests in flight */
	unsigned bg_reqs;             /* background requests in flight */
	struct timespec last_fault;   /* when the last fault request went out */
	unsigned bg_chunk;            /* pages per background GET now (grows to bg_pages) */
	/* Shortest remote fault round trip in the current and the last window of
	 * UFFD_RTT_WINDOW faults (ns; 0: none yet): the path's propagation floor,
	 * which queueing does not raise. */
	uint64_t rtt_min_now, rtt_min_last;
	unsigned rtt_n;
	struct uffd_task *bg_cursor;  /* round-robin position of prefetch */
	struct uffd_hotmap hot;       /* --hotness: ranges to prefetch first */
	size_t hot_next;              /* the first hot range not fully requested */
	uint64_t total_pages;         /* lazy pages over all tasks at hand-off */
	unsigned restored : 1;        /* finish word received */
	unsigned local_drained : 1;   /* no local todo pages left for the background */
	unsigned closing : 1, stopped : 1;
	int exit_code;
	char fatal[256];              /* why we gave up, if we did */
	struct uffd_stats stats;
	struct timespec last_progress;
};

/* fault.c */
int uffd_task_add(struct uffd_ctx *ctx, int32_t pid, pid_t real_pid, int uffd);
void uffd_fault_init(struct uffd_task *t);
void uffd_task_arm(struct uffd_task *t);
void uffd_deliver(struct uffd_ctx *ctx, struct uffd_req *req, const uint8_t *data);
void uffd_retry(struct uffd_ctx *ctx);
int uffd_request(struct uffd_task *t, const struct uffd_range *r, int fault,
		 const struct timespec *t0);
void uffd_task_gone(struct uffd_task *t, const char *why);
void uffd_check_done(struct uffd_ctx *ctx);
/* Markers for `faultline probe fault-latency` (uprobes; they do nothing):
 * uffd_trace_copy() right before the UFFDIO_COPY or UFFDIO_ZEROPAGE of
 * [DST, DST + LEN), READ_NS being when the fault that asked for it was read
 * (CLOCK_MONOTONIC ns; 0: background fetch); uffd_trace_task() when a
 * restored task with pid REAL_PID (ours; 0: unknown) is handed over. */
void uffd_trace_copy(uint64_t dst, uint64_t len, uint64_t read_ns);
void uffd_trace_task(int32_t real_pid);
/* Kills every restored task, records WHY and stops the daemon (exit 1). */
void uffd_fatal(struct uffd_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* events.c: handles one non-fault event of T. */
void uffd_event(struct uffd_task *t, const struct uffd_msg *m);

/* prefetch.c: issues background GETs while the backend has room and no
 * fault waits; uffd_prefetch_fault() shrinks the next chunks after a fault. */
void uffd_prefetch(struct uffd_ctx *ctx);
void uffd_prefetch_fault(struct uffd_ctx *ctx);

/* remote.c / local.c: set ctx->fetch.  Return 0 or -errno (message printed).
 * remote_open connects (blocking) before the ring exists; remote_start then
 * begins the TLS handshake on the ring. */
int uffd_remote_open(struct uffd_ctx *ctx, SSL_CTX *tls);
void uffd_remote_start(struct uffd_ctx *ctx);
/* 1 if fault requests have a link of their own (the server took two). */
int uffd_remote_fault_link(const struct uffd_ctx *ctx);
/* Notes one remote fault's round trip (ns), for uffd_prefetch's throttle. */
void uffd_prefetch_rtt(struct uffd_ctx *ctx, uint64_t ns);
void uffd_remote_free(struct uffd_ctx *ctx);
/* Stops the daemon once every link has closed after CLOSE. */
void uffd_remote_check_closed(struct uffd_ctx *ctx);
int uffd_local_open(struct uffd_ctx *ctx);
/* With --page-server: for each image that mixes lazy-only entries (PE_LAZY)
 * with PE_PRESENT|PE_LAZY ones (a `precopy merge --mode lazy`) and whose
 * pages-<id>.img is here, serve the latter locally: sets ctx->local_fetch.
 * Images from a normal dump (every lazy page with data) stay remote, so a
 * page server sharing the image dir is still used.  Returns 0 or -errno. */
int uffd_local_open_mixed(struct uffd_ctx *ctx);
/* 1 if ctx->local_fetch serves all NR dump-time pages at IMG_ADDR of T. */
int uffd_local_covers(const struct uffd_task *t, uint64_t img_addr, uint64_t nr);
void uffd_local_free(struct uffd_ctx *ctx);

/* handoff.c: listen (no ring needed), then start accepting on the ring. */
int uffd_handoff_listen(struct uffd_ctx *ctx);
void uffd_handoff_start(struct uffd_ctx *ctx);
void uffd_handoff_free(struct uffd_ctx *ctx);

/* stats.c */
void uffd_hist_add(struct uffd_hist *h, uint64_t ns);
uint64_t uffd_hist_pct(const struct uffd_hist *h, double pct);
double uffd_elapsed(const struct timespec *from, const struct timespec *to);
void uffd_progress(struct uffd_ctx *ctx, int final);
void uffd_summary(struct uffd_ctx *ctx);

#endif
