/* SPDX-License-Identifier: MIT */
/* A throwaway CA and two ECDSA P-256 leaves for faultline <-> CRIU TLS.
 * Both leaves carry the same SANs and both EKUs, because CRIU checks the
 * peer's certificate against the page server's address on both ends. */
#include "transport/pki.h"
#include "transport/ossl_err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum { PKI_DEFAULT_DAYS = 825, PKI_MAX_DAYS = 36500, PKI_SERIAL_BYTES = 16 };

enum pki_file { F_CA_CRT, F_CA_KEY, F_SRV_CRT, F_SRV_KEY, F_CLI_CRT, F_CLI_KEY, F_NR };

static const char file_names[F_NR][12] = {
	[F_CA_CRT] = "ca.pem",      [F_CA_KEY] = "ca.key",
	[F_SRV_CRT] = "server.pem", [F_SRV_KEY] = "server.key",
	[F_CLI_CRT] = "client.pem", [F_CLI_KEY] = "client.key",
};

static const char builtin_ips[][10] = { "127.0.0.1", "::1" };

struct pki_ident {
	EVP_PKEY *key;
	X509 *crt;
};

struct pki_set {
	struct pki_ident ca, srv, cli;
};

/* "pki: WHAT: <OpenSSL reasons>"; crypto failures other than ENOMEM are -EIO. */
static int ossl_fail(char *msg, size_t len, const char *what)
{
	char reasons[256];
	int ret = xport_ossl_errq(reasons, sizeof(reasons), -EIO);

	snprintf(msg, len, "pki: %s%s%s", what, reasons[0] ? ": " : "", reasons);
	return ret;
}

static int is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Letters, digits, '-', '_', '.', and '*' for a wildcard label; no empty labels. */
static int is_dns_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.*", *s))
			return 0;
	return 1;
}

static int check_req(const struct xport_pki_req *req, char *msg, size_t len)
{
	size_t i;

	if (!req->dir || !req->dir[0]) {
		snprintf(msg, len, "pki: no directory given");
		return -EINVAL;
	}
	if (req->days > PKI_MAX_DAYS) {
		snprintf(msg, len, "pki: validity of %u days is over the %d-day limit", req->days,
			 PKI_MAX_DAYS);
		return -EINVAL;
	}
	for (i = 0; i < req->nr_ips; i++)
		if (!is_ip(req->ips[i])) {
			snprintf(msg, len, "pki: '%s' is not an IPv4 or IPv6 address", req->ips[i]);
			return -EINVAL;
		}
	for (i = 0; i < req->nr_dns; i++)
		if (!is_dns_name(req->dns[i])) {
			snprintf(msg, len, "pki: '%s' is not a valid DNS name", req->dns[i]);
			return -EINVAL;
		}
	return 0;
}

/* mkdir -p, the last component 0700. */
static int make_dir(const char *dir, char *msg, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	size_t n;
	char *p;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		snprintf(msg, len, "pki: directory name too long: %s", dir);
		return -ENAMETOOLONG;
	}
	for (n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
		path[n - 1] = '\0';
	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	if (stat(path, &st))
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto fail;
	}
	return 0;
fail:
	snprintf(msg, len, "pki: cannot create directory %s: %s", path, strerror(errno));
	return -errno;
}

