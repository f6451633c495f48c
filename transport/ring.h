/* SPDX-License-Identifier: MIT */
/* One io_uring per thread.  Every submission carries a struct xport_op whose
 * done() runs once when its completion arrives; that is the only callback. */
#ifndef FL_XPORT_RING_H
#define FL_XPORT_RING_H

#include <liburing.h>

struct xport_op;
typedef void (*xport_done_fn)(struct xport_op *op, int res);

struct xport_op {
	xport_done_fn done;
};

struct xport_ring {
	struct io_uring ring;
	unsigned inflight; /* submitted ops whose completion has not run */
};

/* Sets up a ring of ENTRIES submission slots.  Returns 0 or -errno. */
int xport_ring_init(struct xport_ring *r, unsigned entries);
void xport_ring_exit(struct xport_ring *r);

/* A submission slot for OP, flushing the queue first if it is full.
 * Never NULL: a ring that cannot submit at all aborts, as it is a bug. */
struct io_uring_sqe *xport_ring_sqe(struct xport_ring *r, struct xport_op *op);

/* Submits what is queued, waits for at least one completion (unless
 * NOWAIT) and runs done() for every completion available.
 * Returns the number handled, or -errno (-EINTR when a signal arrived). */
int xport_ring_run(struct xport_ring *r, int nowait);

#endif
