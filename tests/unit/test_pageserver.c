/* SPDX-License-Identifier: MIT */
/* The page server against bad input: each case opens a good session, then a
 * bad one; the bad one must be closed with a clear log line while the good
 * one keeps being served, byte for byte.  A real server process, real TLS. */
#include <check.h>
#include <sys/socket.h>

#include "tests/unit/helpers.h"
#include "tests/unit/ps_harness.h"
#include "tests/unit/suites.h"

struct bad_case {
	const char *name;
	int tls;
	const char *who;        /* client certificate */
	enum xport_proto_ver ver;
	void (*send_bad)(struct t_cli *c);
	const char *log;        /* what the server must say */
};

static void send_short(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_send(c, "\x07\x00\x00\x00\x01", 5), 0);
	shutdown(c->fd, SHUT_WR); /* EOF mid-header (plain TCP only) */
}

static void send_junk(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
}

static void send_unknown_cmd(struct t_cli *c)
{
	t_cli_get_ok(c, T_PS_LAZY2, 1); /* a valid first header fixes the layout */
	ck_assert_int_eq(t_cli_hdr(c, 0x99, 1, T_PS_LAZY2, T_PS_PID), 0);
}

static void send_precopy_cmd(struct t_cli *c)
{
	t_cli_get_ok(c, T_PS_LAZY2, 1);
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_OPEN2, 0, 0, (1 << 8) | 1), 0);
}

static void send_outside(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_GET, 1, 0x900000, T_PS_PID), 0);
}

static void send_not_lazy(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_GET, 1, T_PS_EAGER, T_PS_PID), 0);
}

static void send_unknown_pid(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_GET, 1, T_PS_LAZY1, 4242), 0);
}

static void send_past_run(struct t_cli *c)
{
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_GET, 17, T_PS_LAZY1, T_PS_PID), 0);
}

static void send_nothing(struct t_cli *c)
{
	(void)c; /* the handshake itself is the bad input */
}

static const struct bad_case cases[] = {
	{ "short header", 0, "client", XPORT_PROTO_42, send_short, "short header" },
	{ "malformed header", 1, "client", XPORT_PROTO_42, send_junk, "neither a CRIU 4.1 nor" },
	{ "unknown command", 1, "client", XPORT_PROTO_42, send_unknown_cmd, "unknown command 0x99" },
	{ "unsupported command", 0, "client", XPORT_PROTO_41, send_precopy_cmd,
	  "unsupported command OPEN2" },
	{ "outside every entry", 1, "client", XPORT_PROTO_41, send_outside,
	  "outside every pagemap entry" },
	{ "non-lazy pages", 1, "client", XPORT_PROTO_42, send_not_lazy, "not lazy" },
	{ "unknown pid", 1, "client", XPORT_PROTO_42, send_unknown_pid, "unknown pid 4242" },
	{ "count past the run", 1, "client", XPORT_PROTO_42, send_past_run,
	  "past the end of the lazy run" },
	{ "no client certificate", 1, "none", XPORT_PROTO_42, send_nothing, "TLS handshake failed" },
	{ "certificate from another CA", 1, "other", XPORT_PROTO_42, send_nothing,
	  "certificate verify failed" },
};

START_TEST(bad_input_closes_only_its_connection)
{
	const struct bad_case *bc = &cases[_i];
	struct t_ps ps;
	struct t_cli good, bad;

	t_ps_start(&ps, bc->tls, NULL);
	ck_assert_int_eq(t_cli_open(&good, &ps, "client", XPORT_PROTO_42), 0);
	t_cli_get_ok(&good, T_PS_LAZY1, 4);
	if (t_cli_open(&bad, &ps, bc->who, bc->ver) == 0) {
		ck_assert_msg(!strcmp(bc->who, "client"), "%s: a bad certificate was accepted",
			      bc->name);
		bc->send_bad(&bad);
		ck_assert_msg(t_cli_closed(&bad), "%s: the server kept the connection", bc->name);
		t_cli_close(&bad);
	}
	ck_assert_msg(t_ps_log_has(&ps, bc->log), "%s: log lacks \"%s\"", bc->name, bc->log);
	/* The other client is still served, and a new one is welcome. */
	t_cli_get_ok(&good, T_PS_LAZY1 + 4 * 4096, 12);
	t_cli_get_ok(&good, T_PS_LAZY2, 2);
	t_cli_close_ok(&good);
	t_cli_close(&good);
	ck_assert_int_eq(t_cli_open(&good, &ps, "client", XPORT_PROTO_41), 0);
	t_cli_get_ok(&good, T_PS_LAZY1, 16);
	t_cli_close(&good);
	ck_assert_int_eq(t_ps_stop(&ps), 0);
	t_ps_cleanup(&ps);
}
END_TEST

