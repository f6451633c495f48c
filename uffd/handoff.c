/* SPDX-License-Identifier: MIT */
/* The hand-off from `criu restore --lazy-pages` over lazy-pages.socket in the
 * work dir (criu-interop.md §2.1-2.2): for each process a 4-byte pid and then
 * one byte carrying its uffd by SCM_RIGHTS (a negative pid is a zombie: no
 * fd), then the 4-byte finish word.  SO_PASSCRED gives each restored process's
 * pid in our namespace along with its message, so it can be killed if its
 * memory can no longer be fetched. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "uffd/lazy.h"

#define LAZY_SOCKET "lazy-pages.socket"
/* "<pid here> <pid in the images>" per restored task, for `faultline probe`. */
#define LAZY_PIDS "lazy-pages.pids"
enum { FINISH_WORD = 0x52535446 };

enum hstate { H_ACCEPT, H_PID, H_FD, H_FINISH, H_EOF, H_DONE };

struct uffd_handoff {
	struct uffd_ctx *ctx;
	int lfd, fd;
	enum hstate state;
	size_t nr_tasks, seen;
	uint8_t buf[4];
	size_t got;
	int32_t pid;
	pid_t real_pid;
	struct xport_op op;
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} cmsg;
};

/* Exactly the bytes of the current message: a pid, the fd byte, the word. */
static void prep_msg(struct uffd_handoff *h)
{
	h->iov.iov_base = h->state == H_FD ? h->buf : h->buf + h->got;
	h->iov.iov_len = h->state == H_FD ? 1 : (h->state == H_EOF ? 1 : 4 - h->got);
	memset(&h->msg, 0, sizeof(h->msg));
	h->msg.msg_iov = &h->iov;
	h->msg.msg_iovlen = 1;
	h->msg.msg_control = h->cmsg.buf;
	h->msg.msg_controllen = sizeof(h->cmsg.buf);
}

/* The socket is read with a plain recvmsg() once io_uring says it is
 * readable, not with an io_uring recvmsg: when that one has to wait for
 * data, the kernel (6.18 here) retries it with the control buffer already
 * advanced past an SCM_CREDENTIALS of the failed first try, so the uffd's
 * SCM_RIGHTS comes back truncated (MSG_CTRUNC) and the fd is lost. */
static void arm(struct uffd_handoff *h)
{
	struct io_uring_sqe *sqe = xport_ring_sqe(&h->ctx->ring, &h->op);

	if (h->state == H_ACCEPT)
		io_uring_prep_accept(sqe, h->lfd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_poll_add(sqe, h->fd, POLLIN);
}

/* Picks the uffd and the sender's credentials out of the control data. */
static int take_cmsg(struct uffd_handoff *h, int *uffd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h->msg); c; c = CMSG_NXTHDR(&h->msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(uffd, CMSG_DATA(c), sizeof(int));
		if (c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(c), sizeof(cr));
			h->real_pid = cr.pid;
		}
	}
	return h->msg.msg_flags & MSG_CTRUNC ? -EBADMSG : 0;
}

static int on_pid(struct uffd_handoff *h)
{
	memcpy(&h->pid, h->buf, 4);
	h->got = 0;
	if (h->pid >= 0) {
		h->state = H_FD;
		return 0;
	}
	fl_info("lazy-pages", "pid %d is a zombie: nothing to serve", -h->pid);
	h->seen++;
	h->state = h->seen == h->nr_tasks ? H_FINISH : H_PID;
	return 0;
}

/* Tells `faultline probe fault-latency` about a restored task: through its
 * uprobe on uffd_trace_task() at once, through LAZY_PIDS if it comes later. */
