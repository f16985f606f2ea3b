/*
 * Image files: a 4-byte magic, then records, each a 4-byte little-endian
 * length followed by that many bytes of one protobuf message. The inventory
 * records the size and CRC-32C of every other image; the inventory itself ends
 * with a 4-byte CRC-32C of all its preceding bytes.
 */
#ifndef CS_IMAGE_H
#define CS_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <protobuf-c/protobuf-c.h>

#define CS_FORMAT_VERSION 1
#define CS_MAX_RECORD (256u << 20)	/* bytes; a larger length on disk is corruption */

/* Magics, one per image kind (little-endian u32 at offset 0). */
#define MAGIC_INVENTORY 0x43534956u	/* "VISC" */
#define MAGIC_PSTREE	0x43535053u
#define MAGIC_CORE	0x4353434fu
#define MAGIC_MM	0x43534d4du
#define MAGIC_PAGEMAP	0x4353504du
#define MAGIC_PAGES	0x43535047u
#define MAGIC_FILES	0x43534644u
#define MAGIC_STATS	0x43535354u
#define MAGIC_FILE_LOCKS 0x43534c46u	/* "FLSC" */
#define MAGIC_GHOST_FILES 0x43534847u	/* "GHSC" */
#define MAGIC_TIMENS	0x4353544eu	/* "NTSC" */
#define MAGIC_SHMEM	0x4353484du	/* "MHSC" */
#define MAGIC_CGROUP	0x43534743u	/* "CGSC" */

/* VmaEntry.kind: what a VMA is (mm.proto) */
enum vma_kind { VK_ANON = 1, VK_ANON_SHARED, VK_FILE, VK_FILE_SHARED, VK_VDSO, VK_VVAR, VK_VVAR_VCLOCK, VK_VSYSCALL,
		VK_MEMFD = 10 };

/* FdEntry.type: what an fd points at (fdinfo.proto) */
enum fd_type { FD_REG = 1, FD_CHR, FD_PIPE, FD_FIFO, FD_EPOLL, FD_EVENTFD, FD_INET,
	       FD_DIR = 8,	/* a directory opened with open(2), O_RDONLY (O_DIRECTORY) */
	       FD_UNIX = 16,
	       /* 20..29: timers and the fd kinds around them */
	       FD_TIMERFD = 20, FD_SIGNALFD, FD_INOTIFY,
	       FD_SHMEM = 23,
	       /* 26..27: pseudo-terminal pairs held in the tree (pty.c) */
	       FD_PTY_MASTER = 26, FD_PTY_SLAVE = 27,
	       /* 180..189: pidfds on processes of the tree (cs-dump/pidfd.c) */
	       FD_PIDFD = 180,
	       /* 200..209: netlink sockets (cs-dump/sk-netlink.c) */
	       FD_NETLINK = 200,
	       /* 220..229: packet sockets (cs-dump/sk-packet.c) */
	       FD_PACKET = 220 };

/* ShmemEntry.kind (mm.proto) */
enum shmem_kind { SHM_ANON = 1, SHM_MEMFD = 2 };

struct img;

/*
 * img_pname - the file name of per-process image `base` ("mm", "files",
 * ...) for the process whose suffix is sfx: "" for the root of the tree
 * (mm.img, as in a single-process dump), "-PID" for the others
 * (mm-PID.img). Writes at most len bytes to buf and returns buf.
 */
char *img_pname(char *buf, size_t len, const char *base, const char *sfx);

/* crc32c - CRC-32C (Castagnoli) of len bytes, continuing from crc (start with 0). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * img_create - create image NAME in directory dirfd for writing, write its magic.
 * Returns a handle or NULL (error logged).
 */
struct img *img_create(int dirfd, const char *name, uint32_t magic);

/* img_write_msg - append one record. Returns 0 or -1 (error logged). */
int img_write_msg(struct img *img, const ProtobufCMessage *msg);

