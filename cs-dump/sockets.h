/*
 * cs-dump: unix, netlink, packet, UDP and established TCP sockets (sk-unix.c,
 * sk-netlink.c, sk-packet.c, sk-udp.c, sk-queue.c, sk-tcp.c). Kept apart from dump.h so that files.c needs only
 * a few hooks.
 */
#ifndef CS_DUMP_SOCKETS_H
#define CS_DUMP_SOCKETS_H

#include <stddef.h>
#include <stdint.h>
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

/*
 * dump_netlink - fill e->nlsk (type FD_NETLINK) for target fd, a netlink
 * socket whose copy is sk: protocol, type, portid, groups, peer, flags and
 * options (NETLINK_DIAG through sockdiag_netlink, getsockopt(2) SOL_NETLINK).
 * Refuses, naming the fd and its portid, a dump in progress
 * (NDIAG_FLAG_CB_RUNNING), unread messages unless c->leave_running (then a
 * warning: not in the image), a memory-mapped ring. 0 or -1 (logged).
 * Sources: netlink(7), linux/netlink_diag.h, net/netlink/diag.c. sk-netlink.c.
 */
int dump_netlink(struct dump_ctx *c, int fd, FdEntry *e, int sk);

/*
 * dump_packet - fill e->pksk (type FD_PACKET) for target fd, a packet
 * socket whose copy is sk: type, protocol (network order), the interface
 * it is bound to (index and name), PACKET_* options, multicast list,
 * fanout (PACKET_FANOUT: id | type << 16 | flags << 24), classic BPF
 * filter and SO_LOCK_FILTER, socket options. From PACKET_DIAG
 * (sockdiag_packet) and getsockopt(2). Refuses, naming the fd, a
 * memory-mapped ring, an eBPF filter, a BPF-steered fanout group, an
 * interface without a name, a socket sock_diag does not find in our
 * network namespace. Packets not read yet are left out of the image with
 * a warning (dropped; with c->leave_running, left to the process). 0 or -1
 * (logged). Sources: packet(7), socket(7), linux/packet_diag.h,
 * net/packet/af_packet.c (packet_getsockopt), net/packet/diag.c.
 */
int dump_packet(struct dump_ctx *c, int fd, FdEntry *e, int sk);

/* dump_unix - fill e (type FD_UNIX) for target fd, whose copy is sk. 0 or -1 (logged). */
int dump_unix(struct dump_ctx *c, int fd, FdEntry *e, int sk);

/*
 * check_unix_peers - after every fd of every process of the tree is
 * collected (c: the root, named in errors): each connected unix socket's
 * peer must be in the tree, and the way to reconnect it is
 * recorded (socketpair, an accept on a listener of the process, a connect by
 * name). With tcp_close (--tcp-close), a stream or seqpacket connection
 * accepted from a listener of the process whose peer is outside it (a
 * client's) is recorded as closed by its peer instead. With ext_unix_sk
 * (--ext-unix-sk), a datagram socket connected to a named socket outside
 * is recorded with that name (unix_ext_peer). Refuses what cannot be
 * recreated. 0 or -1 (logged).
 */
int check_unix_peers(struct dump_ctx *c, int tcp_close, int ext_unix_sk);

/*
 * unix_check_dgram_senders - after tree_park_fds: every datagram queued
 * in a unix socket of the tree with a sender's name of the tree must be
 * sent again at restore from the sender, in the process that makes the
 * receiver (its own, or the earlier one it is parked in: cs-restore
 * refills the queue there, before the socket connects); refuses one from
 * a socket made by another process, naming both. 0 or -1 (logged).
 */
int unix_check_dgram_senders(void);

struct unix_diag;
/*
 * unix_ext_peer - socket d (what names it in errors) is a datagram socket
 * connected to socket inode d->peer outside process pid. When that socket
 * has a name that leads to it (an absolute path whose file is its socket
 * file, or an abstract name) and is not connected back, and allowed
 * (--ext-unix-sk): records the name in s->ext_peer and drops s->peer_ino,
 * so that cs-restore connects to the name again. Else refuses, naming the
 * peer (and the option when it would do). 0 or -1 (logged).
 * Sources: unix(7) (a datagram connect sets the peer; getpeername gives the
 * peer's own name), net/unix/diag.c (UNIX_DIAG_NAME, UNIX_DIAG_VFS).
 */