static void publish_pid(const struct uffd_handoff *h)
{
	int fd;

	uffd_trace_task(h->real_pid);
	if (h->real_pid <= 0)
		return;
	fd = open(LAZY_PIDS, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%d %d\n", (int)h->real_pid, (int)h->pid) < 0)
		fl_warn("lazy-pages", "cannot write %s: %s", LAZY_PIDS, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int on_fd(struct uffd_handoff *h)
{
	int uffd = -1, ret = take_cmsg(h, &uffd);

	if (ret || uffd < 0) {
		fl_err("lazy-pages", "pid %d: no userfaultfd came with its message", h->pid);
		return ret ? ret : -EBADMSG;
	}
	publish_pid(h);
	ret = uffd_task_add(h->ctx, h->pid, h->real_pid, uffd);
	if (ret) {
		close(uffd);
		return ret;
	}
	h->seen++;
	h->state = h->seen == h->nr_tasks ? H_FINISH : H_PID;
	return 0;
}

static int on_finish(struct uffd_handoff *h)
{
	uint32_t word;

	memcpy(&word, h->buf, 4);
	if (word != FINISH_WORD) {
		fl_err("lazy-pages", "restore sent 0x%08x instead of its finish word", word);
		return -EBADMSG;
	}
	clock_gettime(CLOCK_MONOTONIC, &h->ctx->stats.finish_word);
	fl_info("lazy-pages", "restore finished: background fetch starts");
	h->ctx->restored = 1;
	h->state = H_EOF;
	uffd_check_done(h->ctx);
	return 0;
}

static int step(struct uffd_handoff *h, int res)
{
	if (h->state == H_ACCEPT) {
		h->fd = res;
		clock_gettime(CLOCK_MONOTONIC, &h->ctx->stats.start);
		h->state = h->nr_tasks ? H_PID : H_FINISH;
		close(h->lfd);
		h->lfd = -1;
		return 0;
	}
	if (res == 0) {
		if (h->state == H_EOF) {
			h->state = H_DONE;
			return 0;
		}
		fl_err("lazy-pages", "restore closed the connection before it finished (%zu of %zu "
		       "tasks handed over)", h->seen, h->nr_tasks);
		return -ECONNRESET;
	}
	if (h->state == H_EOF)
		return 0; /* nothing more is expected; ignore stray bytes */
	if (h->state == H_FD)
		return on_fd(h);
	if (h->state == H_PID)
		take_cmsg(h, &(int){ -1 });
	h->got += (size_t)res;
	if (h->got < 4)
		return 0;
	return h->state == H_PID ? on_pid(h) : on_finish(h);
}

static void op_done(struct xport_op *op, int res)
{
	struct uffd_handoff *h = (struct uffd_handoff *)((char *)op - offsetof(struct uffd_handoff, op));
	int ret = res;

	if (res >= 0 && h->state != H_ACCEPT) {
		prep_msg(h);
		res = (int)recvmsg(h->fd, &h->msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (res < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!h->ctx->stopped)
				arm(h);
			return;
		}
		ret = res = res < 0 ? -errno : res;
	}
	if (res >= 0)
		ret = step(h, res);
	if (ret < 0) {
		uffd_fatal(h->ctx, "hand-off from criu restore failed: %s", strerror(-ret));
		return;
	}
	if (h->state != H_DONE && !h->ctx->stopped)
		arm(h);
}

int uffd_handoff_listen(struct uffd_ctx *ctx)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = LAZY_SOCKET };
	struct img_pstree pst = { 0 };
	struct uffd_handoff *h;
	int one = 1, ret;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	h->fd = -1;
	h->op.done = op_done;
	ret = img_dir_read_pstree(&ctx->dir, &pst);
	if (ret) {
		fprintf(stderr, "lazy-pages: %s\n", ctx->dir.err.msg);
		goto err_free;
	}
	h->nr_tasks = pst.nr_tasks;
	img_pstree_free(&pst);
	h->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->lfd < 0) {
		ret = -errno;
		goto err_free;
	}
	setsockopt(h->lfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	unlink(LAZY_SOCKET);
	unlink(LAZY_PIDS);
	if (bind(h->lfd, (struct sockaddr *)&sun, sizeof(sun)) || listen(h->lfd, 10)) {
		ret = -errno;
		fprintf(stderr, "lazy-pages: cannot listen on %s/%s: %s\n", ctx->opts.work_dir,
			LAZY_SOCKET, strerror(errno));
		goto err_close;
	}
	ctx->handoff = h;
	return 0;

err_close:
	close(h->lfd);
err_free:
	free(h);
	return ret;
}

void uffd_handoff_start(struct uffd_ctx *ctx)
{
	arm(ctx->handoff);
}

void uffd_handoff_free(struct uffd_ctx *ctx)
{
	struct uffd_handoff *h = ctx->handoff;

	if (!h)
		return;
	if (h->lfd >= 0) {
		close(h->lfd);
		unlink(LAZY_SOCKET);
		unlink(LAZY_PIDS);
	}
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	ctx->handoff = NULL;
}