static int path_of(char *out, size_t outlen, const char *dir, const char *prefix, const char *name)
{
	if (snprintf(out, outlen, "%s/%s%s", dir, prefix, name) >= (int)outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* Checks up front so that a refusal leaves the directory untouched. */
static int check_free(const struct xport_pki_req *req, char *msg, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int i;

	for (i = 0; i < F_NR; i++) {
		if (path_of(path, sizeof(path), req->dir, "", file_names[i]))
			continue; /* reported when writing */
		if (!lstat(path, &st)) {
			snprintf(msg, len, "pki: %s already exists; not overwriting it without --force",
				 path);
			return -EEXIST;
		}
	}
	return 0;
}

static int new_key(EVP_PKEY **key, char *msg, size_t len)
{
	*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return *key ? 0 : ossl_fail(msg, len, "cannot generate an EC P-256 key");
}

/* Random, positive, always 16 bytes long. */
static int set_serial(X509 *x)
{
	unsigned char buf[PKI_SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return 0;
	buf[0] = (buf[0] & 0x7f) | 0x40;
	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (!bn)
		return 0;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* Appends NAME (GEN_IPADD or GEN_DNS) unless an equal entry is present. */
static int push_name(GENERAL_NAMES *gens, int type, const char *name)
{
	ASN1_STRING *val = type == GEN_IPADD ? a2i_IPADDRESS(name) : ASN1_IA5STRING_new();
	GENERAL_NAME *gn;
	int i, ok = 0;

	if (!val || (type == GEN_DNS && !ASN1_STRING_set(val, name, -1)))
		goto err_free_val;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == type && (type == GEN_IPADD ? !ASN1_STRING_cmp(g->d.ip, val)
				       : !strcasecmp((char *)g->d.dNSName->data, name))) {
			ok = 1;
			goto err_free_val;
		}
	}
	gn = GENERAL_NAME_new();
	if (!gn)
		goto err_free_val;
	GENERAL_NAME_set0_value(gn, type, val);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return 0;
	}
	return 1;

err_free_val:
	ASN1_STRING_free(val);
	return ok;
}

static int add_sans(X509 *x, const struct xport_pki_req *req)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	size_t i;
	int ok = gens != NULL;

	for (i = 0; ok && i < sizeof(builtin_ips) / sizeof(builtin_ips[0]); i++)
		ok = push_name(gens, GEN_IPADD, builtin_ips[i]);
	if (ok)
		ok = push_name(gens, GEN_DNS, "localhost");
	for (i = 0; ok && i < req->nr_ips; i++)
		ok = push_name(gens, GEN_IPADD, req->ips[i]);
	for (i = 0; ok && i < req->nr_dns; i++)
		ok = push_name(gens, GEN_DNS, req->dns[i]);
	if (ok)
		ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAMES_free(gens);
	return ok;
}

static int add_ca_exts(X509 *x)
{
	return add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
	       add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
	       add_ext(x, x, NID_subject_key_identifier, "hash");
}

static int add_leaf_exts(X509 *x, X509 *issuer, const struct xport_pki_req *req)
{
	return add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
	       add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") &&
	       add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth") &&
	       add_ext(x, issuer, NID_subject_key_identifier, "hash") &&
	       add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") &&
	       add_sans(x, req);
}

/* Issues a certificate for KEY named CN, signed by CA (NULL: self-signed CA). */
static int make_cert(struct pki_ident *id, const char *cn, const struct pki_ident *ca,
		     const struct xport_pki_req *req, char *msg, size_t len)
{
	unsigned days = req->days ? req->days : PKI_DEFAULT_DAYS;
	X509 *x = X509_new();
	X509_NAME *name;
	int ok;

	ok = x && X509_set_version(x, X509_VERSION_3) && set_serial(x);
	name = ok ? X509_get_subject_name(x) : NULL;
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					      (const unsigned char *)cn, -1, -1, 0);
	ok = ok && X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->crt) : name);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL);
	ok = ok && X509_set_pubkey(x, id->key);
	ok = ok && (ca ? add_leaf_exts(x, ca->crt, req) : add_ca_exts(x));
	ok = ok && X509_sign(x, ca ? ca->key : id->key, EVP_sha256()) > 0;
	if (!ok) {
		char what[64];

		X509_free(x);
		snprintf(what, sizeof(what), "cannot issue the %s certificate", cn);
		return ossl_fail(msg, len, what);
	}
	id->crt = x;
	return 0;
}

static int make_ident(struct pki_ident *id, const char *cn, const struct pki_ident *ca,
		      const struct xport_pki_req *req, char *msg, size_t len)
{
	int ret = new_key(&id->key, msg, len);

	return ret ? ret : make_cert(id, cn, ca, req, msg, len);
}

static void free_set(struct pki_set *set)
{
	struct pki_ident *ids[] = { &set->ca, &set->srv, &set->cli };
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		X509_free(ids[i]->crt);
		EVP_PKEY_free(ids[i]->key);
	}
}

