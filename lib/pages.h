/*
 * Page images: pagemap.img (one record per run of pages, in address order)
 * and pages.img (one zstd stream with the 4 KiB pages of every data run,
 * concatenated in record order). See checksync-images(5).
 */
#ifndef CS_PAGES_H
#define CS_PAGES_H

#include <stddef.h>
#include <stdint.h>

/* pagemap record types: PM_PARENT pages are unchanged since the parent
 * checkpoint of an incremental one and are read from there (pagechain.h) */
enum { PM_DATA = 1, PM_ZERO = 2, PM_DEAD = 3, PM_PARENT = 4 };

struct img_sums;
struct page_writer;
struct page_reader;

/*
 * pw_set_workers - compress the page stream of every writer opened from now
 * on with n threads besides the caller (zstd's ZSTD_c_nbWorkers; 0, the
 * default: in the calling thread). Worth it only while nothing else needs
 * the CPUs: cs-dump uses it when the target is frozen until the end.
 * Ignored by a libzstd built without threads (the stream is the same
 * format either way).
 */
void pw_set_workers(int n);

/* pw_open - create pagemap.img and pages.img in dirfd. NULL on error (logged). */
struct page_writer *pw_open(int dirfd);
/* pw_open_as - the same for the process with image suffix sfx (img_pname). */
struct page_writer *pw_open_as(int dirfd, const char *sfx);

/*
 * pw_add - record nr_pages 4 KiB pages at vaddr of the given type; for
 * PM_DATA, data holds nr_pages * 4096 bytes to compress. Adjacent runs of the
 * same type are merged into one record. Returns 0 or -1.
 */
int pw_add(struct page_writer *pw, uint64_t vaddr, uint64_t nr_pages, int type, const void *data);

/*
 * pw_close - finish the zstd stream, write the last record, close both
 * images (adding them to sums). *bytes gets the compressed size of
 * pages.img. Frees pw. Returns 0 or -1.
 */
int pw_close(struct page_writer *pw, struct img_sums *sums, uint64_t *bytes);
void pw_abort(struct page_writer *pw);

/* pr_open - open both images for reading. NULL on error (logged). */
struct page_reader *pr_open(int dirfd);
/* pr_open_as - the same for the process with image suffix sfx (img_pname). */
struct page_reader *pr_open_as(int dirfd, const char *sfx);

/*
 * pr_next - the next pagemap record: *vaddr, *nr_pages, *type. Returns 1, 0 at
 * the end, -1 on a corrupt record.
 */
int pr_next(struct page_reader *pr, uint64_t *vaddr, uint64_t *nr_pages, int *type);

/* pr_read - the next len bytes of the page stream into buf. Returns 0 or -1 (truncated/corrupt). */
int pr_read(struct page_reader *pr, void *buf, size_t len);

/* pr_skip - decompress and drop the next len bytes of the page stream. Returns 0 or -1. */
int pr_skip(struct page_reader *pr, size_t len);

void pr_close(struct page_reader *pr);

#endif