/* img_write_raw - append raw bytes (pages.img only). Returns 0 or -1. */
int img_write_raw(struct img *img, const void *buf, size_t len);

/*
 * img_close - flush, fsync-free close. When sums is non-NULL the file's name,
 * size and CRC are appended to it for the inventory. Returns 0 or -1.
 */
struct img_sums;
int img_close(struct img *img, struct img_sums *sums);

/*
 * img_defer_sync - with on != 0, img_close of an image being written no
 * longer fdatasyncs it: it starts its writeback (sync_file_range(2),
 * SYNC_FILE_RANGE_WRITE, which does not wait) and keeps its fd open until
 * img_sync_deferred. Long images (pages.img) also start the writeback of
 * each 4 MiB as they are written. One fdatasync(2) after the other then
 * finds the data written and, on a journaling filesystem, the journal
 * committed by the first: the images are as durable as with one
 * fdatasync at each close, for about the cost of one. At most 128 images
 * are kept at a time (img_close syncs them early when the list is full).
 *
 * img_sync_deferred - fdatasync and close every kept image. Returns 0, or
 * -1 when one of them failed (error logged, naming the image; the others
 * are closed all the same).
 *
 * img_drop_deferred - close the kept images without syncing (a failed dump).
 */
void img_defer_sync(int on);
int img_sync_deferred(void);
void img_drop_deferred(void);

/* Accumulated image sums (owned by the dump driver). */
struct img_sums {
	size_t n;
	char **names;
	uint64_t *sizes;
	uint32_t *crcs;
};
void img_sums_free(struct img_sums *s);

/*
 * img_open - open image NAME for reading, check its magic. When the inventory
 * was loaded with img_verify_all, NAME must be listed there. Returns a handle
 * or NULL (error logged, naming the image).
 */
struct img *img_open(int dirfd, const char *name, uint32_t magic);

/*
 * img_read_msg - read the next record and unpack it with desc.
 * Returns 1 and sets *out, 0 at a clean end of file, -1 on a short or
 * corrupt record (error logged). Free with protobuf_c_message_free_unpacked.
 */
int img_read_msg(struct img *img, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out);

/* img_read_raw - read up to len raw bytes; returns bytes read, 0 at EOF, -1 on error. */
ssize_t img_read_raw(struct img *img, void *buf, size_t len);

void img_free(struct img *img);

/*
 * Inventory. inventory_write writes inventory.img with the sums of every image
 * written so far. inventory_load reads and checks inventory.img (its own CRC,
 * magic, format version) and then every image it lists (size and CRC), so a
 * restore can refuse a damaged directory before touching anything. The loaded
 * message is returned through *out (free with inventory_entry__free_unpacked).
 * Both return 0 or -1 (error logged, naming the image).
 */
struct InventoryEntry;
/* img_listed - 1 when the inventory loaded by inventory_load lists image
 * NAME (an image written only when it has records), 0 otherwise. */
int img_listed(const char *name);
int inventory_write(int dirfd, struct InventoryEntry *inv, struct img_sums *sums);
int inventory_load(int dirfd, struct InventoryEntry **out);

/*
 * inventory_read - read inventory.img of dirfd and check only itself (magic,
 * its own CRC, format version); the images it lists are not read and the
 * inventory does not become the one img_open checks names against (used for
 * the parents of an incremental checkpoint). Returns 0 and *out, or -1 with
 * the reason logged (why == NULL) or put in why (len bytes).
 */
int inventory_read(int dirfd, struct InventoryEntry **out, char *why, size_t len);

/*
 * inventory_check_images - check size and CRC-32C of every image inv lists
 * (only == NULL), or of image `only` alone (which must be listed). Returns
 * 0, or -1 with the reason, naming the image, logged (why == NULL) or put
 * in why (len bytes) for the caller to say in its own words.
 */
int inventory_check_images(int dirfd, const struct InventoryEntry *inv, const char *only, char *why, size_t len);

#endif
