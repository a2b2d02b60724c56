/* rum-listen: the life of each connection, for the limits MHD does not
 * enforce itself: connections per client address, the time to receive a
 * request's headers and body, the idle time between keep-alive requests and
 * the number of requests per connection. */
#ifndef RUM_LISTEN_CONNS_H
#define RUM_LISTEN_CONNS_H

#include <stddef.h>

struct MHD_Connection;
struct conn;

/* Starts the thread that cuts off connections past their deadline. */
int conns_start(void);
void conns_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION's two events. */
void conn_opened(struct MHD_Connection *c, void **socket_context);
void conn_closed(void **socket_context);
struct conn *conn_of(struct MHD_Connection *c);

/* The request line of the next request arrived (MHD's URI log callback). */
void conn_request_line(struct conn *k);
/* The headers are in (first call of the handler): the body's deadline
 * starts. -1 when the connection was cut off meanwhile. */
int conn_headers_done(struct conn *k, size_t ep);
/* The body is in: no deadline while the request is handled. -1 when cut. */
int conn_body_done(struct conn *k);
/* A response is about to be queued. -1 when the connection was cut off (the
 * caller returns MHD_NO); 1 when it is the connection's last request (the
 * response then says Connection: close); else 0. */
int conn_respond(struct conn *k);
/* The request is over (MHD's completion callback): the idle time starts. */
void conn_request_done(struct conn *k);
int conn_is_cut(const struct conn *k);
/* A connection not counted against --max-connections-per-ip when it opened
 * (from loopback) turns out to carry others' requests (a proxy's): counted
 * from now on. 1 when that puts its address past the limit, else 0. */
int conn_count_late(struct conn *k);

#endif
