/*
 * cs-show: print an image directory as one JSON object, for people and for
 * jq. Records are printed by walking their protobuf-c descriptors, so a field
 * added to a .proto shows up here without a change to this file.
 */
#include "config.h"
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "cs-show: "
#include "log.h"
#include "image.h"
#include "util.h"
#include "imgfeatures.h"
#include "inventory.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "fdinfo.pb-c.h"
#include "stats.pb-c.h"
#include "regfile.pb-c.h"
#include "timens.pb-c.h"
#include "cgroup.pb-c.h"

/* Image kinds printed under "images"; inventory and stats are handled apart. */
static const struct kind {
	const char *name;	/* file name, or a prefix ending in '-': "<prefix><TID>.img" */
	uint32_t magic;
	const ProtobufCMessageDescriptor *desc;	/* NULL: raw stream, size only */
} kinds[] = {
	{ "pstree.img",		MAGIC_PSTREE,	&process_entry__descriptor },
	{ "core-",		MAGIC_CORE,	&thread_core_entry__descriptor },
	{ "mm.img",		MAGIC_MM,	&mm_entry__descriptor },
	{ "pagemap.img",	MAGIC_PAGEMAP,	&pagemap_entry__descriptor },
	{ "pages.img",		MAGIC_PAGES,	NULL },
	{ "files.img",		MAGIC_FILES,	&fd_entry__descriptor },
	{ "file-locks.img",	MAGIC_FILE_LOCKS, &file_lock_entry__descriptor },
	{ "ghost-files.img",	MAGIC_GHOST_FILES, &ghost_file_entry__descriptor },
	{ "timens.img",		MAGIC_TIMENS,	&timens_entry__descriptor },
	{ "shmem.img",		MAGIC_SHMEM,	&shmem_entry__descriptor },
	{ "cgroup.img",		MAGIC_CGROUP,	&cgroup_entry__descriptor },
	{ "pagemap-shmem-",	MAGIC_PAGEMAP,	&pagemap_entry__descriptor },
	{ "pages-shmem-",	MAGIC_PAGES,	NULL },
};

/* "core-TID.img"; and the per-process images of a process tree other than
 * the root's: "mm-PID.img" for "mm.img" (img_pname). */
static const struct kind *kind_of(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		const struct kind *k = &kinds[i];
		size_t l = strlen(k->name), d;

		if (k->name[l - 1] != '-' ? !strcmp(name, k->name) : !strncmp(name, k->name, l) &&
		    (d = strspn(name + l, "0123456789")) && !strcmp(name + l + d, ".img"))
			return k;
		if (k->name[l - 1] != '-' && strcmp(k->name, "pstree.img") && strcmp(k->name, "timens.img") &&
		    strcmp(k->name, "shmem.img") && strcmp(k->name, "cgroup.img") &&
		    !strncmp(name, k->name, l - 4) && name[l - 4] == '-' &&
		    (d = strspn(name + l - 3, "0123456789")) && !strcmp(name + l - 3 + d, ".img"))
			return k;
	}
	return NULL;
}

/* Elements of objects and arrays go one per line, indented by depth. */
static void put_sep(FILE *f, int first, int depth)
{
	fprintf(f, "%s\n%*s", first ? "" : ",", depth * 2, "");
}

static void put_close(FILE *f, int nonempty, int depth, char c)
{
	fprintf(f, "%s%*s%c", nonempty ? "\n" : "", nonempty ? depth * 2 : 0, "", c);
}

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	size_t n = *p < 0x80 ? 1 : *p >= 0xc2 && *p < 0xe0 ? 2 :
		   *p >= 0xe0 && *p < 0xf0 ? 3 : *p >= 0xf0 && *p < 0xf5 ? 4 : 0, i = 1;

	if (n > avail)
		return 0;
	while (i < n && (p[i] & 0xc0) == 0x80)
		i++;
	return i == n ? n : 0;
}

/*
 * Paths and comm come from the kernel and need not be UTF-8; a byte that does
 * not start a valid sequence is printed as \u00XX so the output stays JSON.
 */
