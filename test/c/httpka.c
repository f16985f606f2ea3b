/*
 * httpka.c - an HTTP/1.1 client that keeps one connection alive across a
 * dump and restore of the server (t820-nginx, --tcp-established).
 *
 *   httpka READY_FILE PORT DIR [+PART] NAME...
 *
 * Connects to 127.0.0.1:PORT, asks for /NAME for each NAME (GET, HTTP/1.1,
 * keep-alive) and checks that each body is the content of DIR/NAME, byte
 * for byte. With +PART, it then asks for /PART on a second connection and
 * reads only the header and the first MiB (half the file if smaller): the
 * server is left in the middle of sending it, its send queue full. Then it
 * writes the ready file and waits, reading nothing, for SIGUSR2. This
 * program is the server's peer: it is not dumped.
 *
 * After SIGUSR2 it reads the rest of /PART and checks the whole body
 * against DIR/PART, checks that the keep-alive connection is the one it had
 * (same local and peer address, TCP state ESTABLISHED), asks for every NAME
 * again on it, and checks every status line and body. A server that closed
 * or reset a connection shows as "connection differs: ...".
 *
 * CS_TEST_CORRUPT=body: the first file's expected content gets one byte
 * flipped after set-up; CS_TEST_CORRUPT=conn: the connection is replaced by
 * a new one after set-up (another local port), as a restore that dropped
 * it would leave things.
 */
#include "tprog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>

static const char *const modes[] = { "body", "conn", NULL };

static unsigned nchecked;
static int sk = -1;
static struct sockaddr_in local, peer;

struct file {
	const char *name;
	char *data;
	size_t len;
};

static void read_file(const char *dir, struct file *f)
{
	char path[4096];
	struct stat st;
	int fd;
	size_t got = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		tp_die("cannot open %s", path);
	f->len = st.st_size;
	f->data = malloc(f->len + 1);
	if (!f->data)
		tp_die("out of memory for %s", path);
	while (got < f->len) {
		ssize_t n = read(fd, f->data + got, f->len - got);
		if (n <= 0)
			tp_die("cannot read %s", path);
		got += n;
	}
	close(fd);
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* a server that never answers must not hang the test */
	struct timeval tv = { .tv_sec = 20 };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		tp_die("cannot connect to 127.0.0.1:%d", port);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		tp_die("cannot set the socket's timeouts");
	return fd;
}

