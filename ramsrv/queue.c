// SPDX-License-Identifier: GPL-2.0
/* ramsrv: one thread per queue: fetch, handle, commit-and-fetch, batched. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <liburing.h>
#include "ramsrv.h"
#include "../lib/uring_cmd.h"

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void prep_io(struct rs_queue *q, struct io_uring_sqe *sqe,
		    unsigned int legacy_op, unsigned int tag, int result)
{
	struct rs_dev *d = q->dev;
	struct ublksrv_io_cmd *cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	unsigned int op;

	if (legacy_op == UBLK_IO_FETCH_REQ)
		op = d->ioctl_io ? UBLK_U_IO_FETCH_REQ : UBLK_IO_FETCH_REQ;
	else
		op = d->ioctl_io ? UBLK_U_IO_COMMIT_AND_FETCH_REQ :
				   UBLK_IO_COMMIT_AND_FETCH_REQ;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* registered file index */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	cmd->q_id = (uint16_t)q->q_id;
	cmd->tag = (uint16_t)tag;
	cmd->result = result;
	if (d->store_mode)	/* a store offset, or ZUBLK_STORE_NONE */
		cmd->addr = legacy_op == UBLK_IO_FETCH_REQ ? 0 : q->store_off;
	else if (d->user_copy)	/* no io buffer, the driver wants addr 0 */
		cmd->addr = 0;
	else
		cmd->addr = (uint64_t)(uintptr_t)((char *)q->buf.addr +
						  (size_t)tag * d->max_io);
	sqe->user_data = rs_ud_pack(tag, legacy_op == UBLK_IO_FETCH_REQ ?
				    RS_UD_OP_FETCH : RS_UD_OP_COMMIT);
}

