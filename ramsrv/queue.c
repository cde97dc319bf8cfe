// SPDX-License-Identifier: GPL-2.0
/* ramsrv: a thread per queue (or per --threads set of queues): fetch, handle,
 * commit-and-fetch, batched. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <liburing.h>
#include "ramsrv.h"
#include "../lib/uring_cmd.h"

/*
 * zc: the request's slot in the thread's sparse buffer table: a block of
 * depth slots per queue it serves, in the order it serves them (queue i,
 * i + N, ... with --threads N; see queue_set_queues). Per-io (tags spread,
 * rs_dev.per_io): request g = q * depth + tag is thread g % N's, at slot
 * g / N of its table (thread_tags slots).
 */
static unsigned int zc_slot(const struct rs_queue *q, unsigned int tag)
{
	const struct rs_dev *d = q->dev;

	if (d->per_io)
		return ((unsigned int)q->q_id * d->depth + tag) / d->nr_threads;
	return (unsigned int)q->q_id / d->nr_threads * d->depth + tag;
}

/* FETCH_REQ or COMMIT_AND_FETCH_REQ of @q's @tag in @sqe, a zeroed one
 * (zu_get_sqe) */
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
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0;			/* registered file index */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	cmd->q_id = (uint16_t)q->q_id;
	cmd->tag = (uint16_t)tag;
	cmd->result = result;
	if (d->store_mode)	/* a store offset, or ZUBLK_STORE_NONE */
		cmd->addr = legacy_op == UBLK_IO_FETCH_REQ ? 0 : q->store_off;
	else if (d->user_copy || d->zc)	/* no io buffer, the driver wants addr 0 */
		cmd->addr = 0;
	else
		cmd->addr = (uint64_t)(uintptr_t)((char *)q->buf.addr +
						  (size_t)tag * d->max_io);
	if (d->zc && !d->zc_reg)	/* AUTO_BUF_REG: the request's pages go to its slot */
		sqe->addr = zublk_auto_buf_reg_addr((uint16_t)zc_slot(q, tag), 0);
	sqe->user_data = rs_ud_pack((unsigned int)q->q_id, tag, legacy_op == UBLK_IO_FETCH_REQ ?
				    RS_UD_OP_FETCH : RS_UD_OP_COMMIT);
	q->st->cmds++;
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

