/* SPDX-License-Identifier: MIT */
/* OpenSSL's per-thread error queue, turned into one readable line and an errno. */
#ifndef FL_XPORT_OSSL_ERR_H
#define FL_XPORT_OSSL_ERR_H

#include <stddef.h>

/* Drains the calling thread's OpenSSL error queue into BUF as its distinct
 * reasons, oldest (the root cause) first, joined by ": " ("No such file or
 * directory", "key values mismatch").  BUF is "" if the queue was empty.
 * Returns the -errno matching the oldest error: the errno OpenSSL recorded
 * for a failed system call, -ENOMEM for an allocation failure, else DFLT.
 * No locking: the queue is thread-local. */
int xport_ossl_errq(char *buf, size_t len, int dflt);

#endif
