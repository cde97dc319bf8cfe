// SPDX-License-Identifier: GPL-2.0
/*
 * Long-term pins of server memory: ZUBLK_F_PIN_BUF FETCH buffers (one per
 * tag) and the ZUBLK_F_STORE region (one per device).
 *
 * A range is pinned FOLL_LONGTERM | FOLL_WRITE (the driver writes it), then
 * folded into segments, one per run of pages of one folio, keeping one pin
 * per segment: the extra per-page pins GUP took on a large folio are given
 * back at once, so a 2 MiB hugepage costs one pin and one bio_vec.  The
 * segments are an ordinary bio_vec array, so copies use iov_iter_bvec().
 * Who may use and drop them: see "Long-term pins" in zublk.h.
 *
 * Every range is charged before it is pinned, as io_uring charges its
 * registered buffers (struct zublk_charge): so a server cannot pin more
 * than its RLIMIT_MEMLOCK allows unless it has CAP_IPC_LOCK, and its pins
 * show as VmPin.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/bvec.h>
#include <linux/capability.h>
#include <linux/sched/mm.h>
#include <linux/sched/user.h>
#include <linux/sched/signal.h>

#include "zublk.h"

/*
 * zublk_pin()'s error for "over RLIMIT_MEMLOCK", so its callers can say so
 * in their log line; the server gets -ENOMEM, as from io_uring.
 */
#define ZUBLK_EMEMLOCK	EDQUOT

/*
 * Charge @npages to the current task (see struct zublk_charge): its user's
 * locked_vm may not pass RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK (then
 * the user is not charged at all), and its mm's pinned_vm grows.  Returns
 * 0 with references to both in @c, or -ZUBLK_EMEMLOCK.
 */
static int zublk_charge(struct zublk_charge *c, unsigned long npages)
{
	struct user_struct *user = NULL;
	unsigned long limit, cur;

	if (unlikely(!current->mm))
		return -EFAULT;
	if (!ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK)) {
		user = current_user();
		limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
		cur = atomic_long_read(&user->locked_vm);
		do {
			if (unlikely(npages > limit || cur > limit - npages))
				return -ZUBLK_EMEMLOCK;
		} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur,
						  cur + npages));
		get_uid(user);
	}
	c->user = user;
	c->mm = current->mm;
	mmgrab(c->mm);
	atomic64_add(npages, &c->mm->pinned_vm);
	c->pages = npages;
	return 0;
}

/* Take back exactly the charge @c, from any task. */
static void zublk_uncharge(struct zublk_charge *c)
{
	if (c->user) {
		atomic_long_sub(c->pages, &c->user->locked_vm);
		free_uid(c->user);
	}
	atomic64_sub(c->pages, &c->mm->pinned_vm);
	mmdrop(c->mm);
}

/* Same folio and the next page of it: one segment. */
static bool zublk_same_run(struct page *prev, struct page *next)
{
	return page_folio(prev) == page_folio(next) && next == prev + 1;
}

/* Build the segments of @pages (@npages, pinned) for [addr, addr + len). */
static struct zublk_pinned *zublk_fold(struct page **pages,
				       unsigned long npages, u64 addr, u64 len,
				       int node)
{
	struct zublk_pinned *p;
	unsigned int nr = 1, s = 0;
	unsigned long i, run = 1;
	u64 off = 0;

	for (i = 1; i < npages; i++)
		if (!zublk_same_run(pages[i - 1], pages[i]))
			nr++;
	p = kvzalloc_node(struct_size(p, segs, nr) + nr * sizeof(u64),
			  GFP_KERNEL, node);
	if (!p)
		return NULL;
	p->addr = addr;
	p->len = len;
	p->nr = nr;
	p->start = (u64 *)&p->segs[nr];

	p->segs[0].bv_page = pages[0];
	p->segs[0].bv_offset = offset_in_page(addr);
	for (i = 0; i < npages; i++) {
		unsigned int poff = i ? 0 : offset_in_page(addr);
		unsigned int n = min_t(u64, PAGE_SIZE - poff, len - off);

		if (i && !zublk_same_run(pages[i - 1], pages[i])) {
			/* keep one pin for the finished segment's folio */
			if (run > 1)
				unpin_user_folio(page_folio(pages[i - 1]), run - 1);
			run = 1;
			s++;
			p->segs[s].bv_page = pages[i];
			p->segs[s].bv_offset = 0;
			p->start[s] = off;
		} else if (i) {
			run++;
		}
		p->segs[s].bv_len += n;
		off += n;
	}
	if (run > 1)
		unpin_user_folio(page_folio(pages[npages - 1]), run - 1);
	return p;
}

