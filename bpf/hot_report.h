/* SPDX-License-Identifier: MIT */
/* `faultline probe hotness` output: a table or JSON lines on stdout, the
 * summary, and the --map / --pages files. */
#ifndef FL_BPF_HOT_REPORT_H
#define FL_BPF_HOT_REPORT_H

#include "bpf/hot_run.h"

/* The table's header, or the JSON "start" line. */
void probe_hot_print_start(const struct hot_ctx *c);

/* One round: a table row, or a JSON "round" line.  Flushes stdout. */
void probe_hot_print_round(const struct hot_ctx *c, const struct hot_round *r);

/* The summary after probe_hot_finish(): text, or a JSON "summary" line. */
void probe_hot_print_summary(const struct hot_ctx *c);

/* Writes --map and --pages (each to a temporary file renamed into place).
 * Prints why on failure and returns -errno; 0 when done or not asked for. */
int probe_hot_write_files(const struct hot_ctx *c);

#endif
