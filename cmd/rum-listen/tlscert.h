/* rum-listen: the TLS certificate and key (--tls-cert, --tls-key), read at
 * start and again on SIGHUP; handshakes take whichever is current. */
#ifndef RUM_LISTEN_TLSCERT_H
#define RUM_LISTEN_TLSCERT_H

/* Reads and checks both files. 0, or -1 with the reason logged (a reload
 * that fails keeps the certificate in use). */
int tlscert_load(const char *cert_file, const char *key_file);
/* For MHD_OPTION_HTTPS_CERT_CALLBACK2. */
void *tlscert_callback(void);
void tlscert_free(void);

#endif