static int ring_init(struct io_uring *ring, unsigned int entries)
{
	static const unsigned int try_flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	const char *env = getenv("RAMSRV_RING");
	unsigned int i = 0;
	int ret = -EINVAL;

	/* tuning knob: RAMSRV_RING=defer|coop|plain picks the first flags tried */
	if (env && !strcmp(env, "coop"))
		i = 1;
	else if (env && !strcmp(env, "plain"))
		i = 2;
	for (; i < sizeof(try_flags) / sizeof(try_flags[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = try_flags[i];
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret == 0)
			return 0;
	}
	return ret;
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* a queue thread's own: its ring, and its name for messages */
struct qthread {
	struct rs_queue *q;
	struct io_uring ring;
	char who[48];
	unsigned int spin;	/* polls before the next sleep (adaptive) */
	unsigned int idle;	/* waits without a poll, since the last probe */
};

/*
 * Adaptive spin (RAMSRV_SPIN_POLICY=adaptive, the default): a poll that
 * finds work restores the full budget (RAMSRV_SPIN); one that finds none
 * takes an eighth of it away.  A thread with a CPU of its own keeps
 * polling as long as polls find work often enough (the submitter runs
 * meanwhile and the next request arrives), which is what keeps QD1 latency
 * low; one that shares its CPU with the submitter finds nothing while it
 * polls (the submitter cannot run), stops within eight waits and leaves the
 * CPU to the submitter.  At a budget of 0 every RS_SPIN_PROBE-th wait polls
 * with the full budget, so that a load that changes is noticed.
 */
#define RS_SPIN_PROBE	64

static unsigned int spin_budget(struct qthread *t, const struct rs_dev *d)
{
	if (!d->spin_adaptive)
		return d->spin;
	if (!t->spin && ++t->idle >= RS_SPIN_PROBE) {
		t->idle = 0;
		return d->spin;
	}
	return t->spin;
}

static void spin_learn(struct qthread *t, const struct rs_dev *d,
		       unsigned int budget, bool found)
{
	unsigned int step = d->spin / 8 ? d->spin / 8 : 1;

	if (!d->spin_adaptive || !budget)
		return;
	if (found)
		t->spin = d->spin;
	else
		t->spin = budget > step ? budget - step : 0;
}

/* io buffers: classic depth x max-io; user copy: the data path's scratch;
 * store: none */
static size_t queue_buf_len(const struct rs_dev *d)
{
	if (d->store_mode)
		return 0;
	if (!d->user_copy)
		return (size_t)d->depth * d->max_io;
	return d->path.scratch ? d->max_io : 0;
}

/* pin the thread, allocate its buffers; 0 or -errno */
static int queue_setup_thread(struct qthread *t)
{
	struct rs_queue *q = t->q;
	struct rs_dev *d = q->dev;
	struct rs_qstate *st = q->st;
	size_t blen = queue_buf_len(d);
	sigset_t set;
	int ret;

	snprintf(t->who, sizeof(t->who), "dev %d q %d", d->info.dev_id, q->q_id);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (sched_setaffinity(0, sizeof(q->cpus), &q->cpus) < 0)
		rs_warn("%s: cannot pin to cpus %s: %s", t->who, st->cpus,
			strerror(errno));
	st->tid = (uint32_t)gettid();
	if (!blen)
		return 0;
	ret = rs_buf_alloc(&q->buf, blen, q->node, d->opts.huge, t->who);
	if (ret < 0)
		return ret;
	st->buf_addr = (uint64_t)(uintptr_t)q->buf.addr;
	st->buf_len = q->buf.len;
	st->huge = q->buf.huge;
	st->node = q->buf.node;
	return 0;
}

/* the ring, the char node registered in it, a FETCH_REQ per tag; 0 or
 * -errno (the ring is gone then) */
static int queue_setup_ring(struct qthread *t)
{
	struct rs_queue *q = t->q;
	struct rs_dev *d = q->dev;
	struct io_uring_cqe *cqe;
	unsigned int tag;
	int ret;

	ret = ring_init(&t->ring, d->depth);
	if (ret < 0) {
		rs_err("%s: io_uring setup (%u entries): %s", t->who, d->depth,
		       strerror(-ret));
		return ret;
	}
	ret = io_uring_register_files(&t->ring, &q->cdev_fd, 1);
	if (ret < 0) {
		rs_err("%s: register %s: %s", t->who, d->cdev, strerror(-ret));
		goto fail;
	}
	if (d->batch) {	/* UBLK_F_BATCH_IO: no per-tag FETCH_REQ */
		ret = rs_batch_start(q, &t->ring, t->who);
		if (ret < 0)
			goto fail;
		return 0;
	}
	for (tag = 0; tag < d->depth; tag++)
		prep_io(q, io_uring_get_sqe(&t->ring), UBLK_IO_FETCH_REQ, tag, -1);
	ret = io_uring_submit(&t->ring);
	if (ret != (int)d->depth) {
		rs_err("%s: submitting %u FETCH_REQ: %s", t->who, d->depth,
		       ret < 0 ? strerror(-ret) : "short submit");
		ret = ret < 0 ? ret : -EIO;
		goto fail;
	}
	/* a FETCH_REQ the driver refused completes at once: look for one */
	if (io_uring_peek_cqe(&t->ring, &cqe) == 0 && cqe->res < 0) {
		ret = cqe->res;
		rs_err("%s tag %u: FETCH_REQ: %s%s", t->who,
		       rs_ud_tag(cqe->user_data), strerror(-ret),
		       d->pin ? rs_memlock_hint(ret) : "");
		goto fail;
	}
	return 0;
fail:
	io_uring_queue_exit(&t->ring);
	return ret;
}

/*
 * Wait for completions: submit and run task work without sleeping up to the
 * spin budget's times (see spin_budget) before blocking. Returns 0,
 * or -errno when the loop must end (the main thread stops the device).
 */
static int queue_wait(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	struct rs_qstate *st = t->q->st;
	struct io_uring *ring = &t->ring;
	unsigned int spin, budget = spin_budget(t, d);
	int ret = 0;

	for (spin = 0; spin < budget && !io_uring_cq_ready(ring); spin++) {
		ret = io_uring_submit_and_get_events(ring);
		st->enters++;
		if (ret < 0)
			break;
	}
	spin_learn(t, d, budget, io_uring_cq_ready(ring) != 0);
	if (!io_uring_cq_ready(ring) || io_uring_sq_ready(ring)) {
		ret = io_uring_submit_and_wait(ring, 1);
		st->enters++;
		st->sleeps++;
	} else {
		ret = 0;
	}
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		rs_err("%s: io_uring_enter: %s", t->who, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * Handle every completion in the CQ: a fetched request goes to the target
 * and back as COMMIT_AND_FETCH; an aborted or failed command leaves
 * flight. Returns the commands that left.
 */
static int queue_complete(struct qthread *t)
{
	struct rs_queue *q = t->q;
	struct rs_dev *d = q->dev;
	struct rs_qstate *st = q->st;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	uint64_t t0 = now_ns(), bytes = 0, reqs = 0;
	unsigned int head, tag, n = 0;
	int gone = 0, res;

	io_uring_for_each_cqe(&t->ring, head, cqe) {
		n++;
		res = cqe->res;
		tag = rs_ud_tag(cqe->user_data);
		if (res == UBLK_IO_RES_ABORT) {
			gone++;
			continue;
		}
		if (res < 0 || tag >= d->depth) {
			rs_warn("%s tag %u: command failed: %s", t->who, tag,
				strerror(-res));
			gone++;
			continue;
		}
		q->store_off = ZUBLK_STORE_NONE;
		res = d->tgt->handle(q, tag, &q->descs[tag]);
		reqs++;
		if (res > 0)
			bytes += (uint64_t)res;
		sqe = io_uring_get_sqe(&t->ring);
		if (!sqe) {	/* cannot happen: one SQE per tag */
			io_uring_submit(&t->ring);
			sqe = io_uring_get_sqe(&t->ring);
		}
		prep_io(q, sqe, UBLK_IO_COMMIT_AND_FETCH_REQ, tag, res);
	}
	io_uring_cq_advance(&t->ring, n);
	if (reqs)
		st->handle_ns += now_ns() - t0;
	st->cqes += n;
	st->reqs += reqs;
	st->bytes += bytes;
	return gone;
}

static void *queue_thread(void *arg)
{
	struct qthread t = { .q = arg };
	struct rs_queue *q = t.q;
	struct rs_dev *d = q->dev;
	int inflight = d->batch ? 1 : (int)d->depth;	/* batch: the fetch */
	int ret;

	t.spin = d->spin;	/* start polling; waits that find nothing stop it */

	ret = queue_setup_thread(&t);
	if (ret == 0) {
		ret = queue_setup_ring(&t);
		if (ret < 0)
			rs_buf_free(&q->buf);
	}
	q->setup_ret = ret;
	sem_post(&q->ready);
	if (ret < 0)
		return NULL;

	while (inflight > 0) {
		if (queue_wait(&t) < 0 ||
		    atomic_load_explicit(&d->abort_now, memory_order_relaxed))
			break;
		inflight -= d->batch ? rs_batch_complete(q, &t.ring) :
				       queue_complete(&t);
	}
	/* all commands gone without a stop from us: the driver dropped the queue */
	if (!atomic_load_explicit(&d->stopping, memory_order_relaxed))
		kill(getpid(), SIGUSR1);
	io_uring_queue_exit(&t.ring);
	return NULL;
}

int rs_queue_start(struct rs_queue *q)
{
	struct rs_dev *d = q->dev;
	struct ublksrv_io_desc *p;
	struct sigaction sa;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;	/* no SA_RESTART: wakes io_uring_enter */
	sigaction(SIGUSR2, &sa, NULL);

	q->cdev_fd = d->cdev_fd;	/* the char device opens only once */
	q->descs_len = zu_descs_len(d->depth);
	p = zu_map_descs(q->cdev_fd, (unsigned int)q->q_id, d->depth, MAP_POPULATE);
	if (p == MAP_FAILED) {
		ret = -errno;
		rs_err("dev %d q %d: mmap descriptors: %s", d->info.dev_id,
		       q->q_id, strerror(errno));
		q->cdev_fd = -1;
		return ret;
	}
	q->descs = p;
	sem_init(&q->ready, 0, 0);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret) {
		rs_err("dev %d q %d: pthread_create: %s", d->info.dev_id,
		       q->q_id, strerror(ret));
		goto fail;
	}
	q->started = true;
	while (sem_wait(&q->ready) < 0 && errno == EINTR)
		;
	if (q->setup_ret < 0) {
		pthread_join(q->thread, NULL);
		q->started = false;
		ret = q->setup_ret;
		goto fail;
	}
	return 0;
fail:
	munmap((void *)q->descs, q->descs_len);
	q->descs = NULL;
	q->cdev_fd = -1;
	return ret;
}

void rs_queue_kick(struct rs_queue *q)
{
	if (q->started)
		pthread_kill(q->thread, SIGUSR2);
}

/* join the thread and drop everything that pins /dev/ublkcN */
void rs_queue_join(struct rs_queue *q)
{
	if (q->started) {
		pthread_join(q->thread, NULL);
		q->started = false;
	}
	rs_batch_free(q);
	rs_buf_free(&q->buf);
	if (q->descs)
		munmap((void *)q->descs, q->descs_len);
	q->descs = NULL;
	q->cdev_fd = -1;
}

int rs_store_register(struct rs_dev *d)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t len = (d->store_len + pg - 1) & ~(pg - 1);
	struct io_uring ring;
	int ret;

	ret = io_uring_queue_init(2, &ring, 0);
	if (ret < 0) {
		rs_err("dev %d: io_uring setup: %s", d->info.dev_id, strerror(-ret));
		return ret;
	}
	/* a fresh ring always has an SQE */
	zu_prep_store(&ring, d->cdev_fd, d->store, len);
	ret = zu_submit_wait(&ring, NULL);
	io_uring_queue_exit(&ring);
	if (ret < 0)
		rs_err("dev %d: ZUBLK_U_IO_REGISTER_STORE of %llu bytes at %p: %s%s",
		       d->info.dev_id, (unsigned long long)len, d->store,
		       strerror(-ret), rs_memlock_hint(ret));
	return ret < 0 ? ret : 0;
}
