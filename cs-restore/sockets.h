/*
 * cs-restore: unix and UDP sockets (sk-unix.c, sk-udp.c). Kept apart from
 * restore.h so that files.c needs only a few hooks.
 */
#ifndef CS_RESTORE_SOCKETS_H
#define CS_RESTORE_SOCKETS_H

#include <stddef.h>
#include "restore.h"

/*
 * check_unix - check phase for unix socket entry e: its own path name can
 * be bound again (nothing there, or a socket file no live socket is bound
 * to, which the restore unlinks), its abstract name is free. 0 or -1 (logged).
 */
int check_unix(struct rst_ctx *c, const FdEntry *e);

/*
 * unix_make_all - in the stub: create every unix socket of c at once (pairs,
 * accepted connections and datagram peers need each other), bound, listening,
 * connected, queues refilled, shut down and optioned as saved. Each socket
 * goes to tmp[i] (an fd >= tmp_min, close-on-exec) for its entry i. Returns
 * 0, or -1 with a message in err.
 */
int unix_make_all(struct rst_ctx *c, int *tmp, int tmp_min, char *err, size_t len);

/* check_udp - check phase for a UDP socket: its port can be bound again. 0 or -1 (logged). */
int check_udp(const FdEntry *e);

/*
 * udp_make - in the stub: a UDP socket bound, its queued datagrams sent to it
 * again from their senders' addresses (a raw socket, CAP_NET_RAW), then
 * connected. Returns the fd, or -1 with a message in err.
 */
int udp_make(const FdEntry *e, char *err, size_t len);

#endif
