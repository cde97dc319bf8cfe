// SPDX-License-Identifier: GPL-2.0
/* ramsrv: device lifecycle in the server process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <numa.h>
#include "ramsrv.h"

static int ilog2u(unsigned int v)
{
	int s = 0;

	while ((1U << s) < v)
		s++;
	return s;
}

static void fill_params(struct rs_dev *d, struct ublk_params *p)
{
	unsigned int bs_shift = ilog2u(d->opts.bs);

	memset(p, 0, sizeof(*p));
	p->types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD;
	p->basic.attrs = d->attrs;
	p->basic.logical_bs_shift = bs_shift;
	p->basic.physical_bs_shift = bs_shift > 12 ? bs_shift : 12;
	p->basic.io_min_shift = bs_shift;
	p->basic.io_opt_shift = 12;
	p->basic.max_sectors = d->max_io >> 9;
	p->basic.dev_sectors = d->size >> 9;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = UINT32_MAX >> 9;
	p->discard.max_write_zeroes_sectors = UINT32_MAX >> 9;
	p->discard.max_discard_segments = 1;
}

static int wait_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	do {
		sig = sigwaitinfo(&set, NULL);
	} while (sig < 0 && errno == EINTR);
	return sig;
}

static bool join_within(struct rs_queue *q, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(q->thread, NULL, &ts) == 0;
}

/* Stop the queue threads: STOP_DEV aborts their fetches; kick if stuck. */
static void stop_queues(struct rs_dev *d, bool device_started)
{
	unsigned int i, n = d->per_io ? d->nr_threads : d->nr_queues;

	if (!device_started)
		atomic_store_explicit(&d->abort_now, true, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		struct rs_queue *q = rs_thread_q(d, i);

		if (!q->started)
			continue;
		if (!atomic_load_explicit(&d->abort_now, memory_order_relaxed) &&
		    !join_within(q, 10000)) {
			rs_warn("dev %d q %u: queue did not drain, aborting it",
				d->info.dev_id, i);
			atomic_store_explicit(&d->abort_now, true,
					      memory_order_relaxed);
		}
		/* a kick can land before the thread sleeps: repeat it */
		while (atomic_load_explicit(&d->abort_now, memory_order_relaxed)) {
			rs_queue_kick(q);
			if (join_within(q, 100))
				break;
		}
		q->started = false;
	}
	for (i = 0; i < d->nr_queues; i++)
		rs_queue_join(&d->q[i]);
	for (i = 0; d->per_io && i < d->nr_threads; i++)
		rs_queue_join(&d->thr[i]);
}

/*
 * Recover mode: take over device @id, whose server died. The device keeps
 * its geometry and flags (GET_DEV_INFO); START_USER_RECOVERY succeeds once
 * the driver has noticed the death and quiesced the device (or failed its
 * IO), so retry while it answers -EBUSY.
 */
static int recover_begin(struct rs_dev *d)
{
	struct ublksrv_ctrl_dev_info *info = &d->info;
	int id = d->opts.id, ret, i;

	ret = rs_ctrl_get_info(&d->ctrl, id, info);
	if (ret < 0) {
		rs_err("dev %d: GET_DEV_INFO: %s", id, strerror(-ret));
		return ret;
	}
	if (!(info->flags & UBLK_F_USER_RECOVERY)) {
		rs_err("dev %d: not added with --recovery: it cannot be recovered", id);
		return -EINVAL;
	}
	for (i = 0; i < 300; i++) {	/* 30 s */
		ret = rs_ctrl_start_recovery(&d->ctrl, id);
		if (ret != -EBUSY)
			break;
		usleep(100000);
	}
	if (ret < 0) {
		rs_err("dev %d: START_USER_RECOVERY: %s%s", id, strerror(-ret),
		       ret == -EBUSY ? " (is its server still running?)" : "");
		return ret;
	}
	return 0;
}

static void report(int live_fd, const char *msg)
{
	if (live_fd >= 0) {
		ssize_t r = write(live_fd, msg, strlen(msg));

		(void)r;
	} else {
		fputs(msg, stdout);
		fflush(stdout);
	}
}

/* what rs_serve has done so far: what teardown must undo */
struct rs_run {
	bool added;	/* the device is ours: stop and delete it on exit */
	bool started;	/* START_DEV or END_USER_RECOVERY succeeded */
};

