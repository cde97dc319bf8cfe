// SPDX-License-Identifier: GPL-2.0
/*
 * Data copy between request pages and the server's memory.
 *
 * FETCH/COMMIT buffers: the server's pages are pinned (FOLL_WRITE when the
 * driver writes them) a batch at a time and copied with local kmaps; this
 * runs in the server task (task work or the command's issue).
 * User copy (pread/pwrite on the char node) goes through the caller's
 * iov_iter directly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/uio.h>

#include "zublk.h"

#define ZUBLK_PIN_BATCH	16	/* server pages pinned at a time */

/* A window of pinned server pages moving forward over [addr, end). */
struct zublk_ubuf {
	unsigned long addr;		/* next user byte to copy */
	unsigned long end;		/* end of the user range */
	unsigned long base;		/* user address of pages[0] */
	unsigned int nr;		/* pinned pages in the window */
	bool to_user;			/* pages are written (FOLL_WRITE) */
	struct page *pages[ZUBLK_PIN_BATCH];
};

static void zublk_ubuf_unpin(struct zublk_ubuf *u)
{
	if (!u->nr)
		return;
	if (u->to_user)
		unpin_user_pages_dirty_lock(u->pages, u->nr, true);
	else
		unpin_user_pages(u->pages, u->nr);
	u->nr = 0;
}

/* Make the page holding u->addr part of the pinned window. */
static int zublk_ubuf_pin(struct zublk_ubuf *u)
{
	unsigned long want;
	int got;

	if (u->nr && u->addr < u->base + u->nr * PAGE_SIZE)
		return 0;
	zublk_ubuf_unpin(u);
	u->base = u->addr & PAGE_MASK;
	want = min_t(unsigned long, ZUBLK_PIN_BATCH,
		     DIV_ROUND_UP(u->end - u->base, PAGE_SIZE));
	got = pin_user_pages_fast(u->base, want,
				  u->to_user ? FOLL_WRITE : 0, u->pages);
	if (got <= 0)
		return got ? got : -EFAULT;
	u->nr = got;
	return 0;
}

/*
 * Copy min(len, request bytes) between @rq and user memory at @addr.
 * @to_user: request -> server.  Returns 0 or -errno.
 */
static int zublk_copy_pinned(struct request *rq, u64 addr, unsigned int len,
			     bool to_user)
{
	struct zublk_ubuf u = {
		.addr = addr,
		.end = addr + len,
		.to_user = to_user,
	};
	struct req_iterator it;
	struct bio_vec bv;
	int ret = 0;

	if (unlikely(u.end < u.addr))
		return -EFAULT;

	rq_for_each_segment(bv, rq, it) {
		unsigned int done = 0;

		while (done < bv.bv_len && u.addr < u.end) {
			unsigned int uoff = offset_in_page(u.addr);
			unsigned int n = min3(bv.bv_len - done,
					      (unsigned int)PAGE_SIZE - uoff,
					      (unsigned int)(u.end - u.addr));
			struct page *up;
			void *kreq, *kusr;

			ret = zublk_ubuf_pin(&u);
			if (ret)
				goto out_unpin;
			up = u.pages[(u.addr - u.base) >> PAGE_SHIFT];
			kreq = kmap_local_page(bv.bv_page);
			kusr = kmap_local_page(up);
			if (to_user)
				memcpy(kusr + uoff, kreq + bv.bv_offset + done, n);
			else
				memcpy(kreq + bv.bv_offset + done, kusr + uoff, n);
			kunmap_local(kusr);
			kunmap_local(kreq);
			if (!to_user)
				flush_dcache_page(bv.bv_page);
			done += n;
			u.addr += n;
		}
		if (u.addr >= u.end)
			break;
	}
out_unpin:
	zublk_ubuf_unpin(&u);
	return ret;
}

/* A write's data -> the server's buffer at @addr. */
int zublk_copy_to_server(struct request *rq, u64 addr)
{
	return zublk_copy_pinned(rq, addr, blk_rq_bytes(rq), true);
}

/* @len bytes of the server's buffer at @addr -> a read's pages. */
int zublk_copy_from_server(struct request *rq, u64 addr, unsigned int len)
{
	return zublk_copy_pinned(rq, addr, len, false);
}

/*
 * User copy: between @rq's data from byte @off and @iter.  @dir is the
 * iterator's direction: ITER_DEST reads the request, ITER_SOURCE fills it.
 * Returns bytes copied or -EFAULT when nothing could be.
 */
ssize_t zublk_copy_user(struct request *rq, size_t off, struct iov_iter *iter,
			int dir)
{
	struct req_iterator it;
	struct bio_vec bv;
	size_t done = 0;

	rq_for_each_segment(bv, rq, it) {
		size_t n, got;

		if (off >= bv.bv_len) {
			off -= bv.bv_len;
			continue;
		}
		n = bv.bv_len - off;
		if (dir == ITER_DEST)
			got = copy_page_to_iter(bv.bv_page, bv.bv_offset + off,
						n, iter);
		else
			got = copy_page_from_iter(bv.bv_page,
						  bv.bv_offset + off, n, iter);
		done += got;
		off = 0;
		if (got != n || !iov_iter_count(iter))
			break;
	}
	return done ? done : (iov_iter_count(iter) ? -EFAULT : 0);
}