static int write_all(int fd, const char *data, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes DIR/NAME through DIR/.NAME.tmp, so a reader never sees half a file
 * and a key is never readable by others; without FORCE, link() refuses to
 * replace a file that appeared since check_free(). */
static int write_file(const struct xport_pki_req *req, const char *name, const char *data,
		      size_t n, mode_t mode, char *msg, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *what = tmp;
	int fd, ret;

	if (path_of(path, sizeof(path), req->dir, "", name) ||
	    path_of(tmp, sizeof(tmp), req->dir, ".", name) ||
	    strlen(tmp) + 4 >= sizeof(tmp)) {
		snprintf(msg, len, "pki: path too long: %s/%s", req->dir, name);
		return -ENAMETOOLONG;
	}
	strcat(tmp, ".tmp");
	unlink(tmp); /* left over by an interrupted run */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = -errno;
		goto err_out;
	}
	ret = write_all(fd, data, n);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (ret)
		goto err_unlink_tmp;
	what = path;
	if (req->force ? rename(tmp, path) : link(tmp, path)) {
		ret = -errno;
		goto err_unlink_tmp;
	}
	if (!req->force)
		unlink(tmp);
	return 0;

err_unlink_tmp:
	unlink(tmp);
err_out:
	snprintf(msg, len, "pki: cannot write %s: %s", what, strerror(-ret));
	return ret;
}

/* PEM-encodes KEY (PKCS#8, unencrypted) or CRT and writes it to DIR/NAME. */
static int write_pem(const struct xport_pki_req *req, const char *name, EVP_PKEY *key, X509 *crt,
		     char *msg, size_t len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ret, ok;

	if (!mem)
		return ossl_fail(msg, len, "cannot allocate a buffer");
	if (key)
		ok = PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_X509(mem, crt);
	n = BIO_get_mem_data(mem, &data);
	if (ok && n > 0)
		ret = write_file(req, name, data, (size_t)n, key ? 0600 : 0644, msg, len);
	else
		ret = ossl_fail(msg, len, "cannot PEM-encode");
	BIO_free(mem);
	return ret;
}

static int write_set(const struct xport_pki_req *req, struct pki_set *set, char *msg, size_t len)
{
	const struct pki_ident *ids[F_NR] = {
		[F_CA_CRT] = &set->ca,  [F_CA_KEY] = &set->ca,  [F_SRV_CRT] = &set->srv,
		[F_SRV_KEY] = &set->srv, [F_CLI_CRT] = &set->cli, [F_CLI_KEY] = &set->cli,
	};
	int i, ret = 0;

	for (i = 0; !ret && i < F_NR; i++) {
		int is_key = i == F_CA_KEY || i == F_SRV_KEY || i == F_CLI_KEY;

		ret = write_pem(req, file_names[i], is_key ? ids[i]->key : NULL,
				is_key ? NULL : ids[i]->crt, msg, len);
	}
	return ret;
}

/* "faultline CA 9f3a01c2": a CA of another `pki init` then has another name,
 * so mixing up directories reads "unable to get local issuer certificate"
 * rather than a confusing mismatch between two equally named CAs. */
static int ca_name(char *out, size_t len, char *msg, size_t msglen)
{
	unsigned char r[4];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return ossl_fail(msg, msglen, "cannot get random bytes");
	snprintf(out, len, "faultline CA %02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
	return 0;
}

int xport_pki_init(const struct xport_pki_req *req, char *msg, size_t msglen)
{
	struct pki_set set = { 0 };
	char ca_cn[32];
	int ret;

	ERR_clear_error();
	ret = check_req(req, msg, msglen);
	if (!ret)
		ret = make_dir(req->dir, msg, msglen);
	if (!ret && !req->force)
		ret = check_free(req, msg, msglen);
	if (ret)
		return ret;
	ret = ca_name(ca_cn, sizeof(ca_cn), msg, msglen);
	if (!ret)
		ret = make_ident(&set.ca, ca_cn, NULL, req, msg, msglen);
	if (!ret)
		ret = make_ident(&set.srv, "faultline-server", &set.ca, req, msg, msglen);
	if (!ret)
		ret = make_ident(&set.cli, "faultline-client", &set.ca, req, msg, msglen);
	if (!ret)
		ret = write_set(req, &set, msg, msglen);
	free_set(&set);
	return ret;
}
