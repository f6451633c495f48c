/* SPDX-License-Identifier: MIT */
#include "transport/ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int xport_ring_init(struct xport_ring *r, unsigned entries)
{
	r->inflight = 0;
	return io_uring_queue_init(entries, &r->ring, 0);
}

void xport_ring_exit(struct xport_ring *r)
{
	io_uring_queue_exit(&r->ring);
}

struct io_uring_sqe *xport_ring_sqe(struct xport_ring *r, struct xport_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		int ret = io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe) {
			fprintf(stderr, "io_uring: no submission slot (submit: %d)\n", ret);
			abort();
		}
	}
	io_uring_sqe_set_data(sqe, op);
	r->inflight++;
	return sqe;
}

int xport_ring_run(struct xport_ring *r, int nowait)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;
	int ret;

	if (nowait)
		ret = io_uring_submit(&r->ring);
	else
		ret = io_uring_submit_and_wait(&r->ring, 1);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		struct xport_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		/* Mark it seen first: done() may submit and reap more. */
		io_uring_cqe_seen(&r->ring, cqe);
		r->inflight--;
		n++;
		if (op)
			op->done(op, res);
	}
	if (!n && ret == -EINTR)
		return -EINTR;
	return (int)n;
}
