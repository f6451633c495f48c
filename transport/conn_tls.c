/* SPDX-License-Identifier: MIT */
/* The TLS backend: OpenSSL over a BIO that reads ciphertext from the
 * connection's rx buffer and appends ciphertext to its out queue, so the
 * socket I/O stays on io_uring and no bytes are copied through a BIO pair. */
#include "transport/conn.h"
#include "transport/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { TLS_READ_CHUNK = 64 * 1024 };

static int bio_write(BIO *bio, const char *p, int n)
{
	struct xport_conn *c = BIO_get_data(bio);

	BIO_clear_retry_flags(bio);
	if (xport_outq_append(&c->out, p, (size_t)n))
		return -1; /* BIO convention */
	return n;
}

static int bio_read(BIO *bio, char *p, int n)
{
	struct xport_conn *c = BIO_get_data(bio);
	size_t k = c->rx.len < (size_t)n ? c->rx.len : (size_t)n;

	BIO_clear_retry_flags(bio);
	if (!k) {
		if (c->eof)
			return 0;
		BIO_set_retry_read(bio);
		return -1; /* BIO convention */
	}
	memcpy(p, c->rx.data + c->rx.off, k);
	c->rx.off += k;
	c->rx.len -= k;
	if (!c->rx.len)
		c->rx.off = 0;
	return (int)k;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct xport_conn *c = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return c ? (long)c->rx.len : 0;
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

int xport_tls_bio_method(BIO_METHOD **out)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "faultline-conn");

	if (!m)
		return -ENOMEM;
	BIO_meth_set_write(m, bio_write);
	BIO_meth_set_read(m, bio_read);
	BIO_meth_set_ctrl(m, bio_ctrl);
	BIO_meth_set_create(m, bio_create);
	*out = m;
	return 0;
}

/* Maps an SSL result to 0 (progress), XPORT_AGAIN or -errno with errmsg set. */
static int ssl_result(struct xport_conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	char why[200];

	switch (e) {
	case SSL_ERROR_NONE:
		return 0;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return XPORT_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		c->eof = 1;
		return XPORT_AGAIN;
	default:
		snprintf(c->errmsg, sizeof(c->errmsg), "TLS %s failed: %s", what,
			 xport_tls_strerror(c->ssl, why, sizeof(why)));
		return -EPROTO;
	}
}

static int tls_handshake(struct xport_conn *c)
{
	int ret = SSL_do_handshake(c->ssl);

	if (ret == 1)
		return XPORT_DONE;
	ret = ssl_result(c, ret, "handshake");
	if (ret == XPORT_AGAIN && c->eof) {
		snprintf(c->errmsg, sizeof(c->errmsg), "peer closed during the TLS handshake");
		return -ECONNRESET;
	}
	return ret ? ret : XPORT_AGAIN;
}

static int tls_ingest(struct xport_conn *c)
{
	for (;;) {
		if (xport_buf_reserve(&c->in, TLS_READ_CHUNK))
			return -ENOMEM;
		struct xport_buf *b = &c->in;
		int n = SSL_read(c->ssl, b->data + b->off + b->len, (int)(b->cap - b->off - b->len));
		if (n > 0) {
			b->len += n;
			continue;
		}
		n = ssl_result(c, n, "read");
		return n < 0 ? n : XPORT_DONE;
	}
}

static void *tls_wbuf(struct xport_conn *c, size_t n)
{
	if (c->scratch_cap < n) {
		uint8_t *p = realloc(c->scratch, n);
		if (!p)
			return NULL;
		c->scratch = p;
		c->scratch_cap = n;
	}
	return c->scratch;
}

static int tls_commit(struct xport_conn *c, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t written = 0;
		int ret = SSL_write_ex(c->ssl, c->scratch + done, n - done, &written);
		if (ret <= 0) {
			ret = ssl_result(c, ret, "write");
			return ret < 0 ? ret : -EIO;
		}
		done += written;
	}
	return 0;
}

static int tls_shutdown(struct xport_conn *c)
{
	int ret = SSL_shutdown(c->ssl);

	return ret < 0 && ssl_result(c, ret, "shutdown") < 0 ? -EPROTO : 0;
}

static void tls_release(struct xport_conn *c)
{
	SSL_free(c->ssl); /* frees the BIO too */
	c->ssl = NULL;
}

const struct xport_ops xport_tls_ops = {
	.handshake = tls_handshake,
	.ingest = tls_ingest,
	.wbuf = tls_wbuf,
	.commit = tls_commit,
	.shutdown = tls_shutdown,
	.release = tls_release,
};

int xport_tls_conn_setup(struct xport_conn *c)
{
	BIO *bio;

	c->ssl = SSL_new(c->ep->tls);
	if (!c->ssl)
		return -ENOMEM;
	bio = BIO_new(c->ep->bio);
	if (!bio) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -ENOMEM;
	}
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	if (c->ep->server) {
		SSL_set_accept_state(c->ssl);
		return 0;
	}
	SSL_set_connect_state(c->ssl);
	/* The client speaks first: queue the ClientHello for the first pump. */
	int ret = tls_handshake(c);
	return ret < 0 ? ret : 0;
}
