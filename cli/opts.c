/* SPDX-License-Identifier: MIT */
#include "cli/opts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

void cli_common_init(struct cli_common *o)
{
	memset(o, 0, sizeof(*o));
	o->port = -1;
	o->tls = 1;
	o->status_fd = -1;
	o->verbosity = FL_LOG_INFO;
	o->proto = XPORT_PROTO_AUTO;
}

static int parse_long(const char *arg, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *join(const char *dir, const char *file)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
}

static int set_version(struct cli_common *o, const char *arg)
{
	if (!strcmp(arg, "auto"))
		o->proto = XPORT_PROTO_AUTO;
	else if (!strcmp(arg, "4.1"))
		o->proto = XPORT_PROTO_41;
	else if (!strcmp(arg, "4.2"))
		o->proto = XPORT_PROTO_42;
	else {
		fprintf(stderr, "--criu-version: expected auto, 4.1 or 4.2, not '%s'\n", arg);
		return -EINVAL;
	}
	return 0;
}

int cli_common_opt(struct cli_common *o, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case 'D': o->images_dir = arg; return 1;
	case 'o': o->log_file = arg; return 1;
	case 'v': o->verbosity++; return 1;
	case 'd': o->daemon = 1; return 1;
	case CLI_OPT_ADDRESS: o->address = arg; return 1;
	case CLI_OPT_TLS: o->tls = 1; return 1;
	case CLI_OPT_NO_TLS: o->tls = 0; return 1;
	case CLI_OPT_CACERT: o->cacert = arg; return 1;
	case CLI_OPT_CERT: o->cert = arg; return 1;
	case CLI_OPT_KEY: o->key = arg; return 1;
	case CLI_OPT_NO_CN: o->no_cn_verify = 1; return 1;
	case CLI_OPT_PIDFILE: o->pidfile = arg; return 1;
	case CLI_OPT_CRIU_VERSION: return set_version(o, arg) ? -EINVAL : 1;
	case CLI_OPT_PKI: o->pki_dir = arg; return 1;
	case CLI_OPT_PORT:
		if (parse_long(arg, 0, 65535, &v)) {
			fprintf(stderr, "--port: '%s' is not a port number (0-65535)\n", arg);
			return -EINVAL;
		}
		o->port = v;
		return 1;
	case CLI_OPT_STATUS_FD:
		if (parse_long(arg, 0, 1 << 20, &v) || fcntl((int)v, F_GETFD) < 0) {
			fprintf(stderr, "--status-fd: '%s' is not an open file descriptor\n", arg);
			return -EINVAL;
		}
		o->status_fd = (int)v;
		return 1;
	default:
		return 0;
	}
}

int cli_common_check(struct cli_common *o, const char *prog)
{
	int server = !strcmp(prog, "page-server");

	if (o->port < 0) {
		fprintf(stderr, "%s: --port is required (0 picks a free port)\n", prog);
		return -EINVAL;
	}
	if (!o->tls)
		return 0;
	if (o->pki_dir) {
		/* The files `faultline pki init` writes; explicit flags win. */
		o->cacert = o->cacert ? o->cacert : join(o->pki_dir, "ca.pem");
		o->cert = o->cert ? o->cert : join(o->pki_dir, server ? "server.pem" : "client.pem");
		o->key = o->key ? o->key : join(o->pki_dir, server ? "server.key" : "client.key");
	}
	if (!o->cacert || !o->cert || !o->key) {
		fprintf(stderr,
			"%s: TLS with client certificates is the default, and it needs --tls-cacert,\n"
			"  --tls-cert and --tls-key (or --pki DIR from `faultline pki init DIR`).\n"
			"  Use --no-tls only for CRIU peers that run without --tls.\n", prog);
		return -EINVAL;
	}
	return 0;
}

int cli_tls_ctx(const struct cli_common *o, enum xport_tls_role role, const char *verify_name,
		SSL_CTX **out)
{
	struct xport_tls_cfg cfg = { .cacert = o->cacert, .cert = o->cert, .key = o->key,
				     .verify_name = verify_name, .no_cn_verify = o->no_cn_verify };
	char msg[512];
	int err = 0;

	*out = NULL;
	if (!o->tls)
		return 0;
	*out = xport_tls_ctx_new(role, &cfg, &err, msg, sizeof(msg));
	if (!*out) {
		fprintf(stderr, "TLS setup failed: %s\n", msg);
		return err ? err : -EINVAL;
	}
	return 0;
}

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int fd, n, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, n) != n)
		ret = -EIO;
	close(fd);
	return ret;
}

int cli_daemonize(const struct cli_common *o)
{
	pid_t pid;
	int ret, null;

	if (!o->daemon)
		return o->pidfile ? write_pidfile(o->pidfile, getpid()) : 0;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		ret = o->pidfile ? write_pidfile(o->pidfile, pid) : 0;
		if (ret)
			fprintf(stderr, "cannot write pidfile %s: %s\n", o->pidfile, strerror(-ret));
		_exit(ret ? 1 : 0);
	}
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (fl_log_fd() != 2)
			dup2(null, 2);
		close(null);
	}
	return 0;
}

void cli_signal_ready(struct cli_common *o)
{
	char zero = 0;

	if (o->status_fd < 0)
		return;
	if (write(o->status_fd, &zero, 1) != 1)
		fl_warn(NULL, "cannot write to --status-fd %d", o->status_fd);
	close(o->status_fd);
	o->status_fd = -1;
}
