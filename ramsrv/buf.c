// SPDX-License-Identifier: GPL-2.0
/* ramsrv: NUMA-local, hugepage-backed buffers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <numa.h>
#include <numaif.h>
#include "ramsrv.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

int rs_huge_warned;

int rs_free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	int n = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

int rs_cpu_node(int cpu)
{
	int n;

	if (numa_available() < 0)
		return 0;
	n = numa_node_of_cpu(cpu);
	return n < 0 ? 0 : n;
}

int rs_addr_node(void *addr)
{
	int status = -1;
	void *pages[1] = { addr };

	if (move_pages(0, 1, pages, NULL, &status, 0) < 0)
		return -1;
	return status;
}

static void prefer_node(void *addr, size_t len, int node)
{
	unsigned long mask[16] = { 0 };

	if (numa_available() < 0 || node < 0 || node >= 16 * 64)
		return;
	mask[node / 64] = 1UL << (node % 64);
	/* preferred, not bound: never SIGBUS when the node runs dry */
	(void)mbind(addr, len, MPOL_PREFERRED, mask, sizeof(mask) * 8, 0);
}

/*
 * Allocate @len bytes on @node, backed by 2 MiB hugepages when @huge allows,
 * and fault it in so the memory really sits there before the first IO.
 */
int rs_buf_alloc(struct rs_buf *b, size_t len, int node, enum rs_huge huge,
		 const char *who)
{
	size_t hlen = (len + RS_HUGEPAGE_SIZE - 1) & ~(RS_HUGEPAGE_SIZE - 1);
	size_t off, pg = (size_t)sysconf(_SC_PAGESIZE);
	void *p = MAP_FAILED;

	memset(b, 0, sizeof(*b));
	if (huge != RS_HUGE_OFF) {
		p = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
			 -1, 0);
		if (p == MAP_FAILED) {
			int err = errno;

			if (huge == RS_HUGE_ON) {
				rs_err("%s: cannot get %zu 2 MiB hugepages (%d free): %s",
				       who, hlen / RS_HUGEPAGE_SIZE,
				       rs_free_hugepages(), strerror(err));
				return -ENOMEM;
			}
			if (!rs_huge_warned++)
				rs_warn("%s: no free 2 MiB hugepages for %zu MiB, using normal pages",
					who, hlen >> 20);
		} else {
			b->huge = true;
			len = hlen;
		}
	}
	if (p == MAP_FAILED) {
		len = (len + pg - 1) & ~(pg - 1);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			rs_err("%s: mmap %zu bytes: %s", who, len, strerror(errno));
			return -ENOMEM;
		}
	}
	prefer_node(p, len, node);
	for (off = 0; off < len; off += b->huge ? RS_HUGEPAGE_SIZE : pg)
		((volatile char *)p)[off] = 0;
	b->addr = p;
	b->len = len;
	b->node = rs_addr_node(p);
	return 0;
}

void rs_buf_free(struct rs_buf *b)
{
	if (b->addr)
		munmap(b->addr, b->len);
	b->addr = NULL;
}
