/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one process-wide sink: set once in main before threads start, read-only afterwards. */
static struct {
	int fd;
	int level;
} sink = { .fd = 2, .level = FL_LOG_INFO };

int fl_log_open(const char *path, int level)
{
	sink.level = level;
	if (!path)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	sink.fd = fd;
	return 0;
}

int fl_log_level(void)
{
	return sink.level;
}

int fl_log_fd(void)
{
	return sink.fd;
}

void fl_log(int level, const char *obj, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	struct timespec ts;
	int n, saved = errno;

	if (level > sink.level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "(%5ld.%06ld) %-5s %s%s", (long)ts.tv_sec,
		     ts.tv_nsec / 1000, names[level], obj ? obj : "", obj ? ": " : "");
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so concurrent writers never interleave within a line. */
	if (write(sink.fd, line, n) < 0) {
		/* Nowhere left to report a logging failure. */
	}
	errno = saved;
}
