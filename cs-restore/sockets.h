/*
 * cs-restore: unix, netlink, packet, UDP and established TCP sockets (sk-unix.c,
 * sk-netlink.c, sk-packet.c, sk-udp.c, sk-tcp.c). Kept apart from restore.h so that files.c needs only a few
 * hooks.
 */
#ifndef CS_RESTORE_SOCKETS_H
#define CS_RESTORE_SOCKETS_H

#include <stddef.h>
#include "restore.h"
#include <sys/socket.h>

/*
 * inet_sockaddr - in *a the sockaddr_in (family AF_INET, addr 4 bytes) or
 * sockaddr_in6 (AF_INET6, addr 16 bytes, network order as saved) for addr
 * and port (host order), its length in bytes in *al. Returns 0, or -1 for
 * another family, address length, or a port of 65536 or more. (files.c)
 */
int inet_sockaddr(int family, const ProtobufCBinaryData *addr, uint32_t port, struct sockaddr_storage *a,
		  socklen_t *al);
/* sk_setint - setsockopt(2) of an int option v; a failure is ignored (best
 * effort: the callers read back what matters). (files.c) */
void sk_setint(int sk, int level, int name, int v);

/*
 * check_unix - check phase for unix socket entry e: its own path name can
 * be bound again (nothing there, or a socket file no live socket is bound
 * to, which the restore unlinks), its abstract name is free. 0 or -1 (logged).
 */
int check_unix(struct rst_ctx *c, const FdEntry *e);
/*
 * check_unix_ext - check phase for a unix datagram socket that was connected
 * to a socket outside the dump (ext_peer, cs-dump --ext-unix-sk): a socket
 * of ours can connect(2) to that name now (a datagram connect sends
 * nothing). Refuses, naming the fd and the name, when it cannot (ENOENT,
 * ECONNREFUSED: nothing bound there; EPROTOTYPE: not a datagram socket).
 * 0 (also for other sockets) or -1 (logged). Source: unix(7).
 */
int check_unix_ext(const FdEntry *e);
/*
 * unix_ext_connect - in the stub: connect socket fd to s->ext_peer.
 * 0, or -1 with errno (EINVAL: no usable name).
 */
int unix_ext_connect(int fd, const UnixSkEntry *s);
/* unix_ext_name - s->ext_peer for messages ("@name" when abstract) in buf. Returns buf. */
const char *unix_ext_name(const UnixSkEntry *s, char *buf, size_t size);
/*
 * unix_undo - after a failed restore, once the stub is gone: remove the
 * socket files at the absolute paths that check_unix found free, so that a
 * failed restore leaves nothing behind. Never fails (a warning per file).
 */
void unix_undo(struct rst_ctx *c);
/*
 * unix_file_is_own - is the file at path (relative to the working
 * directory) the socket file that unix socket sk is bound to? Another
 * socket may have been bound to the same name since sk's file was removed
 * (unlink, then bind again: the restart of a server that keeps its old
 * listener open), so a name does not tell. Compares the file's device and
 * inode with the socket's UNIX_DIAG_VFS (sock_diag(7)). Returns 1 yes,
 * 0 no (or no file there), -1 with errno (fstat, lstat; EIO, ENOENT: the
 * socket is not found by sock_diag).
 */
int unix_file_is_own(int sk, const char *path);

/*
 * unix_make_all - in the stub: create every unix socket of c at once (pairs,
 * accepted connections and datagram peers need each other), bound, listening,
 * connected, queues refilled, shut down and optioned as saved. Each socket
 * goes to tmp[i] (an fd >= tmp_min, close-on-exec) for its entry i. Returns
 * 0, or -1 with a message in err.
 */
int unix_make_all(struct rst_ctx *c, int *tmp, int tmp_min, char *err, size_t len);

