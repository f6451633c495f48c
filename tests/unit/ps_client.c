/* SPDX-License-Identifier: MIT */
/* The blocking page-server test client of ps_harness.h. */
#include "tests/unit/ps_harness.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/unit/helpers.h"
#include "tests/unit/tls_pair.h"
#include "transport/net.h"

static SSL_CTX *client_ctx(const struct t_ps *ps, const char *who)
{
	char pki[96], other[96];

	snprintf(pki, sizeof(pki), "%s/pki", ps->dir);
	snprintf(other, sizeof(other), "%s/other", ps->dir);
	if (!strcmp(who, "none"))
		return t_tls_ctx_nocert(pki);
	return t_tls_ctx(XPORT_TLS_CLIENT, pki, strcmp(who, "other") ? pki : other, "client",
			 ps->addr, 0);
}

int t_cli_open(struct t_cli *c, const struct t_ps *ps, const char *who, enum xport_proto_ver ver)
{
	struct timeval tv = { .tv_sec = 5 };

	memset(c, 0, sizeof(*c));
	c->ver = ver;
	t_die_if(xport_connect(ps->addr, (uint16_t)ps->port, &c->fd));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!ps->tls)
		return 0;
	c->ctx = client_ctx(ps, who);
	c->ssl = SSL_new(c->ctx);
	t_die_if(!c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1)
		goto err_close;
	/* TLS 1.3: a rejected client certificate only shows on the first read. */
	if (strcmp(who, "client") && t_cli_closed(c))
		goto err_close;
	return 0;

err_close:
	t_cli_close(c);
	return -1;
}

void t_cli_close(struct t_cli *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	if (c->fd > 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int t_cli_send(struct t_cli *c, const void *p, size_t n)
{
	if (c->ssl) {
		size_t w;
		/* One SSL_write per message: headers travel in their own record. */
		return SSL_write_ex(c->ssl, p, n, &w) == 1 && w == n ? 0 : -1;
	}
	return send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

int t_cli_recv(struct t_cli *c, void *p, size_t n)
{
	uint8_t *dst = p;

	while (n) {
		ssize_t k;
		if (c->ssl) {
			size_t got = 0;
			k = SSL_read_ex(c->ssl, dst, n, &got) == 1 ? (ssize_t)got : -1;
		} else {
			k = recv(c->fd, dst, n, 0);
		}
		if (k <= 0)
			return -1;
		dst += k;
		n -= (size_t)k;
	}
	return 0;
}

int t_cli_hdr(struct t_cli *c, unsigned cmd, uint64_t nr, uint64_t vaddr, uint64_t id)
{
	struct xport_msg m = { .cmd = cmd & 0xffff, .flags = cmd >> 16, .nr_pages = nr,
			       .vaddr = vaddr, .dst_id = id };
	uint8_t buf[XPORT_HDR_MAX];
	int n = xport_hdr_encode(c->ver, &m, buf, sizeof(buf));

	return n < 0 ? -1 : t_cli_send(c, buf, (size_t)n);
}

void t_cli_get_ok(struct t_cli *c, uint64_t vaddr, uint64_t nr)
{
	uint8_t hdr[XPORT_HDR_MAX], *data = malloc(nr * 4096);
	size_t hs = xport_hdr_size(c->ver);
	struct xport_msg m;

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_GET, nr, vaddr, T_PS_PID), 0);
	ck_assert_msg(t_cli_recv(c, hdr, hs) == 0, "no reply to GET 0x%llx x%llu",
		      (unsigned long long)vaddr, (unsigned long long)nr);
	ck_assert_int_eq(xport_hdr_decode(c->ver, hdr, hs, &m), 0);
	ck_assert_uint_eq(m.cmd, XPORT_CMD_ADD_F);
	ck_assert_uint_eq(m.flags, XPORT_PE_PRESENT);
	ck_assert_uint_eq(m.nr_pages, nr);
	ck_assert_uint_eq(m.vaddr, vaddr);
	ck_assert_uint_eq(m.dst_id, T_PS_PID);
	ck_assert_int_eq(t_cli_recv(c, data, nr * 4096), 0);
	for (size_t off = 0; off < nr * 4096; off++)
		ck_assert_msg(data[off] == t_ps_byte(vaddr, off), "byte %zu of GET 0x%llx differs",
			      off, (unsigned long long)vaddr);
	free(data);
}

void t_cli_close_ok(struct t_cli *c)
{
	int32_t status = -1;

	ck_assert_int_eq(t_cli_hdr(c, XPORT_CMD_CLOSE, 0, 0, 0), 0);
	ck_assert_int_eq(t_cli_recv(c, &status, sizeof(status)), 0);
	ck_assert_int_eq(status, 0);
}

int t_cli_closed(struct t_cli *c)
{
	uint8_t b;

	if (c->ssl) {
		size_t got;
		if (SSL_read_ex(c->ssl, &b, 1, &got) == 1)
			return 0;
		int e = SSL_get_error(c->ssl, 0);
		return !(e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	ssize_t n = recv(c->fd, &b, 1, 0);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}
