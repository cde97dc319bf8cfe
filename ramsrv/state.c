// SPDX-License-Identifier: GPL-2.0
/*
 * ramsrv: /run/ramsrv/<ctrl>/<id>/state, an mmap'd file the server keeps
 * current. <ctrl> is the control node's name ("ublk-control",
 * "zublk-control"): each driver numbers its devices from 0, so the id alone
 * does not name a device when two drivers are loaded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "ramsrv.h"

const char *rs_ctrl_base(const char *ctrl)
{
	const char *b = strrchr(ctrl, '/');

	return b ? b + 1 : ctrl;
}

int rs_state_path(const char *ctrl, int id, const char *file, char *buf,
		  size_t len)
{
	int n;

	if (file)
		n = snprintf(buf, len, "%s/%s/%d/%s", RS_STATE_DIR,
			     rs_ctrl_base(ctrl), id, file);
	else
		n = snprintf(buf, len, "%s/%s/%d", RS_STATE_DIR,
			     rs_ctrl_base(ctrl), id);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_ok(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rs_err("mkdir %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int rs_state_create(const char *ctrl, int id, struct rs_state **out)
{
	char dir[RS_PATH_MAX], path[RS_PATH_MAX];
	void *p;
	int fd, ret, i;

	ret = mkdir_ok(RS_STATE_DIR);
	if (ret < 0)
		return ret;
	snprintf(dir, sizeof(dir), "%s/%s", RS_STATE_DIR, rs_ctrl_base(ctrl));
	/* another server may rmdir the empty <ctrl> dir between our mkdirs */
	for (i = 0; i < 10; i++) {
		ret = mkdir_ok(dir);
		if (ret < 0)
			return ret;
		rs_state_path(ctrl, id, NULL, path, sizeof(path));
		if (mkdir(path, 0755) == 0 || errno == EEXIST)
			break;
		if (errno != ENOENT) {
			rs_err("mkdir %s: %s", path, strerror(errno));
			return -errno;
		}
	}
	rs_state_path(ctrl, id, "state", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, sizeof(struct rs_state)) < 0) {
		rs_err("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	p = mmap(NULL, sizeof(struct rs_state), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		rs_err("mmap %s: %s", path, strerror(errno));
		return -errno;
	}
	*out = p;
	return 0;
}

int rs_state_open(const char *ctrl, int id, struct rs_state **out)
{
	char path[RS_PATH_MAX];
	struct stat sb;
	void *p;
	int fd;

	rs_state_path(ctrl, id, "state", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_size != sizeof(struct rs_state)) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, sizeof(struct rs_state), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	if (((struct rs_state *)p)->magic != RS_STATE_MAGIC) {
		munmap(p, sizeof(struct rs_state));
		return -EINVAL;
	}
	*out = p;
	return 0;
}

void rs_state_close(struct rs_state *st)
{
	if (st)
		munmap(st, sizeof(*st));
}

void rs_state_remove(const char *ctrl, int id)
{
	char path[RS_PATH_MAX];

	rs_state_path(ctrl, id, "state", path, sizeof(path));
	unlink(path);
	rs_state_path(ctrl, id, "log", path, sizeof(path));
	unlink(path);
	rs_state_path(ctrl, id, NULL, path, sizeof(path));
	rmdir(path);
	/* the <ctrl> dir goes with its last device (fails while not empty) */
	snprintf(path, sizeof(path), "%s/%s", RS_STATE_DIR, rs_ctrl_base(ctrl));
	rmdir(path);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct rs_ent *x = a, *y = b;
	int c = strcmp(x->ctrl, y->ctrl);

	return c ? c : x->id - y->id;
}

/* Devices with state, sorted by control node then id; @ctrl NULL = all. */
int rs_state_list(const char *ctrl, struct rs_ent *ents, int max)
{
	const char *want = ctrl ? rs_ctrl_base(ctrl) : NULL;
	struct dirent *de, *ie;
	DIR *top, *sub;
	char path[RS_PATH_MAX];
	int n = 0;

	top = opendir(RS_STATE_DIR);
	if (!top)
		return 0;
	while ((de = readdir(top)) && n < max) {
		size_t l = strlen(de->d_name);

		/* only "<name>-control" dirs: skip ".", ".." and strays */
		if (l <= 8 || strcmp(de->d_name + l - 8, "-control") ||
		    l >= sizeof(ents->ctrl) || (want && strcmp(de->d_name, want)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", RS_STATE_DIR, de->d_name);
		sub = opendir(path);
		if (!sub)
			continue;
		while ((ie = readdir(sub)) && n < max) {
			unsigned long v;

			if (rs_parse_uint(ie->d_name, RS_MAX_DEV_ID, &v) < 0)
				continue;
			snprintf(ents[n].ctrl, sizeof(ents[n].ctrl), "%s", de->d_name);
			ents[n].id = (int)v;
			n++;
		}
		closedir(sub);
	}
	closedir(top);
	qsort(ents, (size_t)n, sizeof(*ents), ent_cmp);
	return n;
}
