/* SPDX-License-Identifier: MIT */
/* Small /proc readers shared by the modules (common/proc.h). */
#include "common/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t fl_proc_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0, got = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)got < size - 1 && (n = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
		got += n;
	n = n < 0 ? -errno : got;
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

long fl_status_field(const char *text, size_t len, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if ((size_t)(eol - p) > kl && !memcmp(p, key, kl)) {
			const char *last = eol, *f;
			uint64_t v = 0;

			while (last > p + kl && (last[-1] == ' ' || last[-1] == '\t'))
				last--;
			for (f = last; f > p + kl && f[-1] >= '0' && f[-1] <= '9'; f--)
				;
			if (f == last || last - f > 19)
				return -EINVAL;
			for (; f < last; f++)
				v = v * 10 + (uint64_t)(*f - '0');
			return v > 0x7fffffff ? -EINVAL : (long)v;
		}
		p = eol + 1;
	}
	return -EINVAL;
}

int fl_proc_ids(pid_t pid, pid_t *tgid, pid_t *vpid)
{
	char path[64], buf[4096];
	ssize_t n;
	long t, v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = fl_proc_read(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	t = fl_status_field(buf, (size_t)n, "Tgid:");
	v = fl_status_field(buf, (size_t)n, "NSpid:");
	if (t < 0 || v < 0)
		return -EINVAL;
	*tgid = (pid_t)t;
	*vpid = (pid_t)v;
	return 0;
}

char fl_thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (fl_proc_read(path, buf, sizeof(buf)) < 0)
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] ? p[2] : '?';
}

static int push_pid(pid_t p, pid_t **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		pid_t *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = p;
	return 0;
}

int fl_proc_children(pid_t pid, pid_t **v, size_t *n, size_t *cap)
{
	char path[320], buf[4096] = "";
	struct dirent *d;
	int ret = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!ret && (d = readdir(dir))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, d->d_name);
		if (fl_proc_read(path, buf, sizeof(buf)) < 0)
			continue; /* the thread exited meanwhile */
		for (char *s = buf, *e; !ret && *s; s = e) {
			long c = strtol(s, &e, 10);

			if (e == s)
				break;
			if (c > 0)
				ret = push_pid((pid_t)c, v, n, cap);
		}
	}
	closedir(dir);
	return ret;
}
