/* SPDX-License-Identifier: MIT */
/* `faultline pki init DIR`: the command-line face of transport/pki.c. */
#include "cli/cli.h"
#include "transport/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { EXIT_USAGE = 2, PKI_DAYS_DEFAULT = 825, PKI_DAYS_MAX = 36500 };
enum { OPT_IP = 256, OPT_DNS, OPT_DAYS, OPT_FORCE };

static const char pki_help[] =
	"NAME\n"
	"    faultline pki - create the certificates for TLS between faultline and CRIU\n"
	"\n"
	"SYNOPSIS\n"
	"    faultline pki init DIR [--ip ADDR]... [--dns NAME]... [--days N] [--force]\n"
	"    faultline pki -h | --help\n"
	"\n"
	"DESCRIPTION\n"
	"    Creates a private CA and a server and a client certificate signed by it,\n"
	"    for the mutually authenticated TLS of CRIU's --tls mode. Keys are ECDSA\n"
	"    P-256. Both certificates carry the subject alternative names 127.0.0.1,\n"
	"    ::1 and localhost plus those given with --ip and --dns, and both are\n"
	"    valid for TLS server and client authentication: CRIU checks the peer's\n"
	"    certificate against the page server's --address on BOTH ends, so list\n"
	"    that address here (or run every peer with --tls-no-cn-verify).\n"
	"    DIR is created (mode 0700) if missing. If any of the files below\n"
	"    exists, nothing is written unless --force is given. Copy ca.pem to\n"
	"    both hosts, server.* to the listening side, client.* to the other.\n"
	"\n"
	"OPTIONS\n"
	"    --ip ADDR     Add the IPv4 or IPv6 address ADDR as a SAN. Repeatable.\n"
	"    --dns NAME    Add the DNS name NAME as a SAN. Repeatable.\n"
	"    --days N      Validity in days, 1 to 36500 (default 825).\n"
	"    --force       Replace existing files in DIR.\n"
	"    -h, --help    Show this help and exit.\n"
	"\n"
	"FILES\n"
	"    DIR/ca.pem, DIR/ca.key          CA certificate (--tls-cacert) and key\n"
	"    DIR/server.pem, DIR/server.key  for the side that listens (TLS server)\n"
	"    DIR/client.pem, DIR/client.key  for the side that connects (TLS client)\n"
	"    Keys are unencrypted PKCS#8 PEM, mode 0600. ca.key is needed only to\n"
	"    issue more certificates; keep it off the migration hosts.\n"
	"\n"
	"EXIT STATUS\n"
	"    0 on success, 1 on failure, 2 on a usage error.\n"
	"\n"
	"EXAMPLES\n"
	"    faultline pki init ./pki --ip 192.0.2.10 --dns dst.example.org\n"
	"    criu lazy-pages --page-server --address 192.0.2.10 --port 27027 \\\n"
	"        --tls --tls-cacert pki/ca.pem --tls-cert pki/client.pem \\\n"
	"        --tls-key pki/client.key\n";

struct pki_args {
	struct xport_pki_req req;
	const char **ips, **dns; /* point into argv */
	int help;
};

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("faultline pki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'faultline pki --help'.\n", stderr);
	return EXIT_USAGE;
}

static int parse_days(const char *s, unsigned *days)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > PKI_DAYS_MAX)
		return usage_error("--days: '%s' is not a number of days from 1 to %d", s,
				   PKI_DAYS_MAX);
	*days = (unsigned)v;
	return 0;
}

static int is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int bad_option(char **argv, int c)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error("option '%s' needs an argument", arg);
	if (optopt)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown option '%s'", arg);
}

/* Options anywhere on the line (GNU getopt permutes ARGV). */
static int parse_options(int argc, char **argv, struct pki_args *a)
{
	const struct option longopts[] = {
		{ "ip", required_argument, NULL, OPT_IP },
		{ "dns", required_argument, NULL, OPT_DNS },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret;

	optind = 0; /* full reset: main may have run getopt already */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_IP:
			if (!is_ip(optarg))
				return usage_error("--ip: '%s' is not an IPv4 or IPv6 address", optarg);
			a->ips[a->req.nr_ips++] = optarg;
			break;
		case OPT_DNS:
			a->dns[a->req.nr_dns++] = optarg;
			break;
		case OPT_DAYS:
			ret = parse_days(optarg, &a->req.days);
			if (ret)
				return ret;
			break;
		case OPT_FORCE:
			a->req.force = 1;
			break;
		case 'h':
			a->help = 1;
			break;
		default:
			return bad_option(argv, c);
		}
	}
	return 0;
}

static int parse_operands(int argc, char **argv, struct pki_args *a)
{
	int n = argc - optind;

	if (n < 1)
		return usage_error("missing subcommand (the only one is 'init')");
	if (strcmp(argv[optind], "init"))
		return usage_error("unknown subcommand '%s' (the only one is 'init')", argv[optind]);
	if (n < 2)
		return usage_error("init: missing DIR");
	if (n > 2)
		return usage_error("init: unexpected argument '%s'", argv[optind + 2]);
	a->req.dir = argv[optind + 1];
	return 0;
}

static void print_summary(const struct pki_args *a)
{
	size_t i;

	printf("faultline pki: wrote ca.pem ca.key server.pem server.key client.pem client.key"
	       " in %s\n  SANs: 127.0.0.1 ::1 localhost", a->req.dir);
	for (i = 0; i < a->req.nr_ips; i++)
		if (strcmp(a->ips[i], "127.0.0.1") && strcmp(a->ips[i], "::1"))
			printf(" %s", a->ips[i]);
	for (i = 0; i < a->req.nr_dns; i++)
		if (strcasecmp(a->dns[i], "localhost"))
			printf(" %s", a->dns[i]);
	printf("; valid %u days\n", a->req.days ? a->req.days : PKI_DAYS_DEFAULT);
}

int cli_pki_main(int argc, char **argv)
{
	struct pki_args a = { 0 };
	char msg[512];
	int ret;

	a.ips = calloc((size_t)argc + 1, sizeof(*a.ips));
	a.dns = calloc((size_t)argc + 1, sizeof(*a.dns));
	if (!a.ips || !a.dns) {
		fprintf(stderr, "faultline pki: out of memory\n");
		ret = EXIT_FAILURE;
		goto cleanup;
	}
	ret = parse_options(argc, argv, &a);
	if (!ret && a.help) {
		fputs(pki_help, stdout);
		goto cleanup;
	}
	if (!ret)
		ret = parse_operands(argc, argv, &a);
	if (ret)
		goto cleanup;
	a.req.ips = a.ips;
	a.req.dns = a.dns;
	if (xport_pki_init(&a.req, msg, sizeof(msg))) {
		fprintf(stderr, "faultline %s\n", msg);
		ret = EXIT_FAILURE;
		goto cleanup;
	}
	print_summary(&a);
cleanup:
	free(a.ips);
	free(a.dns);
	return ret;
}