/* block the signals of the server's protocol (ramsrv.h); settings from opts */
static void serve_init(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	unsigned int i;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	d->spin = RS_DEF_SPIN;
	if (getenv("RAMSRV_SPIN"))
		d->spin = (unsigned int)strtoul(getenv("RAMSRV_SPIN"), NULL, 10);
	d->spin_policy = rs_spin_policy(getenv("RAMSRV_SPIN_POLICY"));
	d->tgt = rs_target_find(o->target);
	d->depth = o->depth;
	d->size = o->size_set ? o->size : RS_DEF_SIZE;
	d->cdev_fd = -1;
	d->store_fd = -1;
	for (i = 0; i < RS_MAX_QUEUES; i++)
		d->q[i].cdev_fd = -1;
}

/*
 * How data moves (d->copy, user_copy, store_mode, pin): for a new device
 * the resolved --copy/--pin, asked of ADD_DEV; a recovered device's flags
 * already say it, and must match the copy mode in its state.
 */
static int select_copy(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	struct ublksrv_ctrl_dev_info *info = &d->info;
	struct rs_copy_plan plan;
	char m[160];
	int ret;

	if (d->recover) {
		d->copy = o->copy;
		d->user_copy = info->flags & UBLK_F_USER_COPY;
		d->store_mode = info->flags & ZUBLK_F_STORE;
		d->pin = info->flags & ZUBLK_F_PIN_BUF;
		d->batch = info->flags & UBLK_F_BATCH_IO;
		d->zc_reg = info->flags & UBLK_F_SUPPORT_ZERO_COPY;
		d->zc = (info->flags & UBLK_F_AUTO_BUF_REG) || d->zc_reg;
		if ((d->copy == RS_COPY_CLASSIC) !=
		    (!d->user_copy && !d->store_mode && !d->zc) ||
		    (d->copy == RS_COPY_ZC) != (d->zc && !d->zc_reg) ||
		    (d->copy == RS_COPY_ZC_REG) != d->zc_reg) {
			rs_err("dev %d: the device's flags 0x%llx do not match copy mode %s",
			       info->dev_id, (unsigned long long)info->flags,
			       rs_copy_name(d->copy));
			return -EINVAL;
		}
		return 0;
	}
	/* GET_FEATURES answered iff ioctl encoding was probed, not forced off */
	ret = rs_copy_resolve(d->tgt, o->copy, o->pin, d->ctrl.features,
			      d->ctrl.features != 0, rs_target_store_writable(d->tgt, o),
			      &plan, m, sizeof(m));
	if (ret < 0) {
		rs_err("%s", m);
		return ret;
	}
	d->copy = plan.mode;
	d->user_copy = plan.ucopy;
	d->store_mode = plan.store;
	d->pin = plan.pin;
	d->zc = plan.zc;
	d->zc_reg = plan.zc_reg;
	return 0;
}

/* ADD_DEV's request: the options' geometry, the copy and recovery flags */
static int fill_dev_info(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	struct ublksrv_ctrl_dev_info *info = &d->info;
	char m[160];
	uint64_t rf;
	int ret;

	memset(info, 0, sizeof(*info));
	info->nr_hw_queues = (uint16_t)o->queues;
	info->queue_depth = (uint16_t)o->depth;
	info->max_io_buf_bytes = o->max_io;
	info->dev_id = (uint32_t)o->id;
	info->flags = d->ctrl.ioctl_enc ? UBLK_F_CMD_IOCTL_ENCODE : 0;
	if (d->user_copy)
		info->flags |= UBLK_F_USER_COPY;
	if (d->store_mode)
		info->flags |= ZUBLK_F_STORE;
	if (d->pin)
		info->flags |= ZUBLK_F_PIN_BUF;
	if (d->zc)
		info->flags |= d->zc_reg ? UBLK_F_SUPPORT_ZERO_COPY : UBLK_F_AUTO_BUF_REG;
	ret = rs_recovery_flags(o->recovery, d->ctrl.features,
				d->ctrl.features != 0, &rf, m, sizeof(m));
	if (ret < 0) {
		rs_err("%s", m);
		return ret;
	}
	info->flags |= rf;
	if (o->batch) {
		if (!(d->ctrl.features & UBLK_F_BATCH_IO)) {
			rs_err("--batch: the driver %s UBLK_F_BATCH_IO (Linux 7.0+ ublk_drv)",
			       d->ctrl.features ? "does not offer" :
			       "cannot report features (no GET_FEATURES), so no");
			return -EOPNOTSUPP;
		}
		info->flags |= UBLK_F_BATCH_IO;
	}
	if (o->threads > o->queues) {	/* any thread may serve any tag */
		if (!(d->ctrl.features & UBLK_F_PER_IO_DAEMON)) {
			rs_err("--threads %u with %u queue(s): more threads than queues needs UBLK_F_PER_IO_DAEMON (Linux 6.16+ ublk_drv), which the driver %s",
			       o->threads, o->queues, d->ctrl.features ? "does not offer" :
			       "cannot report (no GET_FEATURES)");
			return -EOPNOTSUPP;
		}
		info->flags |= UBLK_F_PER_IO_DAEMON;
	}
	return 0;
}