/*
 * Connections not accepted yet (in flight) of a listening unix socket of
 * the tree, whose clients are sockets of the tree (unix_sk_entry icons,
 * icon_listener): sk-unix-icons.c. The stubs make the listener (bound,
 * listening) and the client (not connected; its shutdown and, for a
 * listener whose file was gone, the unlink, left for later); once every
 * stub exists the clients connect again, in the listener's accept order.
 * Sources: unix(7), net/unix/af_unix.c unix_stream_connect (the embryo's
 * SO_PEERCRED is the connecting task's).
 */
/*
 * check_unix_icons - check phase for unix socket entry e of process c: a
 * listener with icons has a name to connect to, each client is an entry
 * of the tree of the same type that names this listener; a client naming
 * a listener is listed by it. 0 (also for other entries) or -1 (logged,
 * naming the fd).
 */
int check_unix_icons(struct rst_ctx *c, const FdEntry *e);
/*
 * restore_unix_icons - once every stub is seized (seize_stubs), before
 * their memory is rebuilt: for each listener of the tree, in its saved
 * order, each client connects to it with remote syscalls in the client's
 * own stub (non-blocking for the call; from the listener's saved
 * directory for a relative name), sends what it had sent (its send buffer
 * first made large enough through a pidfd_getfd copy, then put back as
 * saved), and is shut down as saved (the bits the other end lacks, which
 * the client set before it connected, before the connect); a listener's name whose file was
 * gone at dump time is unlinked after. 0 or -1 (logged, naming the
 * listener and the client).
 */
int restore_unix_icons(struct rst_tree *t);

/*
 * What sk-unix-xproc.c shares with sk-unix-icons.c (which defines them):
 * unix_tree_sk - the entry describing unix socket inode ino in the tree
 *   (not a shared copy), its process in *pc; NULL if none.
 * unix_rchdir - remote chdir(2) of c's stub to dir. 0 or -1 (logged).
 * unix_rsend - send len bytes (stream != 0: in pieces; else one message)
 *   from fd of c's stub, through its scratch page (or a mapping of the
 *   message's size), MSG_DONTWAIT. what names it in errors. 0 or -1 (logged).
 * unix_runlink_name - remote unlink(2), in lc's stub, of listener le's path
 *   name (from its saved directory). 0 or -1 (logged).
 * unix_runlink - remote unlink(2), in c's stub, of the path name of unix
 *   socket ls (from its saved directory, then back to the process's cwd):
 *   0 with *ret the syscall's return (0 or -errno), or -1 when the stub
 *   could not be driven (logged).
 */
FdEntry *unix_tree_sk(struct rst_tree *t, uint64_t ino, struct rst_ctx **pc);
int unix_rchdir(struct rst_ctx *c, const char *dir);
int unix_rsend(struct rst_ctx *c, int fd, int stream, const uint8_t *data, size_t len, const char *what);
int unix_runlink_name(struct rst_ctx *lc, const FdEntry *le);
int unix_runlink(struct rst_ctx *c, const UnixSkEntry *ls, long *ret);

/*
 * Accepted unix stream and seqpacket connections whose two ends are in
 * different processes of the tree (unix_sk_entry xproc): sk-unix-xproc.c.
 * The stubs make the client unconnected (bound to its own name, if any),
 * and a placeholder socket at the accepted end's number; once every stub
 * exists, restore_unix_xproc makes the connection. Sources: unix(7);
 * net/unix/af_unix.c unix_stream_connect (the accepted end's SO_PEERCRED
 * is the connecting task's, the client's is the listener's, set by
 * listen(2)); pidfd_getfd(2).
 */
/*
 * check_unix_xproc - check phase for entry e of c: an xproc end names a
 * peer entry of another process of the tree, xproc too and connected back
 * to it, of the same type; the accepted one's listener is a named
 * listening socket of the tree of that type. 0 (also for other entries)
 * or -1 (logged, naming the fd).
 */
int check_unix_xproc(struct rst_ctx *c, const FdEntry *e);
/*
 * unix_xproc_listener - whether listening socket inode ino has accepted
 * connections made by restore_unix_xproc (its name must stay until
 * then, even when its file was gone at dump time). 1 or 0.
 */
