// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: the targets, looked up by name; a device's target starts once its
 * data path is chosen (copy.c).
 */
#include <stdio.h>
#include <string.h>
#include "ramsrv.h"

static const struct target_ops *const targets[] = {
	&tgt_null_ops,
	&tgt_ram_ops,
	NULL,
};

const struct target_ops *rs_target_find(const char *name)
{
	const struct target_ops *const *t;

	for (t = targets; *t; t++)
		if (!strcmp((*t)->name, name))
			return *t;
	return NULL;
}

const char *rs_target_list(char *buf, size_t len, unsigned int mask,
			   unsigned int want)
{
	const struct target_ops *const *t;
	size_t off = 0;

	buf[0] = '\0';
	for (t = targets; *t; t++)
		if (((*t)->caps & mask) == want && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s-t %s",
						off ? " or " : "", (*t)->name);
	return buf;
}

bool rs_target_store_writable(const struct target_ops *tgt, const struct rs_opts *o)
{
	return tgt->store_writable && tgt->store_writable(o);
}

int rs_target_init(struct rs_dev *d)
{
	int ret = rs_path_init(d);

	return ret < 0 ? ret : d->tgt->init(d);
}

void rs_target_fini(struct rs_dev *d)
{
	if (d->tgt && d->tgt->fini)
		d->tgt->fini(d);
	rs_path_fini(d);
}
