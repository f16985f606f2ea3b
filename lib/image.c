/* Image files: records, checksums, the inventory. See image.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define LOG_PREFIX "image: "
#include "log.h"
#include "image.h"
#include "util.h"
#include "inventory.pb-c.h"

struct img {
	int fd;
	char name[64];
	uint32_t crc;
	uint64_t size;
	uint64_t kicked;	/* deferred sync: writeback started up to here */
	char buf[1 << 16];
	size_t len, pos;	/* write: bytes buffered; read: buffered and consumed */
	int writing;
};

static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/*
 * The SSE4.2 crc32 instruction computes this same CRC-32C (Castagnoli,
 * reflected; Intel SDM, CRC32): 8 bytes in a few cycles, about five
 * times the tables' speed. The pages of a large process are hundreds of MiB.
 */
#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len);

/* 1 when the instruction is there and gives the check value of CRC-32C ("123456789": 0xe3069283) */
static int crc_hw_ok(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_hw(0, (const uint8_t *)"123456789", 9) == 0xe3069283u &&
		       crc32c_hw(0, (const uint8_t *)"123456789abcdefghijklmnopq", 26) ==
		       crc32c_sw(0, (const uint8_t *)"123456789abcdefghijklmnopq", 26);
#endif
	return 0;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	static int hw = -1;

	if (hw < 0)
		hw = crc_hw_ok();
#if defined(__x86_64__)
	if (hw)
		return crc32c_hw(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	if (!crc_table[0][1])
		crc_init();
	crc = ~crc;
	/* slicing by 8: the page stream is hundreds of MiB */
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static int img_flush(struct img *img)
{
	if (write_all(img->fd, img->buf, img->len))
		return pr_perror("cannot write image %s", img->name);
	img->len = 0;
	return 0;
}

/*
 * Deferred sync (img_defer_sync): closed images keep their fd here until
 * img_sync_deferred. At most DEFER_MAX at a time: the list is synced early
 * when it is full, so a tree of many processes does not run out of fds.
 */
#define DEFER_MAX 128
#define KICK_BYTES (4u << 20)	/* start the writeback of a long image every 4 MiB */
static struct deferred {
	int fd;
	char name[64];
} deferred[DEFER_MAX];
static size_t nr_deferred;
static int defer_on;

void img_defer_sync(int on)
{
	defer_on = on;
}

int img_sync_deferred(void)
{
	int ret = 0;

	/* writeback of each was started at its close: the first fdatasync
	 * waits for its data and commits the journal with the block
	 * allocations of all of them, the others find theirs done */
	for (size_t i = 0; i < nr_deferred; i++) {
		if (!ret && fdatasync(deferred[i].fd))
			ret = pr_perror("cannot sync image %s", deferred[i].name);
		if (close(deferred[i].fd) && !ret)
			ret = pr_perror("cannot close image %s", deferred[i].name);
	}
	nr_deferred = 0;
	return ret;
}

void img_drop_deferred(void)
{
	for (size_t i = 0; i < nr_deferred; i++)
		close(deferred[i].fd);
	nr_deferred = 0;
}

/* Start writing back what was written of img so far; no wait, errors come at the fdatasync. */
static void kick_writeback(struct img *img)
{
	sync_file_range(img->fd, img->kicked, 0, SYNC_FILE_RANGE_WRITE);
	img->kicked = img->size;
}

int img_write_raw(struct img *img, const void *data, size_t len)
{
	img->crc = crc32c(img->crc, data, len);
	img->size += len;
	if (len > sizeof(img->buf) / 2) {
		if (img_flush(img))
			return -1;
		if (write_all(img->fd, data, len))
			return pr_perror("cannot write image %s", img->name);
		if (defer_on && img->size - img->kicked >= KICK_BYTES)
			kick_writeback(img);
		return 0;
	}
	if (img->len + len > sizeof(img->buf) && img_flush(img))
		return -1;
	memcpy(img->buf + img->len, data, len);
	img->len += len;
	return 0;
}

struct img *img_create(int dirfd, const char *name, uint32_t magic)
{
	struct img *img = xzalloc(sizeof(*img));

	if (!img)
		return NULL;
	snprintf(img->name, sizeof(img->name), "%s", name);
	img->writing = 1;
	img->fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (img->fd < 0) {
		pr_perror("cannot create image %s", name);
		free(img);
		return NULL;
	}
	if (img_write_raw(img, &magic, 4)) {
		img_free(img);
		return NULL;
	}
	return img;
}

int img_write_msg(struct img *img, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint32_t l32 = len;
	uint8_t *buf;
	int ret;

	if (len > CS_MAX_RECORD)
		return pr_err("record of %zu bytes too large for image %s", len, img->name);
	buf = xmalloc(len ? len : 1);
	if (!buf)
		return -1;
	protobuf_c_message_pack(msg, buf);
	ret = img_write_raw(img, &l32, 4) || img_write_raw(img, buf, len) ? -1 : 0;
	free(buf);
	return ret;
}

static int sums_add(struct img_sums *s, const char *name, uint64_t size, uint32_t crc)
{
	char **n = realloc(s->names, (s->n + 1) * sizeof(*n));
	uint64_t *sz;
	uint32_t *c;

	if (!n)
		return pr_err("out of memory");
	s->names = n;
	sz = realloc(s->sizes, (s->n + 1) * sizeof(*sz));
	if (!sz)
		return pr_err("out of memory");
	s->sizes = sz;
	c = realloc(s->crcs, (s->n + 1) * sizeof(*c));
	if (!c)
		return pr_err("out of memory");
	s->crcs = c;
	s->names[s->n] = xstrdup(name);
	if (!s->names[s->n])
		return -1;
	s->sizes[s->n] = size;
	s->crcs[s->n] = crc;
	s->n++;
	return 0;
}

void img_sums_free(struct img_sums *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->sizes);
	free(s->crcs);
	memset(s, 0, sizeof(*s));
}

int img_close(struct img *img, struct img_sums *sums)
{
	int ret = 0;

	if (img->writing && img_flush(img))
		ret = -1;
	if (img->writing && !ret && defer_on) {
		/* durable at img_sync_deferred, before the dump kills its target */
		if (nr_deferred == DEFER_MAX && img_sync_deferred())
			ret = -1;
		if (!ret) {
			kick_writeback(img);
			deferred[nr_deferred].fd = img->fd;
			snprintf(deferred[nr_deferred].name, sizeof(deferred[nr_deferred].name), "%s", img->name);
			nr_deferred++;
			img->fd = -1;
		}
	}
	/* durable before the dump kills its target */
	if (img->writing && !ret && img->fd >= 0 && fdatasync(img->fd))
		ret = pr_perror("cannot sync image %s", img->name);
	if (img->fd >= 0 && close(img->fd) && img->writing)
		ret = pr_perror("cannot close image %s", img->name);
	img->fd = -1;
	if (!ret && img->writing && sums)
		ret = sums_add(sums, img->name, img->size, img->crc);
	free(img);
	return ret;
}

void img_free(struct img *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	free(img);
}

/* The inventory loaded by inventory_load: images not listed are refused. */
static InventoryEntry *loaded_inv;

/*
 * Open image file name under dirfd for reading: a regular file only (a
 * FIFO, a device or /dev/zero behind a symlink would block or never end).
 * Returns the fd, or -1 with errno set (EINVAL: not a regular file).
 */
static int open_image_fd(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

struct img *img_open(int dirfd, const char *name, uint32_t magic)
{
	struct img *img;
	uint32_t m;

	if (loaded_inv) {
		size_t i;

		for (i = 0; i < loaded_inv->n_images; i++)
			if (!strcmp(loaded_inv->images[i]->name, name))
				break;
		if (i == loaded_inv->n_images) {
			pr_err("image %s is not listed in the inventory", name);
			return NULL;
		}
	}
	img = xzalloc(sizeof(*img));
	if (!img)
		return NULL;
	snprintf(img->name, sizeof(img->name), "%s", name);
	img->fd = open_image_fd(dirfd, name);
	if (img->fd < 0) {
		if (errno == EINVAL)
			pr_err("image %s is not a regular file", name);
		else
			pr_perror("cannot open image %s", name);
		free(img);
		return NULL;
	}
	if (img_read_raw(img, &m, 4) != 4 || m != magic) {
		pr_err("image %s: bad magic (not a checksync image of this kind)", name);
		img_free(img);
		return NULL;
	}
	return img;
}

ssize_t img_read_raw(struct img *img, void *out, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t n;

		if (img->pos == img->len) {
			ssize_t r;

			if (len - got >= sizeof(img->buf)) {
				r = read(img->fd, (char *)out + got, len - got);
				if (r < 0)
					return pr_perror("cannot read image %s", img->name);
				if (r == 0)
					break;
				got += r;
				continue;
			}
			r = read(img->fd, img->buf, sizeof(img->buf));
			if (r < 0)
				return pr_perror("cannot read image %s", img->name);
			if (r == 0)
				break;
			img->len = r;
			img->pos = 0;
		}
		n = img->len - img->pos;
		if (n > len - got)
			n = len - got;
		memcpy((char *)out + got, img->buf + img->pos, n);
		img->pos += n;
		got += n;
	}
	return got;
}

int img_read_msg(struct img *img, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	uint32_t len;
	ssize_t r = img_read_raw(img, &len, 4);
	uint8_t *buf;

	if (r == 0)
		return 0;
	if (r != 4)
		return pr_err("image %s: truncated record header", img->name);
	if (len > CS_MAX_RECORD)
		return pr_err("image %s: record length %u is corrupt", img->name, len);
	buf = xmalloc(len ? len : 1);
	if (!buf)
		return -1;
	if (img_read_raw(img, buf, len) != (ssize_t)len) {
		free(buf);
		return pr_err("image %s: truncated record", img->name);
	}
	*out = protobuf_c_message_unpack(desc, NULL, len, buf);
	free(buf);
	if (!*out)
		return pr_err("image %s: record does not decode as %s", img->name, desc->name);
	return 1;
}

int inventory_write(int dirfd, InventoryEntry *inv, struct img_sums *sums)
{
	ImageSum *arr, **ptrs;
	struct img *img;
	uint32_t crc;
	int ret;

	arr = xzalloc(sizeof(*arr) * (sums->n + 1));
	ptrs = xzalloc(sizeof(*ptrs) * (sums->n + 1));
	if (!arr || !ptrs) {
		free(arr);
		free(ptrs);
		return -1;
	}
	for (size_t i = 0; i < sums->n; i++) {
		image_sum__init(&arr[i]);
		arr[i].name = sums->names[i];
		arr[i].size = sums->sizes[i];
		arr[i].crc32c = sums->crcs[i];
		ptrs[i] = &arr[i];
	}
	inv->n_images = sums->n;
	inv->images = ptrs;
	img = img_create(dirfd, "inventory.img", MAGIC_INVENTORY);
	ret = img ? img_write_msg(img, &inv->base) : -1;
	if (!ret) {
		crc = img->crc;
		ret = img_write_raw(img, &crc, 4);
	}
	if (img && img_close(img, NULL))
		ret = -1;
	inv->n_images = 0;
	inv->images = NULL;
	free(arr);
	free(ptrs);
	return ret;
}

/* Size and CRC of one listed image. 0, or -1 with the reason in why (len bytes). */
static int check_image(int dirfd, const ImageSum *s, char *why, size_t len)
{
	char buf[1 << 16];
	uint32_t crc = 0;
	uint64_t size = 0;
	ssize_t r = 0;
	int fd;

	if (strchr(s->name, '/') || s->name[0] == '.')
		return snprintf(why, len, "inventory names a bad image file %s", s->name), -1;
	fd = open_image_fd(dirfd, s->name);
	if (fd < 0 && errno == EINVAL)
		return snprintf(why, len, "image %s is not a regular file", s->name), -1;
	if (fd < 0)
		return snprintf(why, len, "image %s listed in the inventory cannot be opened: %m", s->name), -1;
	while (size <= s->size && (r = read(fd, buf, sizeof(buf))) > 0) {
		crc = crc32c(crc, buf, r);
		size += r;
	}
	close(fd);
	if (r < 0)
		return snprintf(why, len, "cannot read image %s: %m", s->name), -1;
	if (size != s->size)
		return snprintf(why, len, "image %s is corrupt: %llu bytes, inventory says %llu", s->name,
				(unsigned long long)size, (unsigned long long)s->size), -1;
	if (crc != s->crc32c)
		return snprintf(why, len, "image %s is corrupt: checksum mismatch (crc32c %08x, inventory says %08x)",
				s->name, crc, s->crc32c), -1;
	return 0;
}

/* inventory_read with the reason in why; never logs. */
static int inv_read(int dirfd, InventoryEntry **out, char *why, size_t wlen)
{
	size_t len;
	uint8_t *buf = read_file_at(dirfd, "inventory.img", &len, CS_MAX_RECORD);
	uint32_t magic, rlen, crc;
	InventoryEntry *inv;

	if (!buf)
		return snprintf(why, wlen, "cannot read inventory.img (not an image directory?): %m"), -1;
	if (len < 12)
		goto corrupt;
	memcpy(&magic, buf, 4);
	memcpy(&rlen, buf + 4, 4);
	memcpy(&crc, buf + len - 4, 4);
	if (magic != MAGIC_INVENTORY || rlen != len - 12 || crc32c(0, buf, len - 4) != crc)
		goto corrupt;
	inv = inventory_entry__unpack(NULL, rlen, buf + 8);
	free(buf);
	if (!inv)
		return snprintf(why, wlen, "image inventory.img is corrupt: does not decode"), -1;
	if (inv->format_version != CS_FORMAT_VERSION) {
		snprintf(why, wlen, "inventory.img has format version %u (written by checksync %.64s); "
			 "this checksync (%s) reads version %u", inv->format_version,
			 inv->tool_version ? inv->tool_version : "of unknown version", PACKAGE_VERSION,
			 CS_FORMAT_VERSION);
		inventory_entry__free_unpacked(inv, NULL);
		return -1;
	}
	*out = inv;
	return 0;
corrupt:
	free(buf);
	return snprintf(why, wlen, "image inventory.img is corrupt: checksum or header mismatch"), -1;
}

int inventory_read(int dirfd, InventoryEntry **out, char *why, size_t len)
{
	char msg[512];

	if (why)
		return inv_read(dirfd, out, why, len);
	if (inv_read(dirfd, out, msg, sizeof(msg)))
		return pr_err("%s", msg);
	return 0;
}

int inventory_check_images(int dirfd, const InventoryEntry *inv, const char *only, char *why, size_t len)
{
	char msg[512];
	int found = 0;

	for (size_t i = 0; i < inv->n_images; i++) {
		if (only && strcmp(inv->images[i]->name, only))
			continue;
		found = 1;
		if (check_image(dirfd, inv->images[i], why ? why : msg, why ? len : sizeof(msg)))
			return why ? -1 : pr_err("%s", msg);
	}
	if (only && !found) {
		if (why)
			return snprintf(why, len, "image %s is not listed in the inventory", only), -1;
		return pr_err("image %s is not listed in the inventory", only);
	}
	return 0;
}

int inventory_load(int dirfd, InventoryEntry **out)
{
	InventoryEntry *inv;

	if (inventory_read(dirfd, &inv, NULL, 0))
		return -1;
	if (inventory_check_images(dirfd, inv, NULL, NULL, 0)) {
		inventory_entry__free_unpacked(inv, NULL);
		return -1;
	}
	loaded_inv = inv;
	*out = inv;
	return 0;
}

int img_listed(const char *name)
{
	if (!loaded_inv)
		return 0;
	for (size_t i = 0; i < loaded_inv->n_images; i++)
		if (!strcmp(loaded_inv->images[i]->name, name))
			return 1;
	return 0;
}

char *img_pname(char *buf, size_t len, const char *base, const char *sfx)
{
	snprintf(buf, len, "%s%s.img", base, sfx ? sfx : "");
	return buf;
}
