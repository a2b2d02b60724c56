/* The certificate chain and key are kept as bytes under a lock; each
 * handshake gets its own parsed copies, which GnuTLS frees when the session
 * is done with them (GNUTLS_CERT_RETR_DEINIT_ALL). A reload thus swaps the
 * bytes while handshakes go on, never frees what a session still uses, and
 * leaves the listening socket alone. */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"
#include "tlscert.h"

#define TLS_FILE_MAX ((size_t)1 << 20)
#define CHAIN_MAX 16

struct creds {
	gnutls_datum_t certs[CHAIN_MAX]; /* DER */
	unsigned ncerts;
	gnutls_datum_t key; /* as read (PEM or DER) */
	gnutls_x509_crt_fmt_t key_fmt;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct creds *current;

static void creds_free(struct creds *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->ncerts; i++)
		gnutls_free(c->certs[i].data);
	if (c->key.data) {
		memset(c->key.data, 0, c->key.size);
		free(c->key.data);
	}
	free(c);
}

/* Reads a certificate or key file (PEM or DER) into out, in memory of our
 * own that creds_free() wipes. Not fsutil's read_file(): the buffer it grows
 * may be moved by realloc, leaving copies of a key behind that nothing wipes.
 * 0, or -1 after logging why. */
static int load_cred_file(const char *path, gnutls_datum_t *out)
{
	gnutls_datum_t d = {NULL, 0};
	int rc = gnutls_load_file(path, &d);
	if (rc < 0) {
		log_error("cannot read %s: %s", path, gnutls_strerror(rc));
		return -1;
	}
	if (d.size == 0 || d.size > TLS_FILE_MAX) {
		log_error("%s: %s", path, d.size ? "larger than 1 MiB" : "empty");
		gnutls_free(d.data);
		return -1;
	}
	/* Our own copy, so that the key can be wiped before it is freed. */
	out->data = malloc(d.size);
	if (!out->data) {
		gnutls_free(d.data);
		log_error("out of memory");
		return -1;
	}
	memcpy(out->data, d.data, d.size);
	out->size = d.size;
	memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return 0;
}

/* Parsed copies of c, for one handshake. */
static int creds_import(const struct creds *c, gnutls_pcert_st **pcerts, gnutls_privkey_t *key)
{
	gnutls_pcert_st *p = gnutls_calloc(c->ncerts, sizeof *p);
	if (!p)
		return GNUTLS_E_MEMORY_ERROR;
	unsigned done = 0;
	int rc = 0;
	for (; done < c->ncerts; done++) {
		rc =
		    gnutls_pcert_import_x509_raw(&p[done], &c->certs[done], GNUTLS_X509_FMT_DER, 0);
		if (rc < 0)
			break;
	}
	gnutls_privkey_t k = NULL;
	if (rc >= 0 && (rc = gnutls_privkey_init(&k)) >= 0) {
		rc = gnutls_privkey_import_x509_raw(k, &c->key, c->key_fmt, NULL, 0);
		if (rc < 0)
			gnutls_privkey_deinit(k);
	}
	if (rc < 0) {
		for (unsigned i = 0; i < done; i++)
			gnutls_pcert_deinit(&p[i]);
		gnutls_free(p);
		return rc;
	}
	*pcerts = p;
	*key = k;
	return 0;
}

/* The key is the private half of the first certificate's. 0 or -1. */
static int key_matches(const gnutls_pcert_st *p, gnutls_privkey_t k)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
	int ok = gnutls_pubkey_init(&pub) >= 0 && gnutls_pubkey_import_privkey(pub, k, 0, 0) >= 0 &&
		 gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
		 gnutls_pubkey_export2(p[0].pubkey, GNUTLS_X509_FMT_DER, &b) >= 0 &&
		 a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return ok ? 0 : -1;
}

int tlscert_load(const char *cert_file, const char *key_file)
{
	struct creds *c = calloc(1, sizeof *c);
	gnutls_datum_t chain = {NULL, 0};
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrts = 0;
	if (!c || load_cred_file(cert_file, &chain) < 0 || load_cred_file(key_file, &c->key) < 0)
		goto fail;
	int pem = memmem(chain.data, chain.size, "-----BEGIN", 10) != NULL;
	int rc = gnutls_x509_crt_list_import2(&crts, &ncrts, &chain,
					      pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0);
	if (rc < 0 || ncrts == 0) {
		log_error("%s: not a certificate: %s", cert_file,
			  rc < 0 ? gnutls_strerror(rc) : "none found");
		goto fail;
	}
	if (ncrts > CHAIN_MAX) {
		log_error("%s: more than %d certificates", cert_file, CHAIN_MAX);
		goto fail;
	}
	for (unsigned i = 0; i < ncrts; i++) {
		rc = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &c->certs[i]);
		if (rc < 0) {
			log_error("%s: %s", cert_file, gnutls_strerror(rc));
			goto fail;
		}
		c->ncerts++;
	}
	c->key_fmt = memmem(c->key.data, c->key.size, "-----BEGIN", 10) ? GNUTLS_X509_FMT_PEM
									: GNUTLS_X509_FMT_DER;
	/* A trial handshake's worth: both parse, and the key is the
	 * certificate's. */
	gnutls_pcert_st *p;
	gnutls_privkey_t k;
	rc = creds_import(c, &p, &k);
	if (rc < 0) {
		log_error("%s, %s: %s", cert_file, key_file, gnutls_strerror(rc));
		goto fail;
	}
	rc = key_matches(p, k);
	for (unsigned i = 0; i < c->ncerts; i++)
		gnutls_pcert_deinit(&p[i]);
	gnutls_free(p);
	gnutls_privkey_deinit(k);
	if (rc < 0) {
		log_error("%s does not go with %s", key_file, cert_file);
		goto fail;
	}
	for (unsigned i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	free(chain.data);
	pthread_rwlock_wrlock(&lock);
	struct creds *old = current;
	current = c;
	pthread_rwlock_unlock(&lock);
	creds_free(old);
	return 0;
fail:
	for (unsigned i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	free(chain.data);
	creds_free(c);
	return -1;
}

static int retrieve(gnutls_session_t s, const struct gnutls_cert_retr_st *info,
		    gnutls_pcert_st **certs, unsigned int *certs_length, gnutls_ocsp_data_st **ocsp,
		    unsigned int *ocsp_length, gnutls_privkey_t *privkey, unsigned int *flags)
{
	(void)s;
	(void)info;
	*ocsp = NULL;
	*ocsp_length = 0;
	pthread_rwlock_rdlock(&lock);
	int rc =
	    current ? creds_import(current, certs, privkey) : GNUTLS_E_INSUFFICIENT_CREDENTIALS;
	unsigned n = current ? current->ncerts : 0;
	pthread_rwlock_unlock(&lock);
	if (rc < 0)
		return -1;
	*certs_length = n;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;
}

void *tlscert_callback(void)
{
	return (void *)(uintptr_t)retrieve;
}

void tlscert_free(void)
{
	pthread_rwlock_wrlock(&lock);
	creds_free(current);
	current = NULL;
	pthread_rwlock_unlock(&lock);
}
