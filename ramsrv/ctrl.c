// SPDX-License-Identifier: GPL-2.0
/* ramsrv: control commands over io_uring URING_CMD (128-byte SQEs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ramsrv.h"
#include "../lib/uring_cmd.h"

#ifndef UBLK_U_CMD_GET_FEATURES
#define UBLK_U_CMD_GET_FEATURES _IOR('u', 0x13, struct ublksrv_ctrl_cmd)
#endif

/* ioctl-encoded opcode for a legacy control command number */
static unsigned int ctrl_op(const struct rs_ctrl *c, unsigned int legacy)
{
	if (!c->ioctl_enc)
		return legacy;
	switch (legacy) {
	case UBLK_CMD_GET_QUEUE_AFFINITY: return UBLK_U_CMD_GET_QUEUE_AFFINITY;
	case UBLK_CMD_GET_DEV_INFO: return UBLK_U_CMD_GET_DEV_INFO;
	case UBLK_CMD_ADD_DEV: return UBLK_U_CMD_ADD_DEV;
	case UBLK_CMD_DEL_DEV: return UBLK_U_CMD_DEL_DEV;
	case UBLK_CMD_START_DEV: return UBLK_U_CMD_START_DEV;
	case UBLK_CMD_STOP_DEV: return UBLK_U_CMD_STOP_DEV;
	case UBLK_CMD_SET_PARAMS: return UBLK_U_CMD_SET_PARAMS;
	case UBLK_CMD_GET_PARAMS: return UBLK_U_CMD_GET_PARAMS;
	case UBLK_CMD_START_USER_RECOVERY: return UBLK_U_CMD_START_USER_RECOVERY;
	case UBLK_CMD_END_USER_RECOVERY: return UBLK_U_CMD_END_USER_RECOVERY;
	}
	return legacy;
}

static int ctrl_cmd(struct rs_ctrl *c, unsigned int op, int dev_id,
		    void *addr, unsigned int len, uint64_t data)
{
	return zu_ctrl_cmd(c->ring, op, (uint32_t)dev_id, addr, (uint16_t)len, data);
}

int rs_ctrl_open(struct rs_ctrl *c, const char *path)
{
	uint64_t feat = 0;
	int ret;

	memset(c, 0, sizeof(*c));
	c->ring = malloc(sizeof(*c->ring));
	if (!c->ring)
		return -ENOMEM;
	ret = zu_ctrl_open(c->ring, path, 4, IORING_SETUP_SQE128);
	if (ret < 0) {
		if (c->ring->fd >= 0)
			rs_err("control io_uring setup: %s", strerror(-ret));
		else if (ret == -ENOENT)
			rs_err("no control node %s (is the ublk_drv/zublk module loaded?)",
			       path);
		else
			rs_err("open %s: %s", path, strerror(-ret));
		rs_ctrl_close(c);
		return ret;
	}
	/* GET_FEATURES only exists ioctl-encoded; its absence means legacy */
	if (getenv("RAMSRV_LEGACY")) {	/* test knob: force legacy opcodes */
		c->ioctl_enc = false;
		return 0;
	}
	c->ioctl_enc = true;
	/*
	 * zublk's extensions are in GET_EXT_FEATURES (GET_FEATURES leaves
	 * them out when zublk stands in for ublk_drv); ublk_drv refuses it.
	 */
	ret = ctrl_cmd(c, ZUBLK_U_CMD_GET_EXT_FEATURES, -1, &feat, sizeof(feat), 0);
	if (ret < 0)
		ret = ctrl_cmd(c, UBLK_U_CMD_GET_FEATURES, -1, &feat, sizeof(feat), 0);
	if (ret < 0) {
		c->ioctl_enc = false;
		c->features = 0;
	} else {
		c->features = feat;
		c->ioctl_enc = !!(feat & UBLK_F_CMD_IOCTL_ENCODE);
	}
	return 0;
}

void rs_ctrl_close(struct rs_ctrl *c)
{
	if (c->ring) {
		zu_ctrl_close(c->ring);
		free(c->ring);
		c->ring = NULL;
	}
}

int rs_ctrl_add(struct rs_ctrl *c, struct ublksrv_ctrl_dev_info *info)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_ADD_DEV), (int)info->dev_id,
			info, sizeof(*info), 0);
}

int rs_ctrl_set_params(struct rs_ctrl *c, int id, struct ublk_params *p)
{
	p->len = sizeof(*p);
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_SET_PARAMS), id, p,
			sizeof(*p), 0);
}

int rs_ctrl_get_affinity(struct rs_ctrl *c, int id, int q, cpu_set_t *set)
{
	CPU_ZERO(set);
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_GET_QUEUE_AFFINITY), id, set,
			sizeof(*set), (uint64_t)q);
}

int rs_ctrl_start(struct rs_ctrl *c, int id, int pid)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_START_DEV), id, NULL, 0,
			(uint64_t)pid);
}

int rs_ctrl_stop(struct rs_ctrl *c, int id)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_STOP_DEV), id, NULL, 0, 0);
}

int rs_ctrl_del(struct rs_ctrl *c, int id)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_DEL_DEV), id, NULL, 0, 0);
}

int rs_ctrl_get_info(struct rs_ctrl *c, int id, struct ublksrv_ctrl_dev_info *info)
{
	memset(info, 0, sizeof(*info));
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_GET_DEV_INFO), id, info,
			sizeof(*info), 0);
}

int rs_ctrl_start_recovery(struct rs_ctrl *c, int id)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_START_USER_RECOVERY), id,
			NULL, 0, 0);
}

/* returns once every queue has fetched all its tags */
int rs_ctrl_end_recovery(struct rs_ctrl *c, int id, int pid)
{
	return ctrl_cmd(c, ctrl_op(c, UBLK_CMD_END_USER_RECOVERY), id,
			NULL, 0, (uint64_t)pid);
}
