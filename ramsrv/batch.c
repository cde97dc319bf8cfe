// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv --batch: a queue served with UBLK_F_BATCH_IO (Linux 7.0+ ublk_drv)
 * instead of one FETCH_REQ / COMMIT_AND_FETCH_REQ per tag.
 *
 * Per queue, on the queue thread's ring:
 *  - one UBLK_U_IO_PREP_IO_CMDS hands the driver every tag (and, with io
 *    buffers, each tag's buffer address) before START_DEV;
 *  - one multishot UBLK_U_IO_FETCH_IO_CMDS stays armed: each of its CQEs
 *    carries a buffer of the provided buffer ring (group 0) holding the
 *    2-byte tags of ready requests (cqe->res bytes; at most 128 a CQE);
 *  - the requests of every CQE the thread reaps in one pass go to the
 *    target's handle(), and their results go back in one
 *    UBLK_U_IO_COMMIT_IO_CMDS.
 * The buffer ring has a buffer per tag (rounded up to a power of two), so
 * the driver never runs out while the thread handles what it delivered; a
 * fetch that ends anyway (-ENOBUFS, or no IORING_CQE_F_MORE) is armed
 * again, one that ends with UBLK_IO_RES_ABORT (STOP_DEV) is gone.
 *
 * The commit array is one buffer per queue.  The driver reads it when it
 * issues the command, inside the io_uring_enter that submits it; a pass
 * starts by submitting anything still queued, so the array is free again
 * whenever a pass writes it.  liburing 2.3 lacks the buffer-ring setup
 * helper and IORING_URING_CMD_MULTISHOT: the ring memory is mapped here and
 * registered with io_uring_register_buf_ring(), and the flag is defined.
 *
 * --copy zc (UBLK_F_AUTO_BUF_REG): each element of PREP and COMMIT names in
 * buf_index the buffer table slot where the driver registers the pages of
 * the tag's next request, on the ring of the fetch that delivers it; at
 * the commit it drops the registration the previous PREP or COMMIT named
 * (so the slot is always the tag's own: the thread serves one queue, its
 * table has depth slots).  The data op handle() names (READ_FIXED or
 * WRITE_FIXED on that slot) is queued instead of the element, and its
 * completion puts the element into the next commit: the request's pages
 * stay registered until the op is done.  --copy zc-explicit
 * (SUPPORT_ZERO_COPY) links the op between REGISTER_IO_BUF and
 * UNREGISTER_IO_BUF of the tag (on a batch device those take any task),
 * the elements carry no slot, and the request completes once both the
 * unregister and the commit are in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <liburing.h>
#include "ramsrv.h"
#include "../lib/uring_cmd.h"

#ifndef IORING_URING_CMD_MULTISHOT
#define IORING_URING_CMD_MULTISHOT	(1U << 1)
#endif

#define RS_BATCH_MAX_TAGS	128	/* the driver posts at most this a CQE */
#define RS_BATCH_BGID		0	/* the fetch's buffer group */

struct rs_batch {
	struct io_uring_buf_ring *br;	/* the provided buffer ring */
	size_t br_len;
	unsigned int nr_bufs;		/* entries, a power of two */
	unsigned int buf_len;		/* bytes a fetch buffer */
	uint8_t *bufs;			/* nr_bufs x buf_len */
	uint8_t *elems;			/* the PREP/COMMIT array: depth elements */
	unsigned int elem_bytes;	/* 8, or 16 with buffer addresses */
	unsigned int nr;		/* elements in the commit being built */
	uint16_t flags;			/* UBLK_BATCH_F_HAS_BUF_ADDR or 0 */
	bool auto_reg;			/* --copy zc: elements name the tag's slot */
	bool rearm;			/* the fetch ended: arm it again */
	const char *who;
};

/*
 * A batch command SQE on the registered char node (file index 0); when the
 * SQ is full, what is queued is submitted first.  NULL if still none is
 * free (cannot happen: a pass queues at most two SQEs).
 */
static struct io_uring_sqe *prep_batch(struct io_uring *ring, unsigned int op,
				       const struct rs_queue *q, uint16_t flags,
				       uint16_t nr, uint8_t elem_bytes,
				       uint64_t ud)
{
	struct io_uring_sqe *sqe = zu_get_sqe(ring);
	struct ublk_batch_io *cmd;

	if (!sqe) {
		rs_warn("dev %d q %d: no free SQE", q->dev->info.dev_id, q->q_id);
		return NULL;
	}
	cmd = (struct ublk_batch_io *)sqe->cmd;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	cmd->q_id = (uint16_t)q->q_id;
	cmd->flags = flags;
	cmd->nr_elem = nr;
	cmd->elem_bytes = elem_bytes;
	sqe->user_data = ud;
	q->st->cmds++;
	return sqe;
}

/*
 * element @i of the commit array: tag, result, buffer address if any;
 * zc: the tag's buffer table slot (its own, see above)
 */
static void put_elem(const struct rs_queue *q, struct rs_batch *b,
		     unsigned int i, unsigned int tag, int result)
{
	struct ublk_elem_header *e =
		(struct ublk_elem_header *)(b->elems + (size_t)i * b->elem_bytes);
	uint64_t addr;

	e->tag = (uint16_t)tag;
	e->buf_index = b->auto_reg ? (uint16_t)tag : 0;
	e->result = result;
	if (b->flags & UBLK_BATCH_F_HAS_BUF_ADDR) {
		addr = (uint64_t)(uintptr_t)((char *)q->buf.addr +
					     (size_t)tag * q->dev->max_io);
		memcpy(e + 1, &addr, sizeof(addr));
	}
}

/* queue the commit of the b->nr elements built so far */
static void queue_commit(struct rs_queue *q, struct rs_batch *b,
			 struct io_uring *ring)
{
	struct io_uring_sqe *sqe;

	if (!b->nr)
		return;
	sqe = prep_batch(ring, UBLK_U_IO_COMMIT_IO_CMDS, q, b->flags,
			 (uint16_t)b->nr, (uint8_t)b->elem_bytes,
			 rs_ud_pack((unsigned int)q->q_id, b->nr, RS_UD_OP_COMMIT));
	if (!sqe)
		return;
	sqe->addr = (uint64_t)(uintptr_t)b->elems;
	sqe->len = b->nr * b->elem_bytes;
	q->st->batch_commits++;
	b->nr = 0;
}

/* queue the multishot fetch into buffer group 0 */
static void queue_fetch(struct rs_queue *q, struct rs_batch *b,
			struct io_uring *ring)
{
	struct io_uring_sqe *sqe;

	sqe = prep_batch(ring, UBLK_U_IO_FETCH_IO_CMDS, q, 0,
			 (uint16_t)(b->buf_len / 2), 2,
			 rs_ud_pack((unsigned int)q->q_id, 0, RS_UD_OP_FETCH));
	if (!sqe)
		return;
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RS_BATCH_BGID;
	b->rearm = false;
}

/* give fetch buffer @bid back to the ring */
static void recycle(struct rs_batch *b, unsigned int bid)
{
	io_uring_buf_ring_add(b->br, b->bufs + (size_t)bid * b->buf_len,
			      b->buf_len, (unsigned short)bid,
			      io_uring_buf_ring_mask(b->nr_bufs), 0);
	io_uring_buf_ring_advance(b->br, 1);
}

void rs_batch_free(struct rs_queue *q)
{
	struct rs_batch *b = q->batch;

	if (!b)
		return;
	if (b->br)
		munmap(b->br, b->br_len);
	free(b->bufs);
	free(b->elems);
	free(b);
	q->batch = NULL;
}

/* the fetch buffers, the ring that provides them (registered), the array */
static int batch_alloc(struct rs_queue *q, struct rs_batch *b,
		       struct io_uring *ring)
{
	const struct rs_dev *d = q->dev;
	struct io_uring_buf_reg reg;
	unsigned int i, tags = d->depth < RS_BATCH_MAX_TAGS ? d->depth :
							       RS_BATCH_MAX_TAGS;
	int ret;

	for (b->nr_bufs = 1; b->nr_bufs < d->depth; b->nr_bufs <<= 1)
		;
	b->buf_len = tags * 2;
	b->elem_bytes = sizeof(struct ublk_elem_header) + (b->flags ? 8 : 0);
	b->bufs = calloc(b->nr_bufs, b->buf_len);
	b->elems = calloc(d->depth, b->elem_bytes);
	b->br_len = b->nr_bufs * sizeof(struct io_uring_buf);
	b->br = mmap(NULL, b->br_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->br == MAP_FAILED)
		b->br = NULL;
	if (!b->bufs || !b->elems || !b->br)
		return -ENOMEM;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = b->nr_bufs;
	reg.bgid = RS_BATCH_BGID;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret < 0) {
		rs_err("%s: registering the fetch buffer ring: %s", b->who,
		       strerror(-ret));
		return ret;
	}
	io_uring_buf_ring_init(b->br);
	for (i = 0; i < b->nr_bufs; i++)
		recycle(b, i);
	return 0;
}

