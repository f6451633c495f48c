/* SPDX-License-Identifier: MIT */
/* Logging: one sink per process, chosen once in main (stderr or -o FILE).
 * Every line carries a timestamp, the level and the object it is about. */
#ifndef FL_LOG_H
#define FL_LOG_H

#include <stdarg.h>

enum fl_log_level { FL_LOG_ERR = 0, FL_LOG_WARN = 1, FL_LOG_INFO = 2, FL_LOG_DBG = 3 };

/* Opens PATH for appending (NULL: stderr) and sets the verbosity.
 * Returns 0 or -errno.  Call once, from main, before any other thread. */
int fl_log_open(const char *path, int level);

/* Current verbosity; cheap, for guarding expensive debug work. */
int fl_log_level(void);

/* The log fd, so a daemon can keep it across its stdio redirection. */
int fl_log_fd(void);

/* Writes one line: "<time> <lvl> <obj>: <fmt>".  OBJ may be NULL. */
void fl_log(int level, const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define fl_err(obj, ...)  fl_log(FL_LOG_ERR, obj, __VA_ARGS__)
#define fl_warn(obj, ...) fl_log(FL_LOG_WARN, obj, __VA_ARGS__)
#define fl_info(obj, ...) fl_log(FL_LOG_INFO, obj, __VA_ARGS__)
#define fl_dbg(obj, ...)                                   \
	do {                                               \
		if (fl_log_level() >= FL_LOG_DBG)          \
			fl_log(FL_LOG_DBG, obj, __VA_ARGS__); \
	} while (0)

#endif