static void addrs(int fd, struct sockaddr_in *l, struct sockaddr_in *p)
{
	socklen_t len = sizeof(*l);

	if (getsockname(fd, (struct sockaddr *)l, &len) < 0)
		memset(l, 0, sizeof(*l));
	len = sizeof(*p);
	if (getpeername(fd, (struct sockaddr *)p, &len) < 0)
		memset(p, 0, sizeof(*p));
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Read exactly len bytes; 0, or -1 with errno (0: end of file). */
static int recv_all(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = 0;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static const char *why(void)
{
	return errno ? strerror(errno) : "end of file: the server closed it";
}

/*
 * Send the request for /NAME on fd and read the response's header: the
 * status line must be 200 and the length that of the file. Returns -1
 * when the connection is unusable or the header wrong (reported), else 0.
 */
static int fetch_head(int fd, const char *when, const struct file *f)
{
	char req[512], head[8192], what[600];
	size_t hl = 0;
	long clen = -1;
	char *p;

	snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: httpka\r\n\r\n", f->name);
	if (send_all(fd, req, strlen(req)) < 0) {
		tp_differs("connection", "%s: cannot send the request for /%s: %s", when, f->name, why());
		return -1;
	}
	/* the header, a byte at a time: the body follows it in the stream */
	while (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4)) {
		if (hl == sizeof(head) - 1) {
			tp_differs("response", "%s: /%s: header longer than %zu bytes", when, f->name, hl);
			return -1;
		}
		if (recv_all(fd, head + hl, 1) < 0) {
			tp_differs("connection", "%s: no response for /%s after %zu bytes: %s", when, f->name, hl, why());
			return -1;
		}
		hl++;
	}
	head[hl] = '\0';
	snprintf(what, sizeof(what), "%s: /%s status line", when, f->name);
	nchecked++;
	if (strncmp(head, "HTTP/1.1 200 ", 13)) {
		p = strstr(head, "\r\n");
		if (p)
			*p = '\0';
		tp_differs(what, "got \"%s\" want \"HTTP/1.1 200 OK\"", head);
		return -1;
	}
	for (p = head; (p = strstr(p, "\r\n")); p += 2)
		if (!strncasecmp(p + 2, "Content-Length:", 15))
			clen = strtol(p + 17, NULL, 10);
	snprintf(what, sizeof(what), "%s: /%s length", when, f->name);
	nchecked++;
	if (clen < 0 || (size_t)clen != f->len) {
		tp_differs(what, "got %ld want %zu", clen, f->len);
		return -1;
	}
	return 0;
}

/* Read bytes from..to of /NAME's body into body. -1: connection unusable. */
static int fetch_body(int fd, const char *when, const struct file *f, char *body, size_t from, size_t to)
{
	if (recv_all(fd, body + from, to - from) < 0) {
		tp_differs("connection", "%s: /%s body cut short at or after byte %zu of %zu: %s", when,
			   f->name, from, f->len, why());
		return -1;
	}
	return 0;
}

static void check_body(const char *when, const struct file *f, const char *body, const char *want)
{
	char what[600];

	nchecked++;
	if (memcmp(body, want, f->len)) {
		size_t i = 0;
		while (body[i] == want[i])
			i++;
		snprintf(what, sizeof(what), "%s: /%s body", when, f->name);
		tp_differs(what, "byte %zu of %zu: got 0x%02x want 0x%02x", i, f->len,
			   (unsigned char)body[i], (unsigned char)want[i]);
	}
}

/* One request for /NAME on the connection, its response checked. -1: the
 * connection is unusable (reported). */
static int fetch(const char *when, const struct file *f, const char *want)
{
	char *body;
	int ret;

	if (fetch_head(sk, when, f) < 0)
		return -1;
	body = malloc(f->len + 1);
	if (!body)
		tp_die("out of memory");
	ret = fetch_body(sk, when, f, body, 0, f->len);
	if (!ret)
		check_body(when, f, body, want);
	free(body);
	return ret;
}

/* How much of the partial download is read before the dump */
#define PARTIAL_BYTES	(1 << 20)

int main(int argc, char **argv)
{
	struct file *files, part = { 0 };
	char **want, *pbody = NULL;
	int nfiles = 0, port, i, psk = -1;
	size_t pread_before = 0;
	struct sockaddr_in l2, p2;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);

	tp_init("httpka", argc, argv);
	tp_block_usr2();
	tp_corrupt_check_mode(modes);
	if (argc < 5) {
		errno = EINVAL;
		tp_die("usage: httpka READY_FILE PORT DIR [+NAME] NAME...");
	}
	port = atoi(argv[2]);
	files = calloc(argc, sizeof(*files));
	want = calloc(argc, sizeof(*want));
	if (!files || !want)
		tp_die("out of memory");
	for (i = 4; i < argc; i++) {
		if (argv[i][0] == '+') {
			part.name = argv[i] + 1;
			read_file(argv[3], &part);
			continue;
		}
		files[nfiles].name = argv[i];
		read_file(argv[3], &files[nfiles]);
		want[nfiles] = files[nfiles].data;
		nfiles++;
	}

	sk = connect_to(port);
	for (i = 0; i < nfiles; i++)
		if (fetch("before", &files[i], want[i]) < 0)
			tp_die("the server did not answer as it should before the dump");
	if (tp_ndiff)
		tp_die("the server did not serve the files right before the dump");
	addrs(sk, &local, &peer);
	if (part.name) {
		/* the server is left with the rest to send, and nobody reads */
		psk = connect_to(port);
		pbody = malloc(part.len + 1);
		if (!pbody)
			tp_die("out of memory");
		pread_before = part.len / 2 < PARTIAL_BYTES ? part.len / 2 : PARTIAL_BYTES;
		if (fetch_head(psk, "before", &part) < 0 ||
		    fetch_body(psk, "before", &part, pbody, 0, pread_before) < 0)
			tp_die("the server did not start sending /%s as it should before the dump", part.name);
	}

	if (tp_corrupting("body") && files[0].len)
		want[0][files[0].len / 2] ^= 0x20;
	if (tp_corrupting("conn")) {
		int old = sk;
		sk = connect_to(port);
		close(old);
	}
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	if (part.name && !fetch_body(psk, "after", &part, pbody, pread_before, part.len))
		check_body("after", &part, pbody, part.data);
	addrs(sk, &l2, &p2);
	nchecked += 2;
	if (l2.sin_port != local.sin_port || l2.sin_addr.s_addr != local.sin_addr.s_addr)
		tp_differs("connection", "local address: got port %d want %d",
			   ntohs(l2.sin_port), ntohs(local.sin_port));
	if (p2.sin_port != peer.sin_port || p2.sin_addr.s_addr != peer.sin_addr.s_addr)
		tp_differs("connection", "peer address: got port %d want %d",
			   ntohs(p2.sin_port), ntohs(peer.sin_port));
	nchecked++;
	if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
		tp_differs("connection", "TCP_INFO: %s", strerror(errno));
	else if (ti.tcpi_state != 1 /* TCP_ESTABLISHED */)
		tp_differs("connection", "TCP state: got %u want 1 (ESTABLISHED)", ti.tcpi_state);
	for (i = 0; i < nfiles; i++)
		if (fetch("after", &files[i], want[i]) < 0)
			break;
	tp_finish(nchecked);
}