/* PREP_IO_CMDS of every tag, waited for: 0 or -errno */
static int batch_prep(struct rs_queue *q, struct rs_batch *b,
		      struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned int tag, depth = q->dev->depth;
	int ret;

	for (tag = 0; tag < depth; tag++)
		put_elem(q, b, tag, tag, 0);
	sqe = prep_batch(ring, UBLK_U_IO_PREP_IO_CMDS, q, b->flags,
			 (uint16_t)depth, (uint8_t)b->elem_bytes,
			 rs_ud_pack((unsigned int)q->q_id, 0, RS_UD_OP_PREP));
	if (!sqe)
		return -EBUSY;
	sqe->addr = (uint64_t)(uintptr_t)b->elems;
	sqe->len = depth * b->elem_bytes;
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret >= 0)
		ret = io_uring_peek_cqe(ring, &cqe);
	if (ret == 0) {
		ret = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	if (ret < 0)
		rs_err("%s: UBLK_U_IO_PREP_IO_CMDS of %u tags: %s", b->who,
		       depth, strerror(-ret));
	return ret < 0 ? ret : 0;
}

/*
 * After the char node is registered in @ring: buffers, PREP_IO_CMDS, the
 * armed fetch. 0, or -errno with the message given and nothing left.
 */
int rs_batch_start(struct rs_queue *q, struct io_uring *ring, const char *who)
{
	struct rs_batch *b = calloc(1, sizeof(*b));
	struct io_uring_cqe *cqe;
	int ret = -ENOMEM;

	q->batch = b;
	if (!b)
		goto fail;
	b->who = who;
	/* io buffers (classic): their addresses go with PREP and COMMIT */
	b->flags = q->dev->user_copy || q->dev->zc ? 0 : UBLK_BATCH_F_HAS_BUF_ADDR;
	b->auto_reg = q->dev->zc && !q->dev->zc_reg;
	ret = batch_alloc(q, b, ring);
	if (ret == 0)
		ret = batch_prep(q, b, ring);
	if (ret < 0)
		goto fail;
	queue_fetch(q, b, ring);
	ret = io_uring_submit(ring);
	ret = ret == 1 ? 0 : ret < 0 ? ret : -EIO;
	/* a fetch the driver refused completes at once */
	if (ret == 0 && io_uring_peek_cqe(ring, &cqe) == 0 && cqe->res < 0 &&
	    !(cqe->flags & IORING_CQE_F_MORE))
		ret = cqe->res;
	if (ret < 0) {
		rs_err("%s: UBLK_U_IO_FETCH_IO_CMDS: %s", who, strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	if (ret == -ENOMEM)
		rs_err("%s: batch buffers: %s", who, strerror(ENOMEM));
	rs_batch_free(q);
	return ret;
}

/* zc: a data op completed: its request's element into the commit */
static void zc_done(struct rs_queue *q, struct rs_batch *b,
		    const struct io_uring_cqe *cqe)
{
	unsigned int tag = rs_ud_tag(cqe->user_data);
	int res = rs_zc_result(cqe, b->who);

	if (tag >= q->dev->depth || b->nr >= q->dev->depth) {
		rs_warn("%s: data op of tag %u (depth %u, %u pending)", b->who,
			tag, q->dev->depth, b->nr);
		return;
	}
	put_elem(q, b, b->nr++, tag, res);
}

/* the requests of one fetch CQE: handled, their results added to the
 * commit (zc: their data ops queued) */
static void fetch_tags(struct rs_queue *q, struct rs_batch *b,
		       struct io_uring *ring, const uint16_t *tags, unsigned int n)
{
	struct rs_dev *d = q->dev;
	struct rs_qstate *st = q->st;
	unsigned int i, tag;
	int res;

	for (i = 0; i < n; i++) {
		tag = tags[i];
		if (tag >= d->depth || b->nr >= d->depth) {
			rs_warn("%s: fetch delivered tag %u (depth %u, %u pending)",
				b->who, tag, d->depth, b->nr);
			continue;
		}
		q->store_off = ZUBLK_STORE_NONE;
		q->zc_op = 0;
		res = d->tgt->handle(q, tag, &q->descs[tag]);
		st->reqs++;
		if (res > 0)
			st->bytes += (uint64_t)res;
		if (d->zc && rs_zc_submit(ring, q, tag, tag, res))
			continue;
		put_elem(q, b, b->nr++, tag, res);
	}
}

/* a CQE of the fetch: 1 when it is gone for good, else 0 */
static int fetch_cqe(struct rs_queue *q, struct rs_batch *b,
		     struct io_uring *ring, const struct io_uring_cqe *cqe)
{
	unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		if (res > 0 && bid < b->nr_bufs) {
			fetch_tags(q, b, ring, (const uint16_t *)(b->bufs +
					       (size_t)bid * b->buf_len),
				   (unsigned int)res / 2);
			q->st->batch_fetches++;
		}
		recycle(b, bid & (b->nr_bufs - 1));
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return 0;
	if (res >= 0 || res == -ENOBUFS) {
		b->rearm = true;
		return 0;
	}
	if (res != UBLK_IO_RES_ABORT)
		rs_warn("%s: UBLK_U_IO_FETCH_IO_CMDS: %s", b->who, strerror(-res));
	return 1;
}

static void commit_cqe(const struct rs_batch *b, const struct io_uring_cqe *cqe)
{
	unsigned int nr = rs_ud_tag(cqe->user_data);

	if (cqe->res < 0)
		rs_warn("%s: UBLK_U_IO_COMMIT_IO_CMDS of %u: %s", b->who, nr,
			strerror(-cqe->res));
	else if ((unsigned int)cqe->res != nr * b->elem_bytes)
		rs_warn("%s: UBLK_U_IO_COMMIT_IO_CMDS took %d of %u bytes",
			b->who, cqe->res, nr * b->elem_bytes);
}

/*
 * Handle every completion in the CQ (the queue loop's step in batch mode):
 * the fetched requests go to the target, their results back in one commit.
 * Returns the commands that left for good (the fetch, at STOP_DEV).
 */
int rs_batch_complete(struct rs_queue *q, struct io_uring *ring)
{
	struct rs_batch *b = q->batch;
	struct rs_qstate *st = q->st;
	struct io_uring_cqe *cqe;
	uint64_t t0 = rs_now_ns(), reqs = st->reqs;
	unsigned int head, n = 0;
	int gone = 0;

	if (io_uring_sq_ready(ring)) {	/* the last commit is read: array free */
		io_uring_submit(ring);
		st->enters++;
	}
	io_uring_for_each_cqe(ring, head, cqe) {
		n++;
		if (rs_ud_op(cqe->user_data) == RS_UD_OP_FETCH)
			gone += fetch_cqe(q, b, ring, cqe);
		else if (rs_ud_op(cqe->user_data) == RS_UD_OP_COMMIT)
			commit_cqe(b, cqe);
		else if (rs_ud_op(cqe->user_data) == RS_UD_OP_DATA)
			zc_done(q, b, cqe);
		else if (rs_ud_op(cqe->user_data) == RS_UD_OP_BUFREG)	/* it failed */
			rs_warn("%s tag %u: (UN)REGISTER_IO_BUF: %s", b->who,
				rs_ud_tag(cqe->user_data), strerror(-cqe->res));
	}
	io_uring_cq_advance(ring, n);
	queue_commit(q, b, ring);
	if (b->rearm && !gone)
		queue_fetch(q, b, ring);
	if (st->reqs != reqs)
		st->handle_ns += rs_now_ns() - t0;
	st->cqes += n;
	return gone;
}