/* ADD_DEV may drop flags it was asked for: fail, or do without a pin */
static int check_granted(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	uint64_t flags = d->info.flags;

	if (d->user_copy && !(flags & UBLK_F_USER_COPY)) {
		rs_err("--copy %s: the driver dropped UBLK_F_USER_COPY at ADD_DEV",
		       rs_copy_name(d->copy));
		return -EOPNOTSUPP;
	}
	if (d->store_mode && !(flags & ZUBLK_F_STORE)) {
		rs_err("--copy %s: the driver dropped ZUBLK_F_STORE at ADD_DEV",
		       rs_copy_name(d->copy));
		return -EOPNOTSUPP;
	}
	if (d->zc && !(flags & (d->zc_reg ? UBLK_F_SUPPORT_ZERO_COPY : UBLK_F_AUTO_BUF_REG))) {
		rs_err("--copy %s: the driver dropped %s at ADD_DEV", rs_copy_name(d->copy),
		       d->zc_reg ? "UBLK_F_SUPPORT_ZERO_COPY" : "UBLK_F_AUTO_BUF_REG");
		return -EOPNOTSUPP;
	}
	if (d->pin && !(flags & ZUBLK_F_PIN_BUF)) {
		if (o->pin == RS_PIN_ON) {
			rs_err("--pin on: the driver dropped ZUBLK_F_PIN_BUF at ADD_DEV");
			return -EOPNOTSUPP;
		}
		d->pin = false;	/* auto: per-IO pins, as on ublk_drv */
	}
	d->batch = flags & UBLK_F_BATCH_IO;
	if (o->batch && !d->batch) {
		rs_err("--batch: the driver dropped UBLK_F_BATCH_IO at ADD_DEV");
		return -EOPNOTSUPP;
	}
	if (o->threads > o->queues && !(flags & UBLK_F_PER_IO_DAEMON)) {
		rs_err("--threads %u: the driver dropped UBLK_F_PER_IO_DAEMON at ADD_DEV",
		       o->threads);
		return -EOPNOTSUPP;
	}
	if (o->recovery != RS_REC_OFF && !(flags & UBLK_F_USER_RECOVERY)) {
		rs_err("--recovery %s: the driver dropped UBLK_F_USER_RECOVERY at ADD_DEV",
		       rs_recovery_name(o->recovery));
		return -EOPNOTSUPP;
	}
	return 0;
}

static int add_device(struct rs_dev *d, struct rs_run *run)
{
	struct rs_opts *o = &d->opts;
	int ret;

	ret = fill_dev_info(d);
	if (ret < 0)
		return ret;
	ret = rs_ctrl_add(&d->ctrl, &d->info);
	if (ret == -EEXIST) {
		rs_err("device id %d is already in use", o->id);
		return ret;
	} else if (ret < 0) {
		rs_err("ADD_DEV on %s: %s", o->ctrl, strerror(-ret));
		return ret;
	}
	run->added = true;
	return check_granted(d);
}