static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end;

	if (!s) {
		fputs("null", f);
		return;
	}
	end = p + strlen(s);
	fputc('"', f);
	while (p < end) {
		size_t n = utf8_len(p, end - p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || !n)
			fprintf(f, "\\u%04x", *p);
		else {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', f);
}

static void put_msg(FILE *f, const ProtobufCMessage *m, int depth);

/* Print one value of field fd stored at p. */
static void put_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p, int depth)
{
	const ProtobufCBinaryData *b = p;
	const ProtobufCEnumValue *ev;
	double d;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(f, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(f, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(f, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(f, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		d = fd->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
		isfinite(d) ? fprintf(f, "%.17g", d) : fputs("null", f);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p);
		if (ev)
			put_string(f, ev->name);
		else
			fprintf(f, "%d", *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		put_string(f, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		fputc('"', f);
		for (size_t i = 0; i < b->len; i++)
			fprintf(f, "%02x", b->data[i]);
		fputc('"', f);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		put_msg(f, *(ProtobufCMessage *const *)p, depth);
		break;
	}
}

/* Size of one element of a repeated field, as protobuf-c lays the array out. */
static size_t elem_size(ProtobufCType t)
{
	if (t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE)
		return sizeof(void *);
	if (t == PROTOBUF_C_TYPE_BYTES)
		return sizeof(ProtobufCBinaryData);
	if (t == PROTOBUF_C_TYPE_INT64 || t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64 ||
	    t == PROTOBUF_C_TYPE_UINT64 || t == PROTOBUF_C_TYPE_FIXED64 || t == PROTOBUF_C_TYPE_DOUBLE)
		return 8;
	return 4;	/* 32-bit ints, float, enum, protobuf_c_boolean */
}

/* Repeated scalars go on one line; repeated messages one per line. */
static void put_array(FILE *f, const ProtobufCFieldDescriptor *fd, size_t n, const char *arr, int depth)
{
	int nested = fd->type == PROTOBUF_C_TYPE_MESSAGE;

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (nested)
			put_sep(f, !i, depth + 1);
		else if (i)
			fputs(", ", f);
		put_value(f, fd, arr + i * elem_size(fd->type), depth + 1);
	}
	put_close(f, nested && n, depth, ']');
}

/* An absent optional (or unselected oneof) field is left out of the object. */
static int field_present(const ProtobufCFieldDescriptor *fd, const char *base)
{
	const void *q = base + fd->quantifier_offset;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)q == fd->id;
	if (fd->label != PROTOBUF_C_LABEL_OPTIONAL)
		return 1;
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_STRING)
		return *(void *const *)(base + fd->offset) != NULL;
	return *(const protobuf_c_boolean *)q;
}

static void put_msg(FILE *f, const ProtobufCMessage *m, int depth)
{
	const char *base = (const char *)m;
	int n = 0;

	if (!m) {
		fputs("null", f);
		return;
	}
	fputc('{', f);
	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];

		if (!field_present(fd, base))
			continue;
		put_sep(f, !n++, depth + 1);
		put_string(f, fd->name);
		fputs(": ", f);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			put_array(f, fd, *(const size_t *)(base + fd->quantifier_offset),
				  *(char *const *)(base + fd->offset), depth + 1);
		else
			put_value(f, fd, base + fd->offset, depth + 1);
	}
	put_close(f, n, depth, '}');
}

/* All records of one image as an array; the page stream as its size only. */
static int show_image(FILE *f, int dirfd, const char *name, const struct kind *k, int depth)
{
	struct img *img = img_open(dirfd, name, k->magic);
	uint64_t bytes = 0;
	ProtobufCMessage *m;
	char buf[16384];
	ssize_t r;
	int n = 0;

	if (!img)
		return -1;
	if (!k->desc) {
		while ((r = img_read_raw(img, buf, sizeof(buf))) > 0)
			bytes += r;
		fprintf(f, "{\"bytes\": %" PRIu64 "}", bytes);
	} else {
		fputc('[', f);
		while ((r = img_read_msg(img, k->desc, &m)) == 1) {
			put_sep(f, !n++, depth + 1);
			put_msg(f, m, depth + 1);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		put_close(f, n, depth, ']');
	}
	img_free(img);
	return r < 0 ? -1 : 0;
}

/* Every known image in the directory, in name order (core-99 before core-100). */
static int show_images(FILE *f, const char *dir, int dirfd)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, versionsort), ret = 0, shown = 0;

	if (n < 0)
		return pr_perror("cannot list image directory %s", dir);
	fputc('{', f);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		const struct kind *k = kind_of(name);

		if (!ret && k) {
			put_sep(f, !shown++, 2);
			put_string(f, name);
			fputs(": ", f);
			ret = show_image(f, dirfd, name, k, 2);
		}
		free(ents[i]);
	}
	free(ents);
	put_close(f, shown, 1, '}');
	return ret;
}