/*
 * Pin [addr, addr + len) of the current task long term, on @node's memory
 * for the bookkeeping, charged to the task (zublk_charge()).  Returns the
 * segments or an ERR_PTR (-EFAULT for memory that cannot be pinned long
 * term, -ZUBLK_EMEMLOCK over the memlock limit, or -ENOMEM).
 */
static struct zublk_pinned *zublk_pin(u64 addr, u64 len, int node)
{
	unsigned long base = addr & PAGE_MASK;
	unsigned long npages, done = 0;
	struct zublk_charge charge;
	struct zublk_pinned *p;
	struct page **pages;
	int ret;

	if (!len || addr + len < addr)
		return ERR_PTR(-EINVAL);
	npages = DIV_ROUND_UP(offset_in_page(addr) + len, PAGE_SIZE);
	if (npages > INT_MAX)
		return ERR_PTR(-EINVAL);
	/* more than the machine's memory can never be pinned: say so early */
	if (unlikely(npages > totalram_pages()))
		return ERR_PTR(-ENOMEM);
	/* before pinning what may be gigabytes */
	ret = zublk_charge(&charge, npages);
	if (ret)
		return ERR_PTR(ret);
	pages = kvmalloc_array(npages, sizeof(*pages),
			       GFP_KERNEL | __GFP_NOWARN);
	if (!pages) {
		zublk_uncharge(&charge);
		return ERR_PTR(-ENOMEM);
	}
	while (done < npages) {
		ret = pin_user_pages_fast(base + done * PAGE_SIZE, npages - done,
					  FOLL_WRITE | FOLL_LONGTERM,
					  pages + done);
		if (ret <= 0) {
			p = ERR_PTR(ret ? ret : -EFAULT);
			goto out_unpin;
		}
		done += ret;
	}
	p = zublk_fold(pages, npages, addr, len, node);
	if (!p) {
		p = ERR_PTR(-ENOMEM);
		goto out_unpin;
	}
	kvfree(pages);
	p->charge = charge;
	return p;

out_unpin:
	unpin_user_pages(pages, done);
	kvfree(pages);
	zublk_uncharge(&charge);
	return p;
}

/* Drop every pin of @p (NULL is fine) and free it; returns the pins dropped. */
static unsigned int zublk_unpin(struct zublk_pinned *p)
{
	unsigned int i, nr;

	if (!p)
		return 0;
	/* the driver may have written any of it: dirty, one pin per folio */
	for (i = 0; i < p->nr; i++)
		unpin_user_page_range_dirty_lock(p->segs[i].bv_page, 1, true);
	zublk_uncharge(&p->charge);
	nr = p->nr;
	kvfree(p);
	return nr;
}

/*
 * @iter over [off, off + len) of @p, @dir as for iov_iter_bvec().  The
 * caller checked that the range lies inside @p.
 */