/* the geometry the driver granted (or the recovered device has) */
static int take_geometry(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	struct ublksrv_ctrl_dev_info *info = &d->info;

	d->ioctl_io = d->ctrl.ioctl_enc &&
		      (info->flags & UBLK_F_CMD_IOCTL_ENCODE);
	d->nr_queues = info->nr_hw_queues;
	d->depth = info->queue_depth;
	d->max_io = info->max_io_buf_bytes;
	if (d->nr_queues < o->queues)
		rs_warn("dev %d: driver capped queues at %u", info->dev_id,
			d->nr_queues);
	if (d->nr_queues == 0 || d->nr_queues > RS_MAX_QUEUES || d->depth == 0 ||
	    d->max_io < 4096) {
		rs_err("dev %d: driver returned unusable geometry (%u queues, depth %u, max io %u)",
		       info->dev_id, d->nr_queues, d->depth, d->max_io);
		return -EINVAL;
	}
	if (d->max_io > o->max_io)
		d->max_io = o->max_io;
	/*
	 * --threads: fewer threads than queues, each serving several; more
	 * (UBLK_F_PER_IO_DAEMON), the tags spread over them. A driver that
	 * capped the queues below --threads without the flag: one per queue.
	 */
	d->nr_threads = o->threads ? o->threads : d->nr_queues;
	if (d->nr_threads > d->nr_queues && !(info->flags & UBLK_F_PER_IO_DAEMON)) {
		rs_warn("dev %d: %u threads for %u queue(s) need UBLK_F_PER_IO_DAEMON: running %u",
			info->dev_id, d->nr_threads, d->nr_queues, d->nr_queues);
		d->nr_threads = d->nr_queues;
	}
	d->per_io = d->nr_threads > d->nr_queues;
	if (d->per_io && (d->nr_threads > RS_MAX_THREADS ||
			  d->nr_threads > d->nr_queues * d->depth || d->batch)) {
		if (d->batch)
			rs_err("dev %d: --batch with more threads than queues is not supported",
			       info->dev_id);
		else if (d->nr_threads > RS_MAX_THREADS)
			rs_err("dev %d: --threads %u with %u queue(s): more than %u threads",
			       info->dev_id, d->nr_threads, d->nr_queues, RS_MAX_THREADS);
		else
			rs_err("dev %d: --threads %u with %u queue(s) of depth %u: "
			       "more threads than tags (each thread needs one to serve)",
			       info->dev_id, d->nr_threads, d->nr_queues, d->depth);
		return -EINVAL;
	}
	return 0;
}

/* Negotiate the device: add a new one, or take over (recover) a dead server's. */
static int negotiate(struct rs_dev *d, struct rs_run *run)
{
	int ret;

	if (!d->tgt) {		/* a state file's target: rs_opts_validate() did not see it */
		rs_err("unknown target '%s'", d->opts.target);
		return -EINVAL;
	}
	ret = rs_ctrl_open(&d->ctrl, d->opts.ctrl);
	if (ret < 0)
		return ret;
	if (d->recover)
		ret = recover_begin(d);
	if (ret >= 0)
		ret = select_copy(d);
	if (ret >= 0 && !d->recover)
		ret = add_device(d, run);
	if (ret >= 0)
		ret = take_geometry(d);
	return ret;
}

/* Publish the device's configuration in its state file (list, stats, recover). */
static int publish_state(struct rs_dev *d)
{
	struct rs_opts *o = &d->opts;
	int id = (int)d->info.dev_id, ret;
	struct rs_copy_plan plan = {
		.mode = d->copy, .ucopy = d->user_copy,
		.store = d->store_mode, .pin = d->pin, .zc = d->zc, .zc_reg = d->zc_reg,
	};
	struct rs_state *st;

	ret = rs_dev_paths(o->ctrl, id, d->cdev, sizeof(d->cdev),
			   d->bdev, sizeof(d->bdev));
	if (ret < 0) {
		rs_err("cannot derive device nodes from %s", o->ctrl);
		return ret;
	}
	ret = rs_state_create(o->ctrl, id, &d->st);
	if (ret < 0)
		return ret;
	st = d->st;
	st->dev_flags = d->info.flags;
	st->huge_opt = o->huge;
	st->recoveries = d->recoveries;
	snprintf(st->recovery, sizeof(st->recovery), "%s",
		 rs_recovery_name(o->recovery));
	st->magic = RS_STATE_MAGIC;
	st->dev_id = id;
	st->pid = getpid();
	st->state = RS_ST_STARTING;
	st->nr_queues = d->nr_queues;
	st->nr_threads = d->nr_threads;
	st->depth = d->depth;
	st->bs = o->bs;
	st->max_io = d->max_io;
	snprintf(st->target, sizeof(st->target), "%s", o->target);
	snprintf(st->copy_mode, sizeof(st->copy_mode), "%s", rs_copy_name(d->copy));
	snprintf(st->copy_path, sizeof(st->copy_path), "%s", rs_copy_path(&plan));
	snprintf(st->ctrl, sizeof(st->ctrl), "%s", o->ctrl);
	snprintf(st->bdev, sizeof(st->bdev), "%s", d->bdev);
	snprintf(st->backing, sizeof(st->backing), "%s", o->backing);
	return 0;
}