/* a queue thread's own: its queues, its ring, and its name for messages */
struct qthread {
	struct rs_queue *q;	/* its first queue: the thread's stats (enters, sleeps) */
	struct rs_queue *qs[RS_MAX_QUEUES];	/* all it serves, qs[0] == q */
	unsigned int nq;
	/* per-io: q is the handle d->thr[i]; qs[k] = &view[k], its own copy
	 * of queue k (its counters, its scratch), for every queue */
	struct rs_queue view[RS_MAX_QUEUES];
	struct io_uring ring;
	char who[96];
	unsigned int spin;	/* polls before the next sleep (adaptive) */
	unsigned int idle;	/* waits without a poll, since the last probe */
	/* hybrid policy (see hybrid_budget) */
	uint64_t wait_ns;	/* average wait until work came */
	uint64_t poll_ns;	/* average cost of one empty poll */
	long nivcsw;		/* involuntary switches at the last sample */
	unsigned int waits;	/* waits since the last sample */
	unsigned int shared;	/* sample windows left without polling */
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

/*
 * Hybrid spin (RAMSRV_SPIN_POLICY=hybrid): poll only where polling buys
 * latency, and for about as long as work takes to come.
 *  - A thread that shares its CPU does not poll: before each wait it reads
 *    its involuntary context switches (getrusage RUSAGE_THREAD); any since
 *    the last look means another task wanted this CPU (a submitter the poll
 *    would starve), and the next RS_SPIN_HOLD windows of RS_SPIN_SAMPLE
 *    waits sleep at once, looking once a window.
 *  - Otherwise it keeps an average (1/8 weight) of how long a wait lasted
 *    until work came, caught by polling or by sleeping (a sleep counts at
 *    most twice the limit), and of one empty poll's cost.  It polls up to
 *    twice that wait while the wait is within the limit, RS_SPIN_WAIT x
 *    RAMSRV_SPIN polls' time; above, it sleeps and every RS_SPIN_PROBE-th
 *    wait polls the whole budget (hybrid_max): a probe that finds work
 *    restarts the average from it.  One miss moves the average by an
 *    eighth, so a QD1 thread whose polls find work keeps polling.
 */
#define RS_SPIN_SAMPLE	32
#define RS_SPIN_HOLD	4
#define RS_SPIN_WAIT	4

/* the most polls of one wait */
static unsigned int hybrid_max(const struct rs_dev *d)
{
	return 2 * RS_SPIN_WAIT * d->spin;
}

static unsigned int hybrid_budget(struct qthread *t, const struct rs_dev *d)
{
	uint64_t limit = (uint64_t)RS_SPIN_WAIT * d->spin * t->poll_ns, n;
	struct rusage ru;

	/* a thread that polls looks every wait (a poll costs as much): a
	 * submitter it shares the CPU with loses one wait's polls at most */
	if (++t->waits >= (t->shared ? RS_SPIN_SAMPLE : 1) &&
	    !getrusage(RUSAGE_THREAD, &ru)) {
		if (ru.ru_nivcsw != t->nivcsw)
			t->shared = RS_SPIN_HOLD + 1;
		if (t->shared)
			t->shared--;
		t->nivcsw = ru.ru_nivcsw;
		t->waits = 0;
	}
	if (t->shared)
		return 0;
	if (!t->poll_ns)	/* nothing timed yet */
		return d->spin;
	if (t->wait_ns > limit) {
		if (++t->idle < RS_SPIN_PROBE)
			return 0;
		t->idle = 0;
		return hybrid_max(d);
	}
	n = 2 * t->wait_ns / t->poll_ns + 1;
	return n < hybrid_max(d) ? (unsigned int)n : hybrid_max(d);
}

/* a wait's times: @t1 its first poll done (the commits submitted; the
 * start when it did not poll), @t2 its @polls polls done, @t3 work came */
static void hybrid_learn(struct qthread *t, const struct rs_dev *d, unsigned int budget,
			 unsigned int polls, uint64_t t1, uint64_t t2, uint64_t t3, bool slept)
{
	uint64_t w = t3 - t1, p, limit;

	if (polls > 1) {
		p = (t2 - t1) / (polls - 1);
		t->poll_ns = t->poll_ns ? (7 * t->poll_ns + p) / 8 : p;
	}
	limit = (uint64_t)RS_SPIN_WAIT * d->spin * t->poll_ns;
	if (slept && limit && w > 2 * limit)
		w = 2 * limit;
	if (!slept && budget == hybrid_max(d) && t->wait_ns > limit)
		t->wait_ns = w;	/* a probe found work */
	else
		t->wait_ns = (7 * t->wait_ns + w) / 8;
}

static unsigned int spin_budget(struct qthread *t, const struct rs_dev *d)
{
	if (d->spin_policy == RS_SPIN_HYBRID)
		return hybrid_budget(t, d);
	if (d->spin_policy != RS_SPIN_ADAPTIVE)
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

	if (d->spin_policy != RS_SPIN_ADAPTIVE || !budget)
		return;
	if (found)
		t->spin = d->spin;
	else
		t->spin = budget > step ? budget - step : 0;
}

/* RAMSRV_SPIN_POLICY's value: fixed, adaptive or hybrid (NULL: the default) */
enum rs_spin_policy rs_spin_policy(const char *name)
{
	if (!name || !strcmp(name, "adaptive"))
		return RS_SPIN_ADAPTIVE;
	if (!strcmp(name, "fixed"))
		return RS_SPIN_FIXED;
	if (!strcmp(name, "hybrid"))
		return RS_SPIN_HYBRID;
	rs_warn("RAMSRV_SPIN_POLICY=%s: not fixed, adaptive or hybrid; using adaptive", name);
	return RS_SPIN_ADAPTIVE;
}

/* io buffers: classic depth x max-io; user copy: the data path's scratch;
 * store: none */
static size_t queue_buf_len(const struct rs_dev *d)
{
	if (d->store_mode || d->zc)
		return 0;
	if (!d->user_copy)
		return (size_t)d->depth * d->max_io;
	return d->path.scratch ? d->max_io : 0;
}

/* @q's buffer of @blen bytes on its node, recorded in its state; 0 or -errno */
static int queue_alloc_buf(struct rs_queue *q, size_t blen, const char *who)
{
	struct rs_qstate *st = q->st;
	int ret = rs_buf_alloc(&q->buf, blen, q->node, q->dev->opts.huge, who);

	if (ret < 0)
		return ret;
	st->buf_addr = (uint64_t)(uintptr_t)q->buf.addr;
	st->buf_len = q->buf.len;
	st->huge = q->buf.huge;
	st->node = q->buf.node;
	return 0;
}

/* queue @q's io buffers (none when @blen is 0), on thread @t; 0 or -errno */
static int queue_setup_buf(struct qthread *t, struct rs_queue *q, size_t blen)
{
	q->st->tid = (uint32_t)gettid();
	return blen ? queue_alloc_buf(q, blen, t->who) : 0;
}

/* per-io: whether request (@q_id, @tag) is thread @t's */
static bool per_io_owns(const struct qthread *t, unsigned int q_id, unsigned int tag)
{
	const struct rs_dev *d = t->q->dev;

	return (q_id * d->depth + tag) % d->nr_threads == (unsigned int)t->q->q_id;
}

/* the requests (tags) thread @t serves: its FETCHes, its ring's size */
static unsigned int thread_tags(const struct qthread *t)
{
	const struct rs_dev *d = t->q->dev;
	unsigned int all = d->nr_queues * d->depth;

	if (!d->per_io)
		return d->depth * t->nq;
	return (all - (unsigned int)t->q->q_id + d->nr_threads - 1) / d->nr_threads;
}

/* per-io: a view of every queue for thread @t (the handle t->q, d->thr[i]) */
static void per_io_set_queues(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	unsigned int k;

	snprintf(t->who, sizeof(t->who), "dev %d thread %d", d->info.dev_id, t->q->q_id);
	for (k = 0; k < d->nr_queues; k++) {
		t->view[k] = d->q[k];	/* descriptors, io buffers, CPUs */
		t->view[k].st = t->q->st;	/* counts go to the thread's */
		t->view[k].batch = NULL;
		t->qs[t->nq++] = &t->view[k];
	}
}

/* the queues thread @t serves: its first, then every nr_threads-th; its name */
static void queue_set_queues(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	unsigned int i;
	int n;

	if (d->per_io) {
		per_io_set_queues(t);
		return;
	}
	n = snprintf(t->who, sizeof(t->who), "dev %d q %d", d->info.dev_id, t->q->q_id);
	for (i = (unsigned int)t->q->q_id; i < d->nr_queues; i += d->nr_threads) {
		t->qs[t->nq++] = &d->q[i];
		if (t->nq > 1 && n > 0 && (size_t)n < sizeof(t->who))
			n += snprintf(t->who + n, sizeof(t->who) - (size_t)n, ",%u", i);
	}
}

/*
 * per-io: pin the thread to the CPUs of the queues it has tags of; the
 * queues' io buffers are the main thread's (rs_per_io_prepare), a user-copy
 * scratch buffer is the thread's own. 0 or -errno
 */
static int per_io_setup_thread(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	struct rs_qstate *st = t->q->st;
	unsigned int k, tag;
	cpu_set_t cpus;
	int ret, ncpus = (int)sysconf(_SC_NPROCESSORS_CONF);

	CPU_ZERO(&cpus);
	for (k = 0; k < d->nr_queues; k++)
		for (tag = 0; tag < d->depth; tag++)
			if (per_io_owns(t, k, tag)) {
				CPU_OR(&cpus, &cpus, &d->q[k].cpus);
				break;
			}
	if (ncpus > CPU_SETSIZE)
		ncpus = CPU_SETSIZE;
	rs_cpulist(&cpus, ncpus, st->cpus, sizeof(st->cpus));
	if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		rs_warn("%s: cannot pin to the cpus of its queues (%s): %s", t->who,
			st->cpus, strerror(errno));
	st->tid = (uint32_t)gettid();
	st->want_node = t->q->node;
	st->node = -1;
	if (!d->user_copy || !queue_buf_len(d))
		return 0;
	ret = queue_alloc_buf(t->q, queue_buf_len(d), t->who);
	if (ret < 0)
		return ret;
	for (k = 0; k < t->nq; k++)
		t->qs[k]->buf = t->q->buf;	/* the scratch; freed with the handle */
	return 0;
}

/*
 * SCHED_BATCH: a woken queue thread does not preempt the task running on
 * its CPU (the scheduler's wakeup preemption skips batch tasks).  On a CPU
 * it shares with the submitter, the first request's wakeup would otherwise
 * cut the submitter's run short, and each request batch (one task work
 * pass, one submit of commits) holds only what was queued by then; without
 * preemption the submitter queues all it has first.  A thread with a CPU of
 * its own runs at once when woken either way.  A refusal costs nothing.
 */
static void queue_sched_batch(void)
{
	struct sched_param sp = { .sched_priority = 0 };

	(void)sched_setscheduler(0, SCHED_BATCH, &sp);
}

/* pin the thread to its queues' CPUs, allocate their buffers; 0 or -errno */
static int queue_setup_thread(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	size_t blen = queue_buf_len(d);
	cpu_set_t cpus = t->q->cpus;
	unsigned int i;
	sigset_t set;
	int ret = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	queue_sched_batch();
	if (d->per_io)
		return per_io_setup_thread(t);
	for (i = 1; i < t->nq; i++)
		CPU_OR(&cpus, &cpus, &t->qs[i]->cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		rs_warn("%s: cannot pin to the cpus of its queues (%s...): %s", t->who,
			t->q->st->cpus, strerror(errno));
	for (i = 0; i < t->nq && ret == 0; i++)
		ret = queue_setup_buf(t, t->qs[i], blen);
	return ret;
}

/*
 * zc (AUTO_BUF_REG): a sparse buffer table of a slot per tag of each queue
 * the thread serves (zc_slot), where the driver registers each request's
 * pages before delivering it (the store file is fixed file 1, see
 * queue_setup_ring); 0 or -errno
 */
static int zc_setup_ring(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	unsigned int n = d->per_io ? thread_tags(t) : d->depth * t->nq;
	int ret = io_uring_register_buffers_sparse(&t->ring, n);

	if (ret < 0)
		rs_err("%s: sparse buffer table of %u: %s", t->who, n, strerror(-ret));
	return ret < 0 ? ret : 0;
}

/* the ring, the char node registered in it, a FETCH_REQ per tag; 0 or
 * -errno (the ring is gone then) */
static int queue_setup_ring(struct qthread *t)
{
	struct rs_queue *q = t->q;
	struct rs_dev *d = q->dev;
	unsigned int tag, i, n = thread_tags(t);
	/* zc-explicit queues a 3-SQE chain per request: room for every one in
	 * flight, so a pass never submits midway (rs_zc_submit also never
	 * splits a chain when the SQ is full) */
	unsigned int entries = d->zc_reg ? 3 * n : n;
	struct io_uring_cqe *cqe;
	int ret;

	ret = ring_init(&t->ring, entries);
	if (ret < 0) {
		rs_err("%s: io_uring setup (%u entries): %s", t->who, entries,
		       strerror(-ret));
		return ret;
	}
	/* one registration serves every queue: the char node opens once; zc:
	 * the store file is 1 (-1, an empty slot, without data) */
	ret = io_uring_register_files(&t->ring, (int[]){ q->cdev_fd, d->store_fd },
				      d->zc ? 2 : 1);
	if (ret < 0) {
		rs_err("%s: register %s: %s", t->who, d->cdev, strerror(-ret));
		goto fail;
	}
	if (d->zc && (ret = zc_setup_ring(t)) < 0)
		goto fail;
	if (d->batch) {	/* UBLK_F_BATCH_IO: no per-tag FETCH_REQ; one queue */
		ret = rs_batch_start(q, &t->ring, t->who);
		if (ret < 0)
			goto fail;
		return 0;
	}
	for (i = 0; i < t->nq; i++)
		for (tag = 0; tag < d->depth; tag++)
			if (!d->per_io || per_io_owns(t, (unsigned int)t->qs[i]->q_id, tag))
				prep_io(t->qs[i], zu_get_sqe(&t->ring),
					UBLK_IO_FETCH_REQ, tag, -1);
	ret = io_uring_submit(&t->ring);
	if (ret != (int)n) {
		rs_err("%s: submitting %u FETCH_REQ: %s", t->who, n,
		       ret < 0 ? strerror(-ret) : "short submit");
		ret = ret < 0 ? ret : -EIO;
		goto fail;
	}
	/* a FETCH_REQ the driver refused completes at once: look for one */
	if (io_uring_peek_cqe(&t->ring, &cqe) == 0 && cqe->res < 0) {
		ret = cqe->res;
		rs_err("%s tag %u: FETCH_REQ (q %u): %s%s", t->who,
		       rs_ud_tag(cqe->user_data), rs_ud_q(cqe->user_data), strerror(-ret),
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
	bool timed = d->spin_policy == RS_SPIN_HYBRID, slept = false;
	uint64_t t1 = timed ? rs_now_ns() : 0, t2 = t1;
	int ret = 0;

	for (spin = 0; spin < budget && !io_uring_cq_ready(ring); spin++) {
		ret = io_uring_submit_and_get_events(ring);
		st->enters++;
		if (ret < 0)
			break;
		if (timed && !spin)
			t1 = rs_now_ns();
	}
	if (timed && spin > 1)
		t2 = rs_now_ns();
	spin_learn(t, d, budget, io_uring_cq_ready(ring) != 0);
	if (!io_uring_cq_ready(ring) || io_uring_sq_ready(ring)) {
		slept = !io_uring_cq_ready(ring);
		ret = io_uring_submit_and_wait(ring, 1);
		st->enters++;
		st->sleeps++;
	} else {
		ret = 0;
	}
	if (timed)
		hybrid_learn(t, d, budget, spin, t1, t2, rs_now_ns(), slept);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		rs_err("%s: io_uring_enter: %s", t->who, strerror(-ret));
		return ret;
	}
	return 0;
}

/* what queue_complete() counts per queue of its thread */
struct qtally {
	uint64_t reqs, bytes, cqes;
};

/* the queue a CQE is for (NULL: not one of the thread's) and its index */
static struct rs_queue *cqe_queue(struct qthread *t, uint64_t ud, unsigned int *k)
{
	struct rs_dev *d = t->q->dev;
	unsigned int q_id = rs_ud_q(ud);

	if (d->per_io) {	/* qs[k] is queue k's view */
		*k = q_id;
		return q_id < t->nq ? t->qs[q_id] : NULL;
	}
	if (t->nq == 1) {	/* one queue: no lookup */
		*k = 0;
		return q_id == (unsigned int)t->q->q_id ? t->q : NULL;
	}
	*k = (q_id - (unsigned int)t->q->q_id) / d->nr_threads;
	return q_id < d->nr_queues && *k < t->nq && t->qs[*k]->q_id == (int)q_id ?
	       t->qs[*k] : NULL;
}

/* the tallies into each queue's stats; handling time shared by requests */
static void queue_account(struct qthread *t, const struct qtally *tl,
			  uint64_t reqs, uint64_t ns)
{
	unsigned int k;

	for (k = 0; k < t->nq; k++) {
		struct rs_qstate *st = t->qs[k]->st;

		if (reqs && tl[k].reqs)
			st->handle_ns += t->nq == 1 ? ns : ns * tl[k].reqs / reqs;
		st->cqes += tl[k].cqes;
		st->reqs += tl[k].reqs;
		st->bytes += tl[k].bytes;
	}
}

/*
 * Handle every completion in the CQ: a fetched request goes to the target
 * and back as COMMIT_AND_FETCH; an aborted or failed command leaves
 * flight. Returns the commands that left.
 */
static int queue_complete(struct qthread *t)
{
	struct rs_dev *d = t->q->dev;
	struct qtally tl[RS_MAX_QUEUES];
	struct io_uring_cqe *cqe;
	struct rs_queue *q;
	uint64_t t0 = rs_now_ns(), reqs = 0;
	unsigned int head, tag, k, n = 0;
	int gone = 0, res;

	memset(tl, 0, t->nq * sizeof(tl[0]));
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		n++;
		res = cqe->res;
		tag = rs_ud_tag(cqe->user_data);
		q = cqe_queue(t, cqe->user_data, &k);
		if (rs_ud_op(cqe->user_data) == RS_UD_OP_BUFREG) {	/* it failed */
			rs_warn("%s tag %u: (UN)REGISTER_IO_BUF: %s", t->who, tag,
				strerror(-res));
			continue;
		}
		if (rs_ud_op(cqe->user_data) == RS_UD_OP_DATA && q) {	/* zc */
			prep_io(q, zu_get_sqe(&t->ring), UBLK_IO_COMMIT_AND_FETCH_REQ, tag,
				rs_zc_result(cqe, t->who));
			continue;
		}
		if (res == UBLK_IO_RES_ABORT) {
			gone++;
			continue;
		}
		if (res < 0 || tag >= d->depth || !q) {
			rs_warn("%s tag %u (q %u): command failed: %s", t->who, tag,
				rs_ud_q(cqe->user_data), strerror(res < 0 ? -res : EINVAL));
			gone++;
			continue;
		}
		tl[k].cqes++;
		q->store_off = ZUBLK_STORE_NONE;
		q->zc_op = 0;
		res = d->tgt->handle(q, tag, &q->descs[tag]);
		reqs++;
		tl[k].reqs++;
		if (res > 0)
			tl[k].bytes += (uint64_t)res;
		if (q->dev->zc && rs_zc_submit(&t->ring, q, tag, zc_slot(q, tag), res))
			continue;
		prep_io(q, zu_get_sqe(&t->ring), UBLK_IO_COMMIT_AND_FETCH_REQ, tag, res);
	}
	io_uring_cq_advance(&t->ring, n);
	/* zc data ops, aborts and failures: the thread's */
	tl[0].cqes += n - (unsigned int)reqs;
	queue_account(t, tl, reqs, reqs ? rs_now_ns() - t0 : 0);
	return gone;
}

static void *queue_thread(void *arg)
{
	struct qthread t = { .q = arg };
	struct rs_queue *q = t.q;
	struct rs_dev *d = q->dev;
	int inflight, ret;
	unsigned int i;

	queue_set_queues(&t);
	inflight = d->batch ? 1 : (int)thread_tags(&t);	/* batch: the fetch */
	t.spin = d->spin;	/* start polling; waits that find nothing stop it */

	ret = queue_setup_thread(&t);
	if (ret == 0)
		ret = queue_setup_ring(&t);
	for (i = 0; ret < 0 && i < t.nq && !d->per_io; i++)
		rs_buf_free(&t.qs[i]->buf);
	if (ret < 0 && d->per_io)	/* the views' buffers are the queues' */
		rs_buf_free(&q->buf);
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

/* map the descriptors of queue @q; 0 or -errno */
static int queue_map(struct rs_queue *q)
{
	struct rs_dev *d = q->dev;
	struct ublksrv_io_desc *p;
	int ret;

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
	return 0;
}

static void queue_unmap(struct rs_queue *q)
{
	if (q->descs)
		munmap((void *)q->descs, q->descs_len);
	q->descs = NULL;
	q->cdev_fd = -1;
}

int rs_queue_start(struct rs_queue *q)
{
	struct rs_dev *d = q->dev;
	unsigned int i;
	struct sigaction sa;
	int ret = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;	/* no SA_RESTART: wakes io_uring_enter */
	sigaction(SIGUSR2, &sa, NULL);

	/* this queue's and those its thread takes along (--threads); per-io:
	 * all mapped already (rs_per_io_prepare) */
	for (i = (unsigned int)q->q_id; !d->per_io && i < d->nr_queues && ret == 0;
	     i += d->nr_threads)
		ret = queue_map(&d->q[i]);
	if (ret < 0)
		goto fail;
	sem_init(&q->ready, 0, 0);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret) {
		rs_err("dev %d q %d: pthread_create: %s", d->info.dev_id,
		       q->q_id, strerror(ret));
		ret = -ret;
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
	for (i = (unsigned int)q->q_id; !d->per_io && i < d->nr_queues; i += d->nr_threads)
		queue_unmap(&d->q[i]);
	return ret;
}

int rs_per_io_prepare(struct rs_dev *d)
{
	size_t blen = d->user_copy ? 0 : queue_buf_len(d);	/* scratch: per thread */
	unsigned int i;
	char who[64];
	int ret;

	for (i = 0; i < d->nr_queues; i++) {
		struct rs_queue *q = &d->q[i];

		ret = queue_map(q);
		if (ret < 0)
			return ret;
		q->st->tid = 0;	/* served by every thread */
		if (!blen)
			continue;
		snprintf(who, sizeof(who), "dev %d q %u", d->info.dev_id, i);
		ret = queue_alloc_buf(q, blen, who);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < d->nr_threads; i++) {
		struct rs_queue *h = &d->thr[i];

		h->dev = d;
		h->q_id = (int)i;	/* the thread's index */
		h->cdev_fd = d->cdev_fd;
		/* a thread's scratch on the node of its first tag's queue */
		h->node = d->q[i / d->depth < d->nr_queues ? i / d->depth : 0].node;
		h->st = &d->st->thr[i];
	}
	return 0;
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
	queue_unmap(q);
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
