// SPDX-License-Identifier: GPL-2.0
/*
 * Data copy between request pages and the server's memory.
 *
 * FETCH/COMMIT buffers: with ZUBLK_F_PIN_BUF through the tag's long-term
 * pinned segments (pin.c); otherwise the server's pages are pinned
 * (FOLL_WRITE when the driver writes them) a batch at a time and copied
 * with local kmaps.  Either runs in the server task (task work or the
 * command's issue), so it counts on the queue's own[] counters.  The
 * per-IO path counts pins per folio too: consecutive pages of one folio in
 * one pin call are one pin (and one unpin).
 * User copy (pread/pwrite on the char node) goes through the caller's
 * iov_iter directly; ZUBLK_F_STORE copies between the request and the
 * pinned store at commit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <linux/timekeeping.h>

#include "zublk.h"

#define ZUBLK_PIN_BATCH	16	/* server pages pinned at a time */

/* A window of pinned server pages moving forward over [addr, end). */
struct zublk_ubuf {
	unsigned long addr;		/* next user byte to copy */
	unsigned long end;		/* end of the user range */
	unsigned long base;		/* user address of pages[0] */
	unsigned int nr;		/* pinned pages in the window */
	unsigned int folios;		/* folios pinned so far (all windows) */
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
	int got, i;

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
	/* pins are counted per folio: a run of pages of one folio is one */
	for (i = 0; i < got; i++)
		if (!i || page_folio(u->pages[i]) != page_folio(u->pages[i - 1]))
			u->folios++;
	return 0;
}

/*
 * Copy min(len, request bytes) between @rq and user memory at @addr.
 * @to_user: request -> server.  Returns 0 or -errno.
 */
static int zublk_copy_gup(struct zublk_queue *q, struct request *rq,
			  u64 addr, unsigned int len, bool to_user)
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
	zublk_stat_own(q, ZST_PINS, u.folios);
	zublk_stat_own(q, ZST_UNPINS, u.folios);
	return ret;
}

/* Through the long-term pinned buffer @p (@len fits, checked by the caller). */
static int zublk_copy_pbuf(struct request *rq, const struct zublk_pinned *p,
			   unsigned int len, bool to_user)
{
	struct iov_iter iter;
	unsigned int dir = to_user ? ITER_DEST : ITER_SOURCE;

	zublk_pinned_iter(p, dir, 0, len, &iter);
	return zublk_copy_user(rq, 0, &iter, dir) == len ? 0 : -EFAULT;
}

/*
 * Copy @len bytes between @rq and the server's buffer at @addr, through
 * @io's pinned buffer when it is the one at @addr.  Server task only.
 */
static int zublk_copy_server(struct zublk_queue *q, struct zublk_io *io,
			     struct request *rq, u64 addr, unsigned int len,
			     bool to_user)
{
	const struct zublk_pinned *p = io->pbuf;
	u64 t0;
	int ret;

	/*
	 * The buffer the server gave is max_io_buf_bytes long (fixed at
	 * ADD_DEV); SET_PARAMS keeps requests within it, and this keeps any
	 * request that is not from being copied past its end.
	 */
	if (unlikely(len > q->dev->info.max_io_buf_bytes)) {
		pr_warn_ratelimited("dev %d queue %u tag %td: %u-byte request above the %u-byte io buffer\n",
			q->dev->id, q->q_id, io - q->ios, len,
			q->dev->info.max_io_buf_bytes);
		return -EIO;
	}
	t0 = ktime_get_ns();
	if (p && p->addr == addr && len <= p->len)
		ret = zublk_copy_pbuf(rq, p, len, to_user);
	else
		ret = zublk_copy_gup(q, rq, addr, len, to_user);
	zublk_stat_own(q, ZST_COPIES, 1);
	zublk_stat_own(q, ZST_COPY_BYTES, ret ? 0 : len);
	zublk_stat_own(q, ZST_COPY_NS, ktime_get_ns() - t0);
	return ret;
}

/* A write's data -> the server's buffer at @addr. */
int zublk_copy_to_server(struct zublk_queue *q, struct zublk_io *io,
			 struct request *rq, u64 addr)
{
	return zublk_copy_server(q, io, rq, addr, blk_rq_bytes(rq), true);
}

/* @len bytes of the server's buffer at @addr -> a read's pages. */
int zublk_copy_from_server(struct zublk_queue *q, struct zublk_io *io,
			   struct request *rq, u64 addr, unsigned int len)
{
	return zublk_copy_server(q, io, rq, addr, len, false);
}

/*
 * A copy to or from the server's memory failed.  A server being killed
 * cannot pin its pages, so then the server, not its buffer, is what
 * failed: abort the device and return true (the caller treats the request
 * like any other of a lost server).  False: the buffer itself is bad.
 */
bool zublk_copy_lost_server(struct zublk_queue *q)
{
	if (!fatal_signal_pending(current))
		return false;
	zublk_abort_dev(q->dev);
	return true;
}

/*
 * ZUBLK_F_STORE commit of @rq with @result at store offset @off (server
 * task): a read's first n = min(result, bytes) bytes come from the store,
 * a write's go to it.  Returns the request's result: n, @result unchanged
 * when nothing is to move, or -EIO for a range outside the store.
 */
int zublk_store_copy(struct zublk_queue *q, struct request *rq, int result,
		     u64 off)
{
	struct zublk_dev *dev = q->dev;
	const struct zublk_pinned *st = dev->store;
	bool rd = req_op(rq) == REQ_OP_READ;
	unsigned int dir = rd ? ITER_SOURCE : ITER_DEST;
	struct iov_iter iter;
	unsigned int n;
	u64 t0;

	if (result <= 0 || off == ZUBLK_STORE_NONE ||
	    (!rd && req_op(rq) != REQ_OP_WRITE))
		return result;
	n = min_t(unsigned int, result, blk_rq_bytes(rq));
	if (unlikely(!st || off > st->len || n > st->len - off)) {
		if (!test_and_set_bit(ZLOG_STORE_RANGE, &dev->log_once))
			pr_warn("dev %d q %u tag %d: store range %#llx+%u outside the %llu-byte store; request failed with EIO (logged once)\n",
				dev->id, q->q_id, rq->tag, off, n,
				st ? st->len : 0);
		return -EIO;
	}
	t0 = ktime_get_ns();
	zublk_pinned_iter(st, dir, off, n, &iter);
	if (zublk_copy_user(rq, 0, &iter, dir) != n)
		result = -EIO;	/* cannot happen: both sides are kernel pages */
	else
		result = n;
	zublk_stat_own(q, ZST_COPIES, 1);
	zublk_stat_own(q, ZST_COPY_BYTES, result > 0 ? n : 0);
	zublk_stat_own(q, ZST_COPY_NS, ktime_get_ns() - t0);
	return result;
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