START_TEST(many_clients_at_once_and_repeated_gets)
{
	struct t_cli c[4];
	struct t_ps ps;

	t_ps_start(&ps, 1, NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(t_cli_open(&c[i], &ps, "client", i & 1 ? XPORT_PROTO_41
									 : XPORT_PROTO_42), 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 4; i++)
			t_cli_get_ok(&c[i], T_PS_LAZY1 + (uint64_t)(i + round) * 4096, 8);
	for (int i = 0; i < 4; i++) {
		t_cli_close_ok(&c[i]);
		t_cli_close(&c[i]);
	}
	ck_assert(t_ps_log_has(&ps, "CRIU 4.1 page-server protocol"));
	ck_assert(t_ps_log_has(&ps, "CRIU 4.2+ page-server protocol"));
	ck_assert_int_eq(t_ps_stop(&ps), 0);
	ck_assert(t_ps_log_has(&ps, "stopped: 4 sessions (0 failed)"));
	t_ps_cleanup(&ps);
}
END_TEST

START_TEST(pipelined_gets_answered_in_order)
{
	static const uint64_t at[] = { T_PS_LAZY2, T_PS_LAZY1, T_PS_LAZY1 + 15 * 4096 };
	static const uint64_t nr[] = { 2, 16, 1 };
	struct t_cli c;
	struct t_ps ps;

	t_ps_start(&ps, 1, NULL);
	ck_assert_int_eq(t_cli_open(&c, &ps, "client", XPORT_PROTO_42), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(t_cli_hdr(&c, XPORT_CMD_GET, nr[i], at[i], T_PS_PID), 0);
	for (int i = 0; i < 3; i++) {
		uint8_t hdr[32], page[16 * 4096];
		struct xport_msg m;

		ck_assert_int_eq(t_cli_recv(&c, hdr, 32), 0);
		ck_assert_int_eq(xport_hdr_decode(XPORT_PROTO_42, hdr, 32, &m), 0);
		ck_assert_uint_eq(m.vaddr, at[i]);
		ck_assert_uint_eq(m.nr_pages, nr[i]);
		ck_assert_int_eq(t_cli_recv(&c, page, nr[i] * 4096), 0);
		ck_assert_uint_eq(page[nr[i] * 4096 - 1], t_ps_byte(at[i], nr[i] * 4096 - 1));
	}
	t_cli_close_ok(&c);
	t_cli_close(&c);
	ck_assert_int_eq(t_ps_stop(&ps), 0);
	t_ps_cleanup(&ps);
}
END_TEST

START_TEST(ipv6_with_name_check)
{
	struct t_cli c;
	struct t_ps ps;

	t_ps_start_at(&ps, 1, "::1", NULL);
	ck_assert_int_eq(t_cli_open(&c, &ps, "client", XPORT_PROTO_42), 0);
	t_cli_get_ok(&c, T_PS_LAZY1, 16);
	t_cli_close_ok(&c);
	t_cli_close(&c);
	ck_assert(t_ps_log_has(&ps, "listening on ::1 port"));
	ck_assert_int_eq(t_ps_stop(&ps), 0);
	t_ps_cleanup(&ps);
}
END_TEST

START_TEST(once_exits_after_first_client)
{
	static const char *const once[] = { "--once", NULL };
	struct t_cli c;
	struct t_ps ps;

	t_ps_start(&ps, 0, once);
	ck_assert_int_eq(t_cli_open(&c, &ps, "client", XPORT_PROTO_41), 0);
	t_cli_get_ok(&c, T_PS_LAZY1, 16);
	t_cli_close_ok(&c);
	t_cli_close(&c);
	ck_assert_int_eq(t_ps_wait(&ps), 0);
	ck_assert(t_ps_log_has(&ps, "session closed"));
	t_ps_cleanup(&ps);
}
END_TEST

Suite *pageserver_suite(void)
{
	Suite *s = suite_create("pageserver");
	TCase *bad = tcase_create("bad_input"), *serve = tcase_create("serve");

	tcase_set_timeout(bad, 60);
	tcase_set_timeout(serve, 60);
	tcase_add_loop_test(bad, bad_input_closes_only_its_connection, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(serve, many_clients_at_once_and_repeated_gets);
	tcase_add_test(serve, pipelined_gets_answered_in_order);
	tcase_add_test(serve, once_exits_after_first_client);
	tcase_add_test(serve, ipv6_with_name_check);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, serve);
	return s;
}
