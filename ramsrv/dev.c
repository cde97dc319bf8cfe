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
	unsigned int i;

	if (!device_started)
		d->abort_now = 1;
	for (i = 0; i < d->nr_queues; i++) {
		struct rs_queue *q = &d->q[i];

		if (!q->started)
			continue;
		if (!d->abort_now && !join_within(q, 10000)) {
			rs_warn("dev %d q %u: queue did not drain, aborting it",
				d->info.dev_id, i);
			d->abort_now = 1;
		}
		/* a kick can land before the thread sleeps: repeat it */
		while (d->abort_now) {
			rs_queue_kick(q);
			if (join_within(q, 100))
				break;
		}
		q->started = false;
	}
	for (i = 0; i < d->nr_queues; i++)
		rs_queue_join(&d->q[i]);
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

int rs_serve(struct rs_dev *d, int live_fd)
{
	struct rs_opts *o = &d->opts;
	struct ublksrv_ctrl_dev_info *info = &d->info;
	struct ublk_params params;
	bool added = false, started = false;
	int cpu_node[CPU_SETSIZE];
	char msg[512];
	unsigned int i;
	int ncpus, ret, j;
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
	d->tgt = rs_target_find(o->target);
	d->depth = o->depth;
	d->size = o->size_set ? o->size : RS_DEF_SIZE;
	d->cdev_fd = -1;
	for (i = 0; i < RS_MAX_QUEUES; i++)
		d->q[i].cdev_fd = -1;

	if (!d->tgt) {		/* a state file's target: rs_opts_validate() did not see it */
		rs_err("unknown target '%s'", o->target);
		ret = -EINVAL;
		goto out;
	}
	ret = rs_ctrl_open(&d->ctrl, o->ctrl);
	if (ret < 0)
		goto out;
	if (d->recover) {
		/* the device's flags say how its data moves */
		ret = recover_begin(d);
		if (ret < 0)
			goto out;
		d->copy = o->copy;
		d->user_copy = info->flags & UBLK_F_USER_COPY;
		d->store_mode = info->flags & ZUBLK_F_STORE;
		d->pin = info->flags & ZUBLK_F_PIN_BUF;
		if ((d->copy == RS_COPY_CLASSIC) != (!d->user_copy && !d->store_mode)) {
			rs_err("dev %d: the device's flags 0x%llx do not match copy mode %s",
			       info->dev_id, (unsigned long long)info->flags,
			       rs_copy_name(d->copy));
			ret = -EINVAL;
			goto out;
		}
		goto geometry;
	}
	{
		struct rs_copy_plan plan;
		char m[160];

		/* GET_FEATURES answered iff ioctl encoding was probed, not forced off */
		ret = rs_copy_resolve(d->tgt, o->copy, o->pin, d->ctrl.features,
				      d->ctrl.features != 0, &plan, m, sizeof(m));
		if (ret < 0) {
			rs_err("%s", m);
			goto out;
		}
		d->copy = plan.mode;
		d->user_copy = plan.ucopy;
		d->store_mode = plan.store;
		d->pin = plan.pin;
	}
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
	{
		char m[160];
		uint64_t rf;

		ret = rs_recovery_flags(o->recovery, d->ctrl.features,
					d->ctrl.features != 0, &rf, m, sizeof(m));
		if (ret < 0) {
			rs_err("%s", m);
			goto out;
		}
		info->flags |= rf;
	}
	ret = rs_ctrl_add(&d->ctrl, info);
	if (ret == -EEXIST) {
		rs_err("device id %d is already in use", o->id);
		goto out;
	} else if (ret < 0) {
		rs_err("ADD_DEV on %s: %s", o->ctrl, strerror(-ret));
		goto out;
	}
	added = true;
	if (d->user_copy && !(info->flags & UBLK_F_USER_COPY)) {
		rs_err("--copy %s: the driver dropped UBLK_F_USER_COPY at ADD_DEV",
		       rs_copy_name(d->copy));
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (d->store_mode && !(info->flags & ZUBLK_F_STORE)) {
		rs_err("--copy %s: the driver dropped ZUBLK_F_STORE at ADD_DEV",
		       rs_copy_name(d->copy));
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (d->pin && !(info->flags & ZUBLK_F_PIN_BUF)) {
		if (o->pin == RS_PIN_ON) {
			rs_err("--pin on: the driver dropped ZUBLK_F_PIN_BUF at ADD_DEV");
			ret = -EOPNOTSUPP;
			goto out;
		}
		d->pin = false;	/* auto: per-IO pins, as on ublk_drv */
	}
	if (o->recovery != RS_REC_OFF && !(info->flags & UBLK_F_USER_RECOVERY)) {
		rs_err("--recovery %s: the driver dropped UBLK_F_USER_RECOVERY at ADD_DEV",
		       rs_recovery_name(o->recovery));
		ret = -EOPNOTSUPP;
		goto out;
	}
geometry:
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
		ret = -EINVAL;
		goto out;
	}
	if (d->max_io > o->max_io)
		d->max_io = o->max_io;
	ret = rs_dev_paths(o->ctrl, (int)info->dev_id, d->cdev, sizeof(d->cdev),
			   d->bdev, sizeof(d->bdev));
	if (ret < 0) {
		rs_err("cannot derive device nodes from %s", o->ctrl);
		goto out;
	}
	ret = rs_state_create(o->ctrl, (int)info->dev_id, &d->st);
	if (ret < 0)
		goto out;
	d->st->dev_flags = info->flags;
	d->st->huge_opt = o->huge;
	d->st->recoveries = d->recoveries;
	snprintf(d->st->recovery, sizeof(d->st->recovery), "%s",
		 rs_recovery_name(o->recovery));
	d->st->magic = RS_STATE_MAGIC;
	d->st->dev_id = (int32_t)info->dev_id;
	d->st->pid = getpid();
	d->st->state = RS_ST_STARTING;
	d->st->nr_queues = d->nr_queues;
	d->st->depth = d->depth;
	d->st->bs = o->bs;
	d->st->max_io = d->max_io;
	snprintf(d->st->target, sizeof(d->st->target), "%s", o->target);
	snprintf(d->st->copy_mode, sizeof(d->st->copy_mode), "%s",
		 rs_copy_name(d->copy));
	{
		struct rs_copy_plan plan = {
			.mode = d->copy, .ucopy = d->user_copy,
			.store = d->store_mode, .pin = d->pin,
		};

		snprintf(d->st->copy_path, sizeof(d->st->copy_path), "%s",
			 rs_copy_path(&plan));
	}
	snprintf(d->st->ctrl, sizeof(d->st->ctrl), "%s", o->ctrl);
	snprintf(d->st->bdev, sizeof(d->st->bdev), "%s", d->bdev);
	snprintf(d->st->backing, sizeof(d->st->backing), "%s", o->backing);

	/* queue -> CPUs -> NUMA node */
	ncpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (ncpus > CPU_SETSIZE)
		ncpus = CPU_SETSIZE;
	for (j = 0; j < ncpus; j++)
		cpu_node[j] = rs_cpu_node(j);
	for (i = 0; i < d->nr_queues; i++) {
		struct rs_queue *q = &d->q[i];
		int k;

		q->dev = d;
		q->q_id = (int)i;
		q->st = &d->st->q[i];
		ret = rs_ctrl_get_affinity(&d->ctrl, (int)info->dev_id, (int)i,
					   &q->cpus);
		if (ret < 0 || CPU_COUNT(&q->cpus) == 0) {
			rs_warn("dev %d q %u: GET_QUEUE_AFFINITY: %s; using all CPUs",
				info->dev_id, i, ret < 0 ? strerror(-ret) : "empty");
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

	d->st->size = d->size;
	ret = rs_target_init(d);
	if (ret < 0)
		goto out;
	d->st->size = d->size;
	d->st->store_huge = d->store_huge;
	if (d->size % o->bs) {
		rs_err("size %llu is not a multiple of the block size %u",
		       (unsigned long long)d->size, o->bs);
		ret = -EINVAL;
		goto out;
	}
	fill_params(d, &params);
	/* a recovered device keeps its parameters */
	ret = d->recover ? 0 : rs_ctrl_set_params(&d->ctrl, (int)info->dev_id, &params);
	if (ret < 0) {
		rs_err("dev %d: SET_PARAMS: %s", info->dev_id, strerror(-ret));
		goto out;
	}
	/* the char node appears via devtmpfs/udev: give it a moment */
	for (j = 0; j < 250; j++) {
		d->cdev_fd = open(d->cdev, O_RDWR | O_CLOEXEC);
		if (d->cdev_fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	if (d->cdev_fd < 0) {
		ret = -errno;
		rs_err("dev %d: open %s: %s", info->dev_id, d->cdev, strerror(errno));
		goto out;
	}
	/* STORE: the region must be registered before the first FETCH */
	if (d->store_mode) {
		ret = rs_store_register(d);
		if (ret < 0)
			goto out;
	}
	for (i = 0; i < d->nr_queues; i++) {
		ret = rs_queue_start(&d->q[i]);
		if (ret < 0)
			goto out;
	}
	if (d->recover) {
		ret = rs_ctrl_end_recovery(&d->ctrl, (int)info->dev_id, getpid());
		if (ret < 0) {
			rs_err("dev %d: END_USER_RECOVERY: %s", info->dev_id,
			       strerror(-ret));
			goto out;
		}
		added = true;	/* ours now: stop and delete it on exit */
	} else {
		ret = rs_ctrl_start(&d->ctrl, (int)info->dev_id, getpid());
		if (ret < 0) {
			rs_err("dev %d: START_DEV: %s", info->dev_id, strerror(-ret));
			goto out;
		}
	}
	started = true;
	d->st->state = RS_ST_LIVE;
	snprintf(msg, sizeof(msg), "OK %d %s\n", info->dev_id, d->bdev);
	if (live_fd >= 0) {
		char log[RS_PATH_MAX];
		int lfd;

		/* detach from the caller's stderr: log to the state dir */
		rs_state_path(o->ctrl, (int)info->dev_id, "log", log, sizeof(log));
		lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd >= 0) {
			dup2(lfd, STDERR_FILENO);
			close(lfd);
		}
		report(live_fd, msg);
		close(live_fd);
		live_fd = -1;
	} else {
		printf("%d %s\n", info->dev_id, d->bdev);
		fflush(stdout);
	}

	j = wait_signal();
	if (j == SIGUSR1)
		rs_warn("dev %d: a queue failed, stopping", info->dev_id);
	ret = 0;
out:
	d->stopping = 1;
	if (d->st)
		d->st->state = RS_ST_STOPPING;
	if (added && started) {
		int r = rs_ctrl_stop(&d->ctrl, (int)info->dev_id);

		if (r < 0)
			rs_warn("dev %d: STOP_DEV: %s", info->dev_id, strerror(-r));
	}
	stop_queues(d, started);
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	d->cdev_fd = -1;
	if (added) {
		int r = rs_ctrl_del(&d->ctrl, (int)info->dev_id);

		if (r < 0)
			rs_warn("dev %d: DEL_DEV: %s", info->dev_id, strerror(-r));
	}
	rs_target_fini(d);
	if (d->st) {
		bool keep = d->recover && !added;

		d->st->state = RS_ST_STOPPED;
		/* a failed recover leaves the device: keep what del/recover need */
		if (keep)
			d->st->pid = 0;
		rs_state_close(d->st);
		d->st = NULL;
		if (!keep)
			rs_state_remove(o->ctrl, (int)info->dev_id);
	}
	if (d->ctrl.ring)
		rs_ctrl_close(&d->ctrl);
	if (ret < 0 && live_fd >= 0) {
		snprintf(msg, sizeof(msg), "E %s\n",
			 rs_last_err[0] ? rs_last_err : strerror(-ret));
		report(live_fd, msg);
	}
	return ret;
}
