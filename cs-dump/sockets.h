/*
 * cs-dump: unix, netlink, UDP and established TCP sockets (sk-unix.c,
 * sk-netlink.c, sk-udp.c, sk-queue.c, sk-tcp.c). Kept apart from dump.h so that files.c needs only
 * a few hooks.
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