/* queue @q's CPUs (GET_QUEUE_AFFINITY, else all) and the node serving them */
static void map_queue(struct rs_dev *d, unsigned int i, const int *cpu_node,
		      int ncpus)
{
	struct rs_queue *q = &d->q[i];
	int ret, j, k;

	q->dev = d;
	q->q_id = (int)i;
	q->st = &d->st->q[i];
	ret = rs_ctrl_get_affinity(&d->ctrl, (int)d->info.dev_id, (int)i,
				   &q->cpus);
	if (ret < 0 || CPU_COUNT(&q->cpus) == 0) {
		rs_warn("dev %d q %u: GET_QUEUE_AFFINITY: %s; using all CPUs",
			d->info.dev_id, i, ret < 0 ? strerror(-ret) : "empty");
		CPU_ZERO(&q->cpus);
		for (j = 0; j < ncpus; j++)
			CPU_SET(j, &q->cpus);
	}
	q->node = rs_pick_node(&q->cpus, cpu_node, ncpus);
	q->st->want_node = q->node;
	q->st->node = -1;
	rs_cpulist(&q->cpus, ncpus, q->st->cpus, sizeof(q->st->cpus));
	for (k = 0; k < d->nr_nodes && d->nodes[k] != q->node; k++)
		;
	if (k == d->nr_nodes)
		d->nodes[d->nr_nodes++] = q->node;
}

/* Map the queues: queue -> CPUs -> NUMA node; d->nodes lists the nodes. */
static void map_queues(struct rs_dev *d)
{
	int cpu_node[CPU_SETSIZE];
	unsigned int i;
	int ncpus, j;

	ncpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (ncpus > CPU_SETSIZE)
		ncpus = CPU_SETSIZE;
	for (j = 0; j < ncpus; j++)
		cpu_node[j] = rs_cpu_node(j);
	for (i = 0; i < d->nr_queues; i++)
		map_queue(d, i, cpu_node, ncpus);
}

/* the target's store, then its parameters (a recovered device keeps its own) */
static int setup_target(struct rs_dev *d)
{
	struct ublk_params params;
	int ret;

	d->st->size = d->size;
	ret = rs_target_init(d);
	if (ret < 0)
		return ret;
	d->st->size = d->size;
	d->st->store_huge = d->store_huge;
	if (d->size % d->opts.bs) {
		rs_err("size %llu is not a multiple of the block size %u",
		       (unsigned long long)d->size, d->opts.bs);
		return -EINVAL;
	}
	fill_params(d, &params);
	ret = d->recover ? 0 : rs_ctrl_set_params(&d->ctrl, (int)d->info.dev_id, &params);
	if (ret < 0)
		rs_err("dev %d: SET_PARAMS: %s", d->info.dev_id, strerror(-ret));
	return ret;
}