/* read_one - the first record of image NAME, an image of a single record. */
static int read_one(int dirfd, const char *name, uint32_t magic, const ProtobufCMessageDescriptor *desc,
		    ProtobufCMessage **out)
{
	struct img *img = img_open(dirfd, name, magic);
	int r;

	if (!img)
		return -1;
	r = img_read_msg(img, desc, out);
	img_free(img);
	if (r == 0)
		return pr_err("image %s has no record", name);
	return r < 0 ? -1 : 0;
}

/*
 * The inventory's features this checksync does not know (lib/imgfeatures.h),
 * as a JSON array, each with a warning: shown, where cs-restore refuses.
 */
static void put_unknown_features(FILE *f, const InventoryEntry *inv)
{
	char why[256];
	int n = 0;

	fputc('[', f);
	for (size_t i = 0; i < inv->n_features; i++) {
		if (!features_check(&inv->features[i], 1, inv->tool_version, why, sizeof(why)))
			continue;
		pr_warn("%s: cs-restore refuses these images", why);
		put_sep(f, !n++, 2);
		put_string(f, inv->features[i]);
	}
	put_close(f, n, 1, ']');
}

static int show_dir(const char *dir, int verify)
{
	ProtobufCMessage *stats = NULL, *m = NULL;
	InventoryEntry *inv = NULL;
	char *text = NULL;
	size_t len = 0;
	int dirfd, ret = -1;
	FILE *f;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return pr_perror("cannot open image directory %s", dir);
	/* Built in memory: a corrupt image must not leave half a JSON on stdout. */
	f = open_memstream(&text, &len);
	if (!f) {
		close(dirfd);
		return pr_perror("cannot allocate the output buffer");
	}
	/*
	 * stats-dump.img first: written last, when the time frozen is known, it
	 * may be unlisted, and after inventory_load img_open refuses unlisted images.
	 */
	if (!faccessat(dirfd, "stats-dump.img", F_OK, 0) &&
	    read_one(dirfd, "stats-dump.img", MAGIC_STATS, &dump_stats_entry__descriptor, &stats))
		goto out;
	/* --no-verify: decode the record, trust neither the trailer nor the sums */
	if (verify ? inventory_load(dirfd, &inv) :
		     read_one(dirfd, "inventory.img", MAGIC_INVENTORY, &inventory_entry__descriptor, &m))
		goto out;
	inv = verify ? inv : (InventoryEntry *)m;
	fputs("{\n  \"inventory\": ", f);
	put_msg(f, &inv->base, 1);
	fputs(",\n  \"unknown_features\": ", f);
	put_unknown_features(f, inv);
	fputs(",\n  \"stats\": ", f);
	put_msg(f, stats, 1);
	fputs(",\n  \"images\": ", f);
	if (show_images(f, dir, dirfd))
		goto out;
	fputs("\n}\n", f);
	ret = 0;
out:
	if (fclose(f) && !ret)
		ret = pr_perror("cannot build the output");
	if (!ret && (fwrite(text, 1, len, stdout) != len || fflush(stdout)))
		ret = pr_perror("cannot write to stdout");
	free(text);
	close(dirfd);
	if (stats)
		protobuf_c_message_free_unpacked(stats, NULL);
	/* image.c keeps a pointer to the loaded inventory: no img_open after this */
	if (inv)
		inventory_entry__free_unpacked(inv, NULL);
	return ret;
}

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: cs-show [-h|--help] [-V|--version] [--no-verify] DIR\n"
		"Print the checksync image directory DIR as one JSON object.\n"
		"  --no-verify  do not check the inventory and image checksums\n");
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int verify = 1, c;

	log_init(LOG_WARN, NULL);
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return usage(stdout, 0);
		case 'V':
			printf("cs-show %s\n", PACKAGE_VERSION);
			return 0;
		case 'n':
			verify = 0;
			break;
		default:
			return usage(stderr, 1);
		}
	}
	if (optind != argc - 1)
		return usage(stderr, 1);
	return show_dir(argv[optind], verify) ? 1 : 0;
}
