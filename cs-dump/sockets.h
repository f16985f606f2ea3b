/*
 * cs-dump: unix and UDP sockets (sk-unix.c, sk-udp.c, sk-queue.c). Kept
 * apart from dump.h so that files.c needs only a few hooks.
 */
#ifndef CS_DUMP_SOCKETS_H
#define CS_DUMP_SOCKETS_H

#include <stddef.h>
#include "dump.h"

/*
 * sk_peek_queue - copy the receive queue of socket sk (our pidfd_getfd copy
 * of the target's fd) without consuming it: MSG_PEEK with SO_PEEK_OFF moved
 * along the queue (socket(7); unix since 3.9, UDP since 4.11), the
 * socket's own SO_PEEK_OFF put back after. dgram != 0 keeps one entry per
 * message with its sender's address (inet != 0: a sockaddr_in/in6);
 * otherwise the bytes go into one entry. eof0 != 0: a message of 0 bytes
 * means the end (a seqpacket socket shut down for reading says so; it
 * cannot be told from an empty message). what names the socket in errors.
 * A queued SCM_RIGHTS message is refused (the fds it would pass are closed
 * again). Appends to *q, *n. Returns 0 or -1 (logged).
 */
int sk_peek_queue(int sk, int dgram, int inet, int eof0, const char *what, SkQueueMsg ***q, size_t *n);

/* dump_unix - fill e (type FD_UNIX) for target fd, whose copy is sk. 0 or -1 (logged). */
int dump_unix(struct dump_ctx *c, int fd, FdEntry *e, int sk);

/*
 * check_unix_peers - after every fd is collected: each connected unix
 * socket's peer must be in the process, and the way to reconnect it is
 * recorded (socketpair, an accept on a listener of the process, a connect by
 * name). With tcp_close (--tcp-close), a stream or seqpacket connection
 * accepted from a listener of the process whose peer is outside it (a
 * client's) is recorded as closed by its peer instead. Refuses what cannot
 * be recreated. 0 or -1 (logged).
 */
int check_unix_peers(struct dump_ctx *c, int tcp_close);

/* dump_udp - fill e->sk for a UDP socket (target fd, copy sk). 0 or -1 (logged). */
int dump_udp(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family);

#endif
