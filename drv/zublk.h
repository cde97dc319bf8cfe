/* SPDX-License-Identifier: GPL-2.0 */
/*
 * zublk internal header: every structure the driver shares between its
 * files lives here, each field commented with its unit or its lock.
 */
#ifndef ZUBLK_H
#define ZUBLK_H

#include <linux/miscdevice.h>

/* Module-wide state (main.c). */
struct zublk_global {
	struct miscdevice ctrl;		/* /dev/zublk-control; registered at load */
};

#endif /* ZUBLK_H */
