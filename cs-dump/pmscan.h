/*
 * The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7): ranges of pages
 * by category, instead of one 8-byte pagemap entry per page. Not in Debian
 * 12's kernel headers (6.1): the values are those of include/uapi/linux/fs.h
 * in 6.7 and later. Source: Documentation/admin-guide/mm/pagemap.rst,
 * "PAGEMAP_SCAN"; fs/proc/task_mmu.c, pagemap_page_category (a uffd-wp PTE
 * marker counts as PAGE_IS_SWAPPED, the zero page as present and not file).
 */
#ifndef CS_PMSCAN_H
#define CS_PMSCAN_H

#include <stdint.h>
#include <sys/ioctl.h>

struct cs_page_region {
	uint64_t start, end, categories;	/* bytes, [start, end) */
};

struct cs_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define CS_PAGEMAP_SCAN _IOWR('f', 16, struct cs_pm_scan_arg)
#define CS_PM_SCAN_WP_MATCHING (1 << 0)
#define CS_PAGE_IS_WPALLOWED (1 << 0)
#define CS_PAGE_IS_WRITTEN (1 << 1)
#define CS_PAGE_IS_FILE (1 << 2)
#define CS_PAGE_IS_PRESENT (1 << 3)
#define CS_PAGE_IS_SWAPPED (1 << 4)

#endif
