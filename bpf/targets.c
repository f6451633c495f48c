/* SPDX-License-Identifier: MIT */
/* Finding a probe's target processes in /proc. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/targets.h"

enum { MAX_DEPTH = 64 };

int probe_pids_add(struct probe_pids *p, pid_t pid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i] == pid)
			return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		pid_t *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = pid;
	return 1;
}

void probe_pids_free(struct probe_pids *p)
{
	free(p->v);
	*p = (struct probe_pids){ 0 };
}

/* Adds the children of thread TID of PID (and theirs). */
static int add_children(struct probe_pids *p, pid_t pid, const char *tid, int depth)
{
	char path[PATH_MAX], buf[4096];
	FILE *f;
	size_t n;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (char *s, *tok = strtok_r(buf, " \n", &s); tok && !ret; tok = strtok_r(NULL, " \n", &s))
		ret = depth < MAX_DEPTH ? probe_pids_add_tree(p, (pid_t)atoi(tok)) : 0;
	return ret;
}

int probe_pids_add_tree(struct probe_pids *p, pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int ret;

	if (pid <= 0)
		return 0;
	ret = probe_pids_add(p, pid);
	if (ret <= 0)
		return ret; /* known already (its tree too), or no memory */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	ret = 0;
	while (!ret && (de = readdir(d)))
		if (de->d_name[0] != '.')
			ret = add_children(p, pid, de->d_name, 1);
	closedir(d);
	return ret;
}

int probe_read_pidfile(const char *path, pid_t *pid)
{
	FILE *f = fopen(path, "re");
	long v = 0;
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%ld", &v);
	fclose(f);
	if (n != 1 || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int probe_lp_pids_path(pid_t daemon, char *path)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)daemon);
	n = readlink(link, path, PATH_MAX - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	path[n] = 0;
	if ((size_t)n + sizeof("/lazy-pages.pids") > PATH_MAX)
		return -ENAMETOOLONG;
	strcat(path, "/lazy-pages.pids");
	return 0;
}

int probe_read_lp_pids(const char *path, struct probe_pids *p)
{
	FILE *f = fopen(path, "re");
	size_t before = p->n;
	char line[128];
	int ret = 0;

	if (!f)
		return 0;
	while (!ret && fgets(line, sizeof(line), f)) {
		long pid = strtol(line, NULL, 10);

		if (pid > 0 && pid <= INT_MAX)
			ret = probe_pids_add_tree(p, (pid_t)pid);
	}
	fclose(f);
	return ret < 0 ? ret : (int)(p->n - before);
}
