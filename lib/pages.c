/* Page images: see pages.h. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define LOG_PREFIX "pages: "
#include "log.h"
#include "util.h"
#include "image.h"
#include "pages.h"
#include "mm.pb-c.h"

#define OUTBUF (1 << 20)

struct page_writer {
	struct img *pm, *pg;
	ZSTD_CCtx *cctx;
	void *out;
	uint64_t vaddr, nr;	/* pending run */
	int type;
};

struct page_reader {
	struct img *pm, *pg;
	ZSTD_DCtx *dctx;
	void *in;
	ZSTD_inBuffer ib;
	int eof;
};

struct page_writer *pw_open(int dirfd)
{
	return pw_open_as(dirfd, "");
}

static int zstd_workers;

void pw_set_workers(int n)
{
	zstd_workers = n;
}

struct page_writer *pw_open_as(int dirfd, const char *sfx)
{
	struct page_writer *pw = xzalloc(sizeof(*pw));
	char n[64];

	if (!pw)
		return NULL;
	pw->pm = img_create(dirfd, img_pname(n, sizeof(n), "pagemap", sfx), MAGIC_PAGEMAP);
	pw->pg = img_create(dirfd, img_pname(n, sizeof(n), "pages", sfx), MAGIC_PAGES);
	pw->cctx = ZSTD_createCCtx();
	pw->out = xmalloc(OUTBUF);
	if (!pw->pm || !pw->pg || !pw->cctx || !pw->out) {
		pw_abort(pw);
		return NULL;
	}
	/* level 1: the page stream is written while the target may be frozen */
	ZSTD_CCtx_setParameter(pw->cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(pw->cctx, ZSTD_c_checksumFlag, 1);
	if (zstd_workers > 0)
		ZSTD_CCtx_setParameter(pw->cctx, ZSTD_c_nbWorkers, zstd_workers);
	return pw;
}

static int flush_run(struct page_writer *pw)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;

	if (!pw->nr)
		return 0;
	pe.vaddr = pw->vaddr;
	pe.nr_pages = pw->nr;
	pe.type = pw->type;
	pw->nr = 0;
	return img_write_msg(pw->pm, &pe.base);
}

static int compress(struct page_writer *pw, const void *data, size_t len, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { pw->out, OUTBUF, 0 };
		size_t r = ZSTD_compressStream2(pw->cctx, &out, &in, end);

		if (ZSTD_isError(r))
			return pr_err("zstd: %s", ZSTD_getErrorName(r));
		if (out.pos && img_write_raw(pw->pg, pw->out, out.pos))
			return -1;
		if (end == ZSTD_e_end ? r == 0 : in.pos == in.size)
			return 0;
	}
}

int pw_add(struct page_writer *pw, uint64_t vaddr, uint64_t nr, int type, const void *data)
{
	if (!nr)
		return 0;
	if (pw->nr && (pw->type != type || pw->vaddr + pw->nr * PAGE_SIZE != vaddr || pw->nr + nr > UINT32_MAX))
		if (flush_run(pw))
			return -1;
	if (!pw->nr) {
		pw->vaddr = vaddr;
		pw->type = type;
	}
	pw->nr += nr;
	if (type == PM_DATA)
		return compress(pw, data, nr * PAGE_SIZE, ZSTD_e_continue);
	return 0;
}

int pw_close(struct page_writer *pw, struct img_sums *sums, uint64_t *bytes)
{
	int ret = flush_run(pw) || compress(pw, "", 0, ZSTD_e_end) ? -1 : 0;

	if (img_close(pw->pm, sums))
		ret = -1;
	pw->pm = NULL;
	if (img_close(pw->pg, sums))
		ret = -1;
	pw->pg = NULL;
	if (!ret && bytes)
		*bytes = sums->sizes[sums->n - 1];	/* pages.img, just added */
	pw_abort(pw);
	return ret;
}

void pw_abort(struct page_writer *pw)
{
	if (!pw)
		return;
	img_free(pw->pm);
	img_free(pw->pg);
	ZSTD_freeCCtx(pw->cctx);
	free(pw->out);
	free(pw);
}

struct page_reader *pr_open(int dirfd)
{
	return pr_open_as(dirfd, "");
}

struct page_reader *pr_open_as(int dirfd, const char *sfx)
{
	struct page_reader *pr = xzalloc(sizeof(*pr));
	char n[64];

	if (!pr)
		return NULL;
	pr->pm = img_open(dirfd, img_pname(n, sizeof(n), "pagemap", sfx), MAGIC_PAGEMAP);
	pr->pg = img_open(dirfd, img_pname(n, sizeof(n), "pages", sfx), MAGIC_PAGES);
	pr->dctx = ZSTD_createDCtx();
	pr->in = xmalloc(OUTBUF);
	if (!pr->pm || !pr->pg || !pr->dctx || !pr->in) {
		pr_close(pr);
		return NULL;
	}
	pr->ib.src = pr->in;
	return pr;
}

int pr_next(struct page_reader *pr, uint64_t *vaddr, uint64_t *nr, int *type)
{
	PagemapEntry *pe;
	int r = img_read_msg(pr->pm, &pagemap_entry__descriptor, (ProtobufCMessage **)&pe);

	if (r <= 0)
		return r;
	*vaddr = pe->vaddr;
	*nr = pe->nr_pages;
	*type = pe->type;
	pagemap_entry__free_unpacked(pe, NULL);
	if ((*vaddr & (PAGE_SIZE - 1)) || *type < PM_DATA || *type > PM_PARENT || !*nr)
		return pr_err("pagemap.img: corrupt record at %#llx", (unsigned long long)*vaddr);
	return 1;
}

int pr_read(struct page_reader *pr, void *buf, size_t len)
{
	ZSTD_outBuffer out = { buf, len, 0 };

	while (out.pos < out.size) {
		size_t r;

		if (pr->ib.pos == pr->ib.size && !pr->eof) {
			ssize_t n = img_read_raw(pr->pg, pr->in, OUTBUF);

			if (n < 0)
				return -1;
			if (n == 0)
				pr->eof = 1;
			pr->ib.size = n;
			pr->ib.pos = 0;
		}
		r = ZSTD_decompressStream(pr->dctx, &out, &pr->ib);
		if (ZSTD_isError(r))
			return pr_err("pages.img is corrupt: %s", ZSTD_getErrorName(r));
		if (pr->eof && pr->ib.pos == pr->ib.size && out.pos < out.size)
			return pr_err("pages.img is truncated");
	}
	return 0;
}

int pr_skip(struct page_reader *pr, size_t len)
{
	static uint8_t sink[64 * PAGE_SIZE];

	while (len) {
		size_t n = len < sizeof(sink) ? len : sizeof(sink);

		if (pr_read(pr, sink, n))
			return -1;
		len -= n;
	}
	return 0;
}

void pr_close(struct page_reader *pr)
{
	if (!pr)
		return;
	img_free(pr->pm);
	img_free(pr->pg);
	ZSTD_freeDCtx(pr->dctx);
	free(pr->in);
	free(pr);
}
