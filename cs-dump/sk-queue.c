/*
 * Receive queues of sockets, copied without consuming them. The target is
 * frozen, so nothing of its own reads the queue meanwhile; data that peers
 * outside the process send during the dump may or may not be in the copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sockets.h"

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif

static int set_peek_off(int sk, int off)
{
	return setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
}

/* Close every fd an SCM_RIGHTS message put into our table; 1 if there was one. */
static int drop_rights(struct msghdr *m)
{
	int found = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		found = 1;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
	return found;
}

static SkQueueMsg *new_msg(SkQueueMsg ***q, size_t *n)
{
	SkQueueMsg *m = xzalloc(sizeof(*m)), **arr = xrealloc(*q, (*n + 1) * sizeof(*arr));

	if (!m || !arr) {
		free(m);
		if (arr)
			*q = arr;
		return NULL;
	}
	sk_queue_msg__init(m);
	*q = arr;
	arr[(*n)++] = m;
	return m;
}

/* Record the sender's address of one datagram in m. */
static int set_src(SkQueueMsg *m, const struct sockaddr_storage *a, socklen_t al, int inet)
{
	const void *p = NULL;
	size_t l = 0;

	if (!inet) {
		if (al <= offsetof(struct sockaddr_un, sun_path))
			return 0;	/* an unnamed sender */
		p = ((const struct sockaddr_un *)a)->sun_path;
		l = al - offsetof(struct sockaddr_un, sun_path);
	} else if (a->ss_family == AF_INET) {
		p = &((const struct sockaddr_in *)a)->sin_addr;
		l = 4;
		m->has_src_port = 1;
		m->src_port = ntohs(((const struct sockaddr_in *)a)->sin_port);
	} else if (a->ss_family == AF_INET6) {
		p = &((const struct sockaddr_in6 *)a)->sin6_addr;
		l = 16;
		m->has_src_port = 1;
		m->src_port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	} else {
		return 0;
	}
	m->has_src = 1;
	m->src.data = xmalloc(l);
	if (!m->src.data)
		return -1;
	memcpy(m->src.data, p, l);
	m->src.len = l;
	return 0;
}

int sk_peek_queue(int sk, int dgram, int inet, int eof0, const char *what, SkQueueMsg ***q, size_t *n)
{
	size_t bufsz = 65536, stream_len = 0;
	char *buf = xmalloc(bufsz), *stream = NULL;
	union { char b[4096]; struct cmsghdr align; } ctl;
	int old = -1, off = 0, ret = -1;
	socklen_t ol = sizeof(old);

	if (!buf)
		return -1;
	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &old, &ol)) {
		free(buf);
		return pr_perror("%s: cannot read SO_PEEK_OFF", what);
	}
	for (;;) {
		struct sockaddr_storage a;
		struct iovec iov = { buf, bufsz };
		struct msghdr m = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		ssize_t r;

		if (set_peek_off(sk, off)) {
			pr_perror("%s: cannot set SO_PEEK_OFF", what);
			goto out;
		}
		r = recvmsg(sk, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (dgram ? MSG_TRUNC : 0));
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0 && !dgram && (errno == ECONNRESET || errno == EPIPE))
			break;
		if (r < 0) {
			pr_perror("%s: cannot peek at the receive queue", what);
			goto out;
		}
		if (drop_rights(&m) || (m.msg_flags & MSG_CTRUNC)) {
			pr_err("%s has file descriptors (SCM_RIGHTS) queued in its receive queue: not supported",
			       what);
			goto out;
		}
		if (r == 0 && !dgram)
			break;	/* end of stream: the peer shut down */
		if (r == 0 && eof0) {
			/* a seqpacket socket shut down for reading also peeks 0 at
			 * the end of its queue: an empty message only if bytes are
			 * still queued past it (SIOCINQ: the bytes of every queued
			 * message of a seqpacket socket, unix(7)); the next peek
			 * skips it, as it is marked peeked now */
			int inq = 0;

			if (ioctl(sk, SIOCINQ, &inq)) {
				pr_perror("%s: cannot read the queue length (SIOCINQ)", what);
				goto out;
			}
			if (inq <= off)
				break;
		}
		if (*n > (1u << 20)) {
			pr_err("%s: more than a million messages queued", what);
			goto out;
		}
		if (dgram && (size_t)r > bufsz) {
			char *nb = xrealloc(buf, r);

			if (!nb)
				goto out;
			buf = nb;
			bufsz = r;
			continue;	/* peek the same message again, whole */
		}
		if (dgram) {
			SkQueueMsg *e = new_msg(q, n);

			if (!e || set_src(e, &a, m.msg_namelen, inet))
				goto out;
			e->data.len = r;
			e->data.data = xmalloc(r ? r : 1);
			if (!e->data.data)
				goto out;
			memcpy(e->data.data, buf, r);
		} else {
			char *ns = xrealloc(stream, stream_len + r);

			if (!ns)
				goto out;
			stream = ns;
			memcpy(stream + stream_len, buf, r);
			stream_len += r;
		}
		if (off + r > INT32_MAX) {
			pr_err("%s: more than 2 GiB queued", what);
			goto out;
		}
		off += r;
	}
	if (stream_len) {
		SkQueueMsg *e = new_msg(q, n);

		if (!e)
			goto out;
		e->data.data = (uint8_t *)stream;
		e->data.len = stream_len;
		stream = NULL;
	}
	pr_debug("%s: %d bytes queued", what, off);
	ret = 0;
out:
	if (set_peek_off(sk, old))
		pr_warn("%s: cannot put SO_PEEK_OFF back to %d: %m", what, old);
	free(buf);
	free(stream);
	return ret;
}