int unix_ext_peer(const struct unix_diag *d, UnixSkEntry *s, const char *what, pid_t pid, int allowed);

/*
 * unix_fd_by_ino - the entry collected for unix socket inode ino (the one
 * that describes it: not an fd sharing another's file), its sock_diag
 * answer in *d and the process it was collected in (*pid, as cs-dump sees
 * it). NULL when no process of the tree holds it. sk-unix.c.
 */
FdEntry *unix_fd_by_ino(uint64_t ino, const struct unix_diag **d, pid_t *pid);
/*
 * unix_name_taken - for the entry e of a unix socket whose socket file was
 * removed (name_unlinked) while it stayed bound: the entry of another socket
 * of the tree that is bound to a file at the same path now (unlink, then
 * bind again), its process in *pid (as cs-dump sees it). NULL when there
 * is none (no file there, not a socket, one outside the tree, an abstract
 * or relative name). A client that connects to the path reaches that other
 * socket: connections to e cannot be made again by name. Sources: unix(7)
 * (connect(2) finds a socket by its file), net/unix/diag.c (UNIX_DIAG_VFS).
 * sk-unix.c.
 */
FdEntry *unix_name_taken(const FdEntry *e, pid_t *pid);

/*
 * Connections not accepted yet (in flight) on the tree's listening unix
 * sockets: sk-unix-icons.c. Source: net/unix/diag.c sk_diag_dump_icons
 * (UNIX_DIAG_ICONS: for each connection in the listener's queue, in accept
 * order, the inode of its client, the embryo's peer; the embryo itself has
 * no inode before accept(2), so the client's UNIX_DIAG_PEER is 0), and
 * net/unix/af_unix.c (unix_stream_connect: the bytes a client sends before
 * the accept wait in the embryo's receive queue, charged to the client's
 * send buffer, which UNIX_DIAG_RQLEN's udiag_wqueue reports; unix_shutdown
 * sets the embryo's shutdown bits from the client's, mirrored).
 */

/*
 * unix_icons_listener - from dump_unix, for listening socket e (target fd
 * fd, our copy sk, sock_diag answer d) of process c: remember its queue of
 * connections not accepted yet (d->icons) and keep a copy of sk, with which
 * unix_icons_take may accept them. 0 or -1 (logged).
 */
int unix_icons_listener(struct dump_ctx *c, int fd, FdEntry *e, const struct unix_diag *d, int sk);

/*
 * unix_icons_check - from check_unix_peers (root: the tree's root, whose
 * leave_running says whether the tree goes on): for each listening socket
 * of the tree, the connections in its queue whose client is a socket of
 * the tree are listed in its entry (usk->icons, in accept order, with the
 * client's shutdown mirrored) and the client's entry names the listener
 * (usk->icon_listener); the others are counted (icons_lost) and a warning
 * names the listener. A client that has sent data into its connection
 * (its send buffer is not empty) is refused under -R: the data can be read
 * only by accepting the connection, which would take it from the process.
 * 0 or -1 (logged).
 */
int unix_icons_check(struct dump_ctx *root);

/*
 * unix_icons_take - dump that kills the tree, after everything else was
 * read and before the images are written: when a client of the tree has
 * sent data into a connection not accepted yet, accept(2) the listener's
 * connections through our copy, in order, up to the last such one, check
 * that each is the one UNIX_DIAG_ICONS listed, and copy each one's receive
 * queue (sk_peek_queue) and shutdown bits into its icon entry. The taken
 * connections are gone from the target: a failure from here on leaves it
 * running without them (unix_icons_failed says so). Closes the copies.
 * 0 or -1 (logged).
 */
int unix_icons_take(void);

/* unix_icons_failed - on a failed dump: a warning naming each listener
 * whose connections unix_icons_take took (lost to the process). */