int unix_xproc_listener(struct rst_tree *t, uint64_t ino);
/*
 * restore_unix_xproc - once every stub is seized, before
 * restore_unix_icons (accept order: the accepted ones first): for each
 * accepted end of the tree, its client connects to the listener's name
 * with a remote connect(2) in the client's stub; the accepted end's stub
 * accepts it (from its own fd of the listener, or a pidfd_getfd copy) and
 * moves it over the placeholder at its number, with its FD_CLOEXEC; every
 * fd of the tree sharing that number's file (from_pid, peer_fd) gets it
 * too, and epoll sets watching those numbers register it again. Then the
 * status flags and options, each end's queue sent again from the other
 * end's stub, the shutdown bits, and a listener's name whose file was
 * gone is unlinked. 0 or -1 (logged, naming both fds and processes).
 */
int restore_unix_xproc(struct rst_tree *t);

/*
 * netlink_make - a netlink socket as e->nlsk saved it: same protocol and
 * type, NETLINK_* flags and socket options, bound to the saved portid
 * (when not 0), a member of the saved groups (NETLINK_ADD_MEMBERSHIP, any
 * group number), connected to the saved address when it was. Used by the
 * stub and, once, by the check phase. Returns the fd (close-on-exec), or
 * -1 with a message in err naming the fd and what failed (EADDRINUSE: the
 * portid is taken; EPERM: a group or flag needs a capability;
 * EPROTONOSUPPORT: no such protocol here). Source: netlink(7). sk-netlink.c.
 */
int netlink_make(const FdEntry *e, char *err, size_t len);
/* check_netlink - check phase: netlink_make once, closed again. 0 or -1 (logged). */
int check_netlink(const FdEntry *e);

/*
 * packet_make - a packet socket as e->pksk saved it: same type, PACKET_*
 * options, socket options and classic BPF filter, then bound to the saved
 * protocol and to the interface of the saved name (looked up here: its
 * index may differ), memberships added (count times each), the fanout
 * group joined (a kernel-chosen id, PACKET_FANOUT_FLAG_UNIQUEID, is asked
 * for explicitly), SO_LOCK_FILTER last. Used by the stub. Returns the fd
 * (close-on-exec), or -1 with a message in err naming the fd and what
 * failed (EPERM at socket(2): no CAP_NET_RAW; no interface of that name;
 * EINVAL joining a fanout group another socket holds with another type).
 * Source: packet(7), socket(7). sk-packet.c.
 */
int packet_make(const FdEntry *e, char *err, size_t len);
/*
 * check_packet - check phase: every interface e names exists here, and a
 * socket of its type can be made with its options and filter (CAP_NET_RAW),
 * unbound and closed again. 0 or -1 (logged, naming the fd).
 */
int check_packet(const FdEntry *e);

/* is_raw_sk - is e a raw or ping socket (sk_rawkind, lib/sk-rawopts.h) that raw_make makes? */
int is_raw_sk(const FdEntry *e);

/*
 * raw_make - a raw socket (raw(7)) or ping socket (icmp(7)) as e->sk saved
 * it: socket(family, type, protocol), options, bound (a ping socket to its
 * ICMP id), fields 200..208 (sk_rawopts_apply), connected when it was.
 * Used by the stub and, once, by the check phase. Returns the fd
 * (close-on-exec), or -1 with one line in err naming the fd and the cause:
 * no CAP_NET_RAW (EPERM), no group in net.ipv4.ping_group_range (EACCES),
 * the ICMP id taken (EADDRINUSE). sk-raw.c.
 */
int raw_make(const FdEntry *e, char *err, size_t len);

/* check_raw - check phase: raw_make once, closed again. 0 or -1 (logged). */
int check_raw(const FdEntry *e);

