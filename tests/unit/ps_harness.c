/* SPDX-License-Identifier: MIT */
#include "tests/unit/ps_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tests/unit/helpers.h"
#include "tests/unit/tls_pair.h"
#include "transport/net.h"
#include "transport/pki.h"

static const struct t_pe entries[] = {
	{ T_PS_EAGER, 4, IMG_PE_PRESENT },
	{ T_PS_LAZY1, 8, IMG_PE_PRESENT | IMG_PE_LAZY },
	{ T_PS_LAZY1 + 8 * 4096, 8, IMG_PE_PRESENT | IMG_PE_LAZY },
	{ T_PS_LAZY2, 2, IMG_PE_PRESENT | IMG_PE_LAZY },
};

uint8_t t_ps_byte(uint64_t vaddr, size_t off)
{
	uint64_t x = (vaddr + off) * 0x9e3779b97f4a7c15ULL;
	return (uint8_t)(x >> 56);
}

static void write_images(const char *dir)
{
	struct img_task task = { .pid = T_PS_PID, .ppid = 0, .pgid = 1, .sid = 1 };
	struct t_buf b = { 0 };
	int dfd = open(dir, O_DIRECTORY | O_CLOEXEC);

	t_die_if(dfd < 0);
	t_write_dump_head(dfd, &task);
	t_img_pagemap(&b, 1, entries, 4, T_PE_42);
	t_write_file(dfd, "pagemap-1.img", &b);
	t_buf_free(&b);
	for (size_t i = 0; i < 4; i++)
		for (size_t off = 0; off < entries[i].nr_pages * 4096; off++) {
			uint8_t v = t_ps_byte(entries[i].vaddr, off);
			t_buf_raw(&b, &v, 1);
		}
	t_write_file(dfd, "pages-1.img", &b);
	t_buf_free(&b);
	close(dfd);
}

static void make_pki(const char *dir)
{
	char pki[96], other[96], msg[256];
	struct xport_pki_req req = { .dir = pki };

	snprintf(pki, sizeof(pki), "%s/pki", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	t_die_if(xport_pki_init(&req, msg, sizeof(msg)));
	req.dir = other;
	t_die_if(xport_pki_init(&req, msg, sizeof(msg)));
}

static int read_port(const char *log)
{
	char buf[4096];
	int fd = open(log, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *p;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, " port ");
	return p ? atoi(p + 6) : -1;
}

void t_ps_start(struct t_ps *ps, int tls, const char *const *extra)
{
	t_ps_start_at(ps, tls, "127.0.0.1", extra);
}

void t_ps_start_at(struct t_ps *ps, int tls, const char *addr, const char *const *extra)
{
	char log[96], pki[96], fdarg[16];
	const char *argv[32];
	int n = 0, pipefd[2];

	memset(ps, 0, sizeof(*ps));
	ps->tls = tls;
	ps->addr = addr;
	t_mkdtemp(ps->dir);
	write_images(ps->dir);
	if (tls)
		make_pki(ps->dir);
	snprintf(log, sizeof(log), "%s/ps.log", ps->dir);
	snprintf(pki, sizeof(pki), "%s/pki", ps->dir);
	t_die_if(pipe2(pipefd, O_CLOEXEC));
	snprintf(fdarg, sizeof(fdarg), "%d", pipefd[1]);
	argv[n++] = "page-server";
	argv[n++] = "-D"; argv[n++] = ps->dir;
	argv[n++] = "--address"; argv[n++] = addr;
	argv[n++] = "--port"; argv[n++] = "0";
	argv[n++] = "-o"; argv[n++] = log;
	argv[n++] = "-v";
	argv[n++] = "--status-fd"; argv[n++] = fdarg;
	argv[n++] = tls ? "--pki" : "--no-tls";
	if (tls)
		argv[n++] = pki;
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	ps->pid = fork();
	t_die_if(ps->pid < 0);
	if (ps->pid == 0) {
		fcntl(pipefd[1], F_SETFD, 0);
		_exit(ps_main(n, (char **)argv));
	}
	close(pipefd[1]);
	char c;
	t_die_if(read(pipefd[0], &c, 1) != 1); /* ready */
	close(pipefd[0]);
	ps->port = read_port(log);
	t_die_if(ps->port <= 0);
}

static int reap(struct t_ps *ps, int secs)
{
	for (int i = 0; i < secs * 100; i++) {
		int st;
		pid_t r = waitpid(ps->pid, &st, WNOHANG);
		if (r == ps->pid) {
			ps->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(10000);
	}
	kill(ps->pid, SIGKILL);
	waitpid(ps->pid, NULL, 0);
	ps->pid = 0;
	return -2;
}

int t_ps_stop(struct t_ps *ps)
{
	kill(ps->pid, SIGTERM);
	return reap(ps, 10);
}

int t_ps_wait(struct t_ps *ps)
{
	return reap(ps, 10);
}

int t_ps_log_has(const struct t_ps *ps, const char *text)
{
	char path[96], buf[65536];

	snprintf(path, sizeof(path), "%s/ps.log", ps->dir);
	for (int i = 0; i < 500; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (strstr(buf, text))
				return 1;
		}
		usleep(10000);
	}
	return 0;
}

void t_ps_cleanup(struct t_ps *ps)
{
	if (ps->pid > 0)
		t_ps_stop(ps);
	t_rmdir_all(ps->dir);
}
