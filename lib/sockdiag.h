/* Netlink sock_diag (unix_diag, netlink_diag) through libnl: what getsockopt cannot tell. */
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

/* What NETLINK_DIAG tells about one netlink socket (linux/netlink_diag.h). */
struct nl_diag {
	uint8_t type;		/* SOCK_RAW, SOCK_DGRAM */
	uint8_t protocol;	/* NETLINK_ROUTE, ... */
	uint8_t state;		/* 1 NETLINK_CONNECTED, 0 disconnected, 7 (TCP_CLOSE) never connected */
	uint32_t portid;	/* bound address, 0: not bound */
	uint32_t dst_portid;	/* connected to this address and group number */
	uint32_t dst_group;
	uint32_t groups[32];	/* NETLINK_DIAG_GROUPS: bit n-1 for group n (1024 groups) */
	size_t n_groups;	/* words of groups[] the kernel gave (0: none) */
	int groups_cut;		/* the kernel's bitmap was longer than groups[] */
	uint32_t flags;		/* NETLINK_DIAG_FLAGS: NDIAG_FLAG_* */
	uint32_t rmem;		/* SK_MEMINFO_RMEM_ALLOC: bytes (truesize) queued to be read */
	int has_ring;		/* NETLINK_DIAG_RX_RING or TX_RING: a memory-mapped ring (before 4.6) */
};

/*
 * sockdiag_netlink - look up the netlink socket of protocol protocol with
 * inode ino in the caller's network namespace and fill *out. NETLINK_DIAG
 * has no exact lookup: the sockets of that protocol are dumped and the one
 * with that inode taken (net/netlink/diag.c __netlink_diag_dump, kernel 4.1).
 * A socket neither bound nor a member of a group is in no table the dump
 * walks, so it is never found. Returns 0, 1 when not found, -1 on a netlink
 * error (logged).
 */
int sockdiag_netlink(int protocol, uint64_t ino, struct nl_diag *out);

/*
 * netlink_proto_name - "route", "uevent", "generic", ... for a NETLINK_*
 * protocol number (linux/netlink.h), for messages; "protocol N" (in a
 * static buffer) for one without a name here.
 */
const char *netlink_proto_name(int protocol);

/* One multicast list entry of a packet socket (struct packet_diag_mclist). */
struct pk_diag_mc {
	uint32_t ifindex;
	uint32_t count;		/* times added */
	uint16_t type;		/* PACKET_MR_* */
	uint16_t alen;
	uint8_t addr[32];
};

/* What PACKET_DIAG tells about one packet socket (linux/packet_diag.h). */
struct pk_diag {
	uint8_t type;		/* SOCK_RAW, SOCK_DGRAM */
	uint16_t num;		/* protocol, host order (pdiag_num) */
	int has_info;		/* PACKET_DIAG_INFO was given */
	uint32_t ifindex;	/* pdi_index */
	uint32_t version, reserve, copy_thresh, tstamp;
	uint32_t flags;		/* PDI_RUNNING, PDI_AUXDATA, ... */
	struct pk_diag_mc *mc;	/* malloc'ed, n_mc entries */
	size_t n_mc;
	int has_ring;		/* PACKET_DIAG_RX_RING or TX_RING: a memory-mapped ring */
	int has_fanout;
	uint32_t fanout;	/* id | type << 16 (no flags) */
	uint32_t rmem;		/* SK_MEMINFO_RMEM_ALLOC: bytes (truesize) queued to be read */
	int has_filter;		/* PACKET_DIAG_FILTER was given (needs CAP_NET_ADMIN) */
	uint64_t *filter;	/* malloc'ed struct sock_filter copies (8 bytes each), n_filter of them */
	size_t n_filter;
};

/*
 * sockdiag_packet - look up the packet socket with inode ino in the
 * caller's network namespace and fill *out (PACKET_SHOW_INFO, MCLIST,
 * RING_CFG, FANOUT, MEMINFO, FILTER). PACKET_DIAG has no exact lookup:
 * every packet socket of the namespace is dumped and the one with that
 * inode taken (net/packet/diag.c packet_diag_dump, kernel 3.8). out->mc
 * and out->filter are malloc'ed: free them with pk_diag_free. Returns 0,
 * 1 when not found, -1 on a netlink error (logged).
 */
int sockdiag_packet(uint64_t ino, struct pk_diag *out);

/* pk_diag_free - free what sockdiag_packet allocated in *d (not d itself). */
void pk_diag_free(struct pk_diag *d);

#endif