/*
 * check_udp - check phase for a UDP or UDP-Lite socket: its port can be
 * bound again, and, when it has queued datagrams, a raw socket of its
 * protocol can be made to send them again (CAP_NET_RAW, raw(7)). 0 or -1
 * (logged, naming the fd).
 */
int check_udp(const FdEntry *e);

/*
 * udp_make - in the stub: a UDP socket bound, its queued datagrams sent to it
 * again from their senders' addresses (a raw socket, CAP_NET_RAW), then
 * connected. Returns the fd, or -1 with a message in err.
 */
int udp_make(const FdEntry *e, char *err, size_t len);

/* is_tcp_est - is e an established TCP connection that tcp_est_make makes? */
int is_tcp_est(const FdEntry *e);

/*
 * check_tcp_est - check phase for an established TCP connection: the image
 * was restored with --tcp-established (c->tcp_established), we have
 * CAP_NET_ADMIN, and a trial socket in repair mode can be bound to the
 * saved local address and connected to the peer (closed again in repair
 * mode, which sends nothing); a connection that still exists (the dumped
 * process is still running) fails with EADDRNOTAVAIL. 0 or -1 (logged,
 * naming the fd and the connection). Source: tcp(7) TCP_REPAIR.
 */
int check_tcp_est(const struct rst_ctx *c, const FdEntry *e);

/*
 * tcp_est_make - in the stub: the connection of e rebuilt in repair mode,
 * its sequence numbers, negotiated options, timestamp clock, both queues
 * and window as saved. It stays in repair mode, sending nothing, until
 * tcp_est_finish. Returns the fd, or -1 with a message in err.
 */
int tcp_est_make(const FdEntry *e, char *err, size_t len);

/*
 * tcp_est_finish - in cs-restore, once everything else is restored and
 * before the process runs: through pidfd_getfd copies, take every
 * connection out of repair mode (TCP_REPAIR_OFF, one window probe), set
 * its options and buffer sizes, send the bytes it had never sent. 0 or -1
 * (logged). Sources: tcp(7), pidfd_getfd(2).
 */
int tcp_est_finish(struct rst_ctx *c);

/*
 * closed_fill - write the unread bytes of a TCP connection closed on both
 * sides (inet_sk_entry closed_rcvq) into sk, one end of the unix stream
 * socket pair that stands for it, its buffer first made large enough
 * (SO_SNDBUFFORCE, CAP_NET_ADMIN, when over 64 KiB). 0 or -1 (errno).
 * Source: socket(7), unix(7). sk-tcp-fin.c.
 */
int closed_fill(int sk, const ProtobufCBinaryData *data);

/* tcp_describe - "fd N (TCP connection A -> B)" for e, into buf (len bytes). */
void tcp_describe(const FdEntry *e, char *buf, size_t len);

/*
 * check_tcp_half - check phase for a kept connection e (what names it):
 * its saved state (ESTABLISHED or half-closed) agrees with its FIN flags,
 * and when the peer's FIN has to be given again, we have CAP_NET_RAW (a
 * raw socket, raw(7)). 0 or -1 (logged). sk-tcp-fin.c.
 */
int check_tcp_half(const FdEntry *e, const char *what);

/*
 * tcp_half_finish - after tcp_est_finish and after the network lock is
 * removed (its input rule would drop the injected segment), before the
 * processes run: every half-closed connection of the tree is brought from
 * ESTABLISHED to its saved state through a pidfd_getfd copy: our FIN by
 * shutdown(SHUT_WR), the peer's by a FIN|ACK segment from the peer's
 * address and port sent on a raw socket (IPPROTO_RAW), in the order the
 * state needs (LAST-ACK: the peer's first; CLOSING: ours first). 0 or -1
 * (logged, naming the fd). Sources: tcp(7), raw(7), RFC 793 (FIN takes a
 * sequence number), net/ipv4/tcp_input.c tcp_fin and tcp_ack; the
 * injection is measured to be taken on loopback (see sk-tcp-fin.c).
 */
int tcp_half_finish(struct rst_tree *tree);

#endif