void unix_icons_failed(void);

/*
 * udp_check_mcast - refuse UDP socket sk (our copy of a socket of process
 * pid, family AF_INET or AF_INET6; what names it) when it is a member of a
 * multicast group: memberships are not saved. No interface lists them per
 * socket; getsockopt(MCAST_MSFILTER) (RFC 3678; net/ipv4/igmp.c
 * ip_mc_gsfget, net/ipv6/mcast.c ip6_mc_msfget) tells, for each group of
 * each interface of pid's network namespace (/proc/PID/net/igmp, igmp6),
 * whether this socket joined it. Returns 0, or -1 (logged: the group and
 * the interface).
 */
int udp_check_mcast(int sk, pid_t pid, int family, const char *what);

/*
 * dump_raw - fill e->sk (family, type, proto set) for a raw socket, a ping
 * socket or a UDP-Lite socket (sk_rawkind, lib/sk-rawopts.h) at target fd,
 * our copy sk: address (a ping socket's ICMP id as its port), peer and
 * state from /proc/PID/net/{raw,raw6,icmp,icmp6} (a raw or ping socket
 * connected with port 0 has no getpeername), options, fields 200..208.
 * Datagrams not read yet on a raw or ping socket are refused unless
 * c->leave_running (then a warning); UDP-Lite keeps them as UDP does.
 * 0 or -1 (logged, naming the fd). Sources: raw(7), icmp(7), udplite(7),
 * net/ipv4/raw.c, net/ipv4/ping.c. sk-raw.c.
 */
int dump_raw(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family);

/* dump_udp - fill e->sk for a UDP or UDP-Lite socket (target fd, copy sk). 0 or -1 (logged). */
int dump_udp(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family);

/*
 * dump_tcp_est - fill e->sk (family, ports, options already there) with the
 * established TCP connection at target fd, our pidfd_getfd copy sk, in
 * sock_diag state state (anything but ESTABLISHED is refused, naming the fd
 * and the state). The socket goes into repair mode (TCP_REPAIR: needs
 * CAP_NET_ADMIN) and stays there until the kill, or until tcp_est_leave;
 * unless c->leave_running, a filter dropping every incoming packet is
 * attached first, so that nothing is acknowledged that the image lacks.
 * Keeps its own copy of sk (the caller still closes sk). 0 or -1 (logged).
 * Sources: tcp(7), include/uapi/linux/tcp.h, socket(7) SO_ATTACH_FILTER.
 */
int dump_tcp_est(struct dump_ctx *c, int fd, FdEntry *e, int sk, int state);

/*
 * tcp_est_leave - before the target runs again (-R, or a failed dump):
 * every connection dump_tcp_est took leaves repair mode without a window
 * probe (TCP_REPAIR_OFF_NO_WP), gets its SO_REUSEADDR back (leaving repair
 * mode clears it) and loses our filter. Logs what fails; cannot fail.
 */
void tcp_est_leave(struct dump_ctx *c);

/*
 * dump_tcp_closed - fd (our copy sk, entry e) is a TCP socket whose
 * connection is closed on both sides (state CLOSE, once connected: its
 * tcpi_rcv_mss is set, which a socket never connected does not have),
 * under --tcp-established: record it as closed (e->sk->closed) with the
 * bytes it still holds unread (recv(2) MSG_PEEK, from the start whatever
 * SO_PEEK_OFF says), which the restored descriptor returns before the end
 * of file. 0 or -1 (logged, naming the fd). Source: tcp(7), socket(7).
 */
int dump_tcp_closed(int fd, FdEntry *e, int sk);

/*
 * tcp_state_keepable - whether --tcp-established keeps a connection in TCP
 * state state (include/net/tcp_states.h numbers): ESTABLISHED and the
 * half-closed FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, LAST-ACK and CLOSING.
 * Returns 1 or 0.
 */
int tcp_state_keepable(unsigned state);

/* tcp_state_name - "ESTABLISHED", "FIN-WAIT-1", ... for a TCP_* state number. */
const char *tcp_state_name(unsigned state);

#endif