/* the char node appears via devtmpfs/udev: give it a moment */
static int open_cdev(struct rs_dev *d)
{
	int j;

	for (j = 0; j < 250; j++) {
		d->cdev_fd = open(d->cdev, O_RDWR | O_CLOEXEC);
		if (d->cdev_fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	if (d->cdev_fd < 0) {
		int ret = -errno;

		rs_err("dev %d: open %s: %s", d->info.dev_id, d->cdev, strerror(errno));
		return ret;
	}
	return 0;
}

/* Start: queue threads with their FETCHes in, then START_DEV or END_USER_RECOVERY. */
static int start(struct rs_dev *d, struct rs_run *run)
{
	int id = (int)d->info.dev_id, ret;
	unsigned int i;

	/* STORE: the region must be registered before the first FETCH */
	if (d->store_mode) {
		ret = rs_store_register(d);
		if (ret < 0)
			return ret;
	}
	if (d->per_io && (ret = rs_per_io_prepare(d)) < 0)
		return ret;
	for (i = 0; i < d->nr_threads; i++) {	/* thread i: queues i, i + nr_threads, ... */
		ret = rs_queue_start(rs_thread_q(d, i));
		if (ret < 0)
			return ret;
	}
	if (d->recover) {
		ret = rs_ctrl_end_recovery(&d->ctrl, id, getpid());
		if (ret < 0) {
			rs_err("dev %d: END_USER_RECOVERY: %s", id, strerror(-ret));
			return ret;
		}
		run->added = true;	/* ours now: stop and delete it on exit */
	} else {
		ret = rs_ctrl_start(&d->ctrl, id, getpid());
		if (ret < 0) {
			rs_err("dev %d: START_DEV: %s", id, strerror(-ret));
			return ret;
		}
	}
	run->started = true;
	d->st->state = RS_ST_LIVE;
	return 0;
}

/* Say the device is live: through the launcher's pipe (closed then), or stdout. */
static void announce(struct rs_dev *d, int *live_fd)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "OK %d %s\n", d->info.dev_id, d->bdev);
	if (*live_fd >= 0) {
		char log[RS_PATH_MAX];
		int lfd;

		/* detach from the caller's stderr: log to the state dir */
		rs_state_path(d->opts.ctrl, (int)d->info.dev_id, "log", log, sizeof(log));
		lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd >= 0) {
			dup2(lfd, STDERR_FILENO);
			close(lfd);
		}
		report(*live_fd, msg);
		close(*live_fd);
		*live_fd = -1;
	} else {
		printf("%d %s\n", d->info.dev_id, d->bdev);
		fflush(stdout);
	}
}

/* Teardown, step 1: the device and the queue threads. */
static void stop_device(struct rs_dev *d, const struct rs_run *run)
{
	int id = (int)d->info.dev_id, r;

	atomic_store_explicit(&d->stopping, true, memory_order_relaxed);
	if (d->st)
		d->st->state = RS_ST_STOPPING;
	if (run->added && run->started) {
		r = rs_ctrl_stop(&d->ctrl, id);
		if (r < 0)
			rs_warn("dev %d: STOP_DEV: %s", id, strerror(-r));
	}
	stop_queues(d, run->started);
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	d->cdev_fd = -1;
	if (run->added) {
		r = rs_ctrl_del(&d->ctrl, id);
		if (r < 0)
			rs_warn("dev %d: DEL_DEV: %s", id, strerror(-r));
	}
}

/* Teardown, step 2: the target, the state file, the control node; errors out. */
static void release(struct rs_dev *d, const struct rs_run *run, int ret,
		    int live_fd)
{
	char msg[512];

	rs_target_fini(d);
	if (d->st) {
		bool keep = d->recover && !run->added;

		d->st->state = RS_ST_STOPPED;
		/* a failed recover leaves the device: keep what del/recover need */
		if (keep)
			d->st->pid = 0;
		rs_state_close(d->st);
		d->st = NULL;
		if (!keep)
			rs_state_remove(d->opts.ctrl, (int)d->info.dev_id);
	}
	if (d->ctrl.ring)
		rs_ctrl_close(&d->ctrl);
	if (ret < 0 && live_fd >= 0) {
		snprintf(msg, sizeof(msg), "E %s\n",
			 rs_last_err[0] ? rs_last_err : strerror(-ret));
		report(live_fd, msg);
	}
}

/*
 * Serve device d->opts (or recover d->opts.id) until SIGTERM/SIGINT/SIGHUP
 * or a failed queue (SIGUSR1). @live_fd: the launcher's pipe, or -1 in the
 * foreground. Returns 0, or -errno after reporting why.
 */
int rs_serve(struct rs_dev *d, int live_fd)
{
	struct rs_run run = { .added = false, .started = false };
	int ret;

	serve_init(d);
	ret = negotiate(d, &run);
	if (ret >= 0)
		ret = publish_state(d);
	if (ret >= 0) {
		map_queues(d);
		ret = setup_target(d);
	}
	if (ret >= 0)
		ret = open_cdev(d);
	if (ret >= 0)
		ret = start(d, &run);
	if (ret >= 0) {
		announce(d, &live_fd);
		if (wait_signal() == SIGUSR1)
			rs_warn("dev %d: a queue failed, stopping", d->info.dev_id);
		ret = 0;
	}
	stop_device(d, &run);
	release(d, &run, ret, live_fd);
	return ret;
}