void zublk_pinned_iter(const struct zublk_pinned *p, unsigned int dir, u64 off,
		       size_t len, struct iov_iter *iter)
{
	unsigned int lo = 0, hi = p->nr - 1;

	/* the last segment starting at or before @off */
	while (lo < hi) {
		unsigned int mid = (lo + hi + 1) / 2;

		if (p->start[mid] <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	iov_iter_bvec(iter, dir, &p->segs[lo], p->nr - lo,
		      p->len - p->start[lo]);
	iov_iter_advance(iter, off - p->start[lo]);
	iov_iter_truncate(iter, len);
}

/*
 * ZUBLK_F_PIN_BUF: pin @q's tag @tag buffer at @addr (max_io_buf_bytes)
 * for FETCH or a COMMIT_AND_FETCH naming a new address.  A failure is
 * logged (ratelimited) naming device, queue and tag.
 */
struct zublk_pinned *zublk_pin_buf(struct zublk_queue *q, u16 tag, u64 addr)
{
	u32 len = q->dev->info.max_io_buf_bytes;
	struct zublk_pinned *p = zublk_pin(addr, len, q->node);

	if (unlikely(PTR_ERR_OR_ZERO(p) == -ZUBLK_EMEMLOCK)) {
		pr_warn_ratelimited("dev %d q %u tag %u: cannot pin io buffer %#llx+%u: over RLIMIT_MEMLOCK (%lu bytes): %d\n",
				    q->dev->id, q->q_id, tag, addr, len,
				    rlimit(RLIMIT_MEMLOCK), -ENOMEM);
		return ERR_PTR(-ENOMEM);
	}
	if (IS_ERR(p)) {
		pr_warn_ratelimited("dev %d q %u tag %u: cannot pin io buffer %#llx+%u long term: %ld\n",
				    q->dev->id, q->q_id, tag, addr, len,
				    PTR_ERR(p));
		return p;
	}
	/* FETCH may come from a task that is not (yet) the queue's */
	zublk_stat_any(q, ZST_PINS, p->nr);
	return p;
}

/* Drop a tag buffer; @own: from the queue's server task. */
void zublk_drop_buf(struct zublk_queue *q, struct zublk_pinned *p, bool own)
{
	unsigned int nr = zublk_unpin(p);

	if (own)
		zublk_stat_own(q, ZST_UNPINS, nr);
	else
		zublk_stat_any(q, ZST_UNPINS, nr);
}

/* Is any tag of @dev fetched?  fetch_mutex held. */
static bool zublk_any_fetched(struct zublk_dev *dev)
{
	unsigned int i;

	lockdep_assert_held(&dev->fetch_mutex);
	for (i = 0; i < dev->info.nr_hw_queues; i++)
		if (dev->queues[i]->nr_fetched)
			return true;
	return false;
}

static int zublk_store_busy(struct zublk_dev *dev)
{
	int ret = 0;

	mutex_lock(&dev->fetch_mutex);
	if (dev->store || zublk_any_fetched(dev))
		ret = -EBUSY;
	else if (test_bit(ZDEV_NO_ARM, &dev->state))
		ret = -ENODEV;
	mutex_unlock(&dev->fetch_mutex);
	return ret;
}

/*
 * ZUBLK_U_IO_REGISTER_STORE: pin the server's store region (the payload in
 * the SQE's command area) until the char node is released.  Its pins count
 * on queue 0.
 */
int zublk_register_store(struct zublk_dev *dev, struct io_uring_cmd *cmd)
{
	const struct zublk_store_reg *src =
		zublk_sqe_cmd(cmd->sqe, struct zublk_store_reg);
	struct zublk_queue *q0 = dev->queues[0];
	struct zublk_pinned *p;
	u64 addr, len;
	int ret;

	/* the SQE is shared with userspace: read each field once */
	addr = READ_ONCE(src->addr);
	len = READ_ONCE(src->len);
	if (!(dev->info.flags & ZUBLK_F_STORE) || !len ||
	    !PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len) || addr + len < addr)
		return -EINVAL;
	/* cheap refusal before pinning what may be gigabytes */
	ret = zublk_store_busy(dev);
	if (ret)
		return ret;
	p = zublk_pin(addr, len, q0->node);
	if (unlikely(PTR_ERR_OR_ZERO(p) == -ZUBLK_EMEMLOCK)) {
		pr_warn_ratelimited("dev %d: cannot pin store %#llx+%llu: over RLIMIT_MEMLOCK (%lu bytes): %d\n",
				    dev->id, addr, len, rlimit(RLIMIT_MEMLOCK),
				    -ENOMEM);
		return -ENOMEM;
	}
	if (IS_ERR(p)) {
		pr_warn_ratelimited("dev %d: cannot pin store %#llx+%llu long term: %ld\n",
				    dev->id, addr, len, PTR_ERR(p));
		return PTR_ERR(p);
	}
	zublk_stat_any(q0, ZST_PINS, p->nr);

	mutex_lock(&dev->fetch_mutex);
	if (dev->store || zublk_any_fetched(dev)) {
		ret = -EBUSY;
	} else {
		dev->store = p;
		p = NULL;
	}
	mutex_unlock(&dev->fetch_mutex);
	zublk_stat_any(q0, ZST_UNPINS, zublk_unpin(p));
	return ret;
}

/*
 * Char node release and device free: drop every long-term pin.  No command
 * exists any more (each held a file reference), so nothing copies through
 * them.
 */
void zublk_unpin_all(struct zublk_dev *dev)
{
	unsigned int i, t;

	if (!dev->queues)
		return;
	for (i = 0; i < dev->info.nr_hw_queues; i++) {
		struct zublk_queue *q = dev->queues[i];

		if (!q)
			continue;
		for (t = 0; t < q->depth; t++) {
			zublk_drop_buf(q, q->ios[t].pbuf, false);
			q->ios[t].pbuf = NULL;
		}
	}
	if (dev->queues[0])
		zublk_stat_any(dev->queues[0], ZST_UNPINS,
			       zublk_unpin(dev->store));
	dev->store = NULL;
}
