/* Netlink sock_diag (unix_diag) through libnl: what getsockopt cannot tell. */
#ifndef CS_SOCKDIAG_H
#define CS_SOCKDIAG_H

#include <stdint.h>

/* What UNIX_DIAG tells about one unix socket (linux/unix_diag.h). */
struct unix_diag {
	uint8_t type;		/* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint8_t state;		/* TCP_LISTEN, TCP_ESTABLISHED, TCP_CLOSE */
	uint8_t shutdown;	/* RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2 */
	uint64_t ino;
	uint64_t peer;		/* peer's inode; 0: none, or the peer was closed */
	char name[108];		/* bound name, name_len bytes (abstract: name[0] == 0) */
	int name_len;		/* 0: not bound */
	int has_vfs;		/* a path name: the socket file's device and inode */
	uint64_t vfs_dev;	/* as the kernel holds it: major << 20 | minor */
	uint64_t vfs_ino;
	uint32_t rqueue;	/* listener: connections not accepted; else bytes unread */
	uint32_t wqueue;	/* listener: backlog; else bytes sent, not yet read */
	uint32_t *icons;	/* listener: inodes of the connections not accepted */
	size_t n_icons;
};

/*
 * sockdiag_unix - look up the unix socket with inode ino (a request with
 * udiag_ino and no cookie: unix_diag_get_exact in net/unix/diag.c, kernel
 * 3.3) and fill *out; out->icons is malloc'ed (free it). Returns 0, 1 when
 * the socket does not exist, -1 on a netlink error (logged).
 */
int sockdiag_unix(uint64_t ino, struct unix_diag *out);

/*
 * sockdiag_unix_bound_at - is a live unix socket bound to the file with
 * kernel device number dev (major << 20 | minor) and inode ino? Dumps every
 * unix socket of the network namespace. Returns the socket's inode, 0 when
 * none is, -1 on a netlink error (logged).
 */
int64_t sockdiag_unix_bound_at(uint64_t dev, uint64_t ino);

#endif
