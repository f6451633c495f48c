/* SPDX-License-Identifier: MIT */
/* Flags shared by the daemons (page-server, lazy-pages), spelled like CRIU's,
 * and the daemon plumbing behind them: log, pidfile, status fd, -d. */
#ifndef FL_CLI_OPTS_H
#define FL_CLI_OPTS_H

#include <getopt.h>
#include <openssl/ssl.h>

#include "transport/proto.h"
#include "transport/tls.h"

struct cli_common {
	const char *images_dir;
	const char *address;
	long port;           /* -1: not given */
	int tls;             /* on by default */
	int no_cn_verify;
	const char *cacert, *cert, *key;
	const char *pki_dir;  /* --pki: defaults for the three above */
	const char *log_file;
	int verbosity;
	const char *pidfile;
	int status_fd;       /* -1: none */
	int daemon;
	enum xport_proto_ver proto;
};

enum cli_opt {
	CLI_OPT_ADDRESS = 0x100, CLI_OPT_PORT, CLI_OPT_TLS, CLI_OPT_NO_TLS, CLI_OPT_CACERT,
	CLI_OPT_CERT, CLI_OPT_KEY, CLI_OPT_NO_CN, CLI_OPT_PKI, CLI_OPT_PIDFILE,
	CLI_OPT_STATUS_FD, CLI_OPT_CRIU_VERSION, CLI_OPT_FIRST_FREE,
};

/* The long options every daemon takes; splice into a getopt_long table. */
#define CLI_COMMON_LONGOPTS                                                   \
	{ "images-dir", required_argument, NULL, 'D' },                       \
	{ "address", required_argument, NULL, CLI_OPT_ADDRESS },              \
	{ "port", required_argument, NULL, CLI_OPT_PORT },                    \
	{ "tls", no_argument, NULL, CLI_OPT_TLS },                            \
	{ "no-tls", no_argument, NULL, CLI_OPT_NO_TLS },                      \
	{ "tls-cacert", required_argument, NULL, CLI_OPT_CACERT },            \
	{ "tls-cert", required_argument, NULL, CLI_OPT_CERT },                \
	{ "tls-key", required_argument, NULL, CLI_OPT_KEY },                  \
	{ "tls-no-cn-verify", no_argument, NULL, CLI_OPT_NO_CN },             \
	{ "pki", required_argument, NULL, CLI_OPT_PKI },                      \
	{ "log-file", required_argument, NULL, 'o' },                         \
	{ "pidfile", required_argument, NULL, CLI_OPT_PIDFILE },              \
	{ "status-fd", required_argument, NULL, CLI_OPT_STATUS_FD },          \
	{ "daemon", no_argument, NULL, 'd' },                                 \
	{ "criu-version", required_argument, NULL, CLI_OPT_CRIU_VERSION }
#define CLI_COMMON_SHORTOPTS "D:o:vd"

void cli_common_init(struct cli_common *o);

/* Applies option OPT with argument ARG.  Returns 1 if it was a common
 * option, 0 if not, -EINVAL (after printing why) if its argument is bad. */
int cli_common_opt(struct cli_common *o, int opt, const char *arg);

/* Checks the combination (TLS files present, port given, ...), printing
 * what is wrong.  PROG "page-server" takes server.pem from --pki DIR, any
 * other client.pem.  Returns 0 or -EINVAL. */
int cli_common_check(struct cli_common *o, const char *prog);

/* Builds the SSL_CTX for ROLE from the TLS flags, or NULL for --no-tls.
 * VERIFY_NAME is the address the peer's certificate must match.  Prints the
 * reason and returns -errno on failure. */
int cli_tls_ctx(const struct cli_common *o, enum xport_tls_role role, const char *verify_name,
		SSL_CTX **out);

/* -d: forks; the parent writes the pidfile and exits 0, the child detaches
 * (setsid, stdio to /dev/null) and returns 0.  Without -d only writes the
 * pidfile.  Returns 0 or -errno. */
int cli_daemonize(const struct cli_common *o);

/* Tells --status-fd that we are ready (one '\0' byte, then close). */
void cli_signal_ready(struct cli_common *o);

#endif
