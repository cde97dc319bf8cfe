// SPDX-License-Identifier: GPL-2.0
/* ramsrv: /run/ramsrv/<id>/state, an mmap'd file the server keeps current. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "ramsrv.h"

static void state_path(int id, const char *file, char *buf, size_t len)
{
	if (file)
		snprintf(buf, len, "%s/%d/%s", RS_STATE_DIR, id, file);
	else
		snprintf(buf, len, "%s/%d", RS_STATE_DIR, id);
}

int rs_state_create(int id, struct rs_state **out)
{
	char dir[128], path[160];
	void *p;
	int fd;

	if (mkdir(RS_STATE_DIR, 0755) < 0 && errno != EEXIST) {
		rs_err("mkdir %s: %s", RS_STATE_DIR, strerror(errno));
		return -errno;
	}
	state_path(id, NULL, dir, sizeof(dir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rs_err("mkdir %s: %s", dir, strerror(errno));
		return -errno;
	}
	state_path(id, "state", path, sizeof(path));
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

int rs_state_open(int id, struct rs_state **out)
{
	char path[160];
	struct stat sb;
	void *p;
	int fd;

	state_path(id, "state", path, sizeof(path));
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

void rs_state_remove(int id)
{
	char path[160];

	state_path(id, "state", path, sizeof(path));
	unlink(path);
	state_path(id, "log", path, sizeof(path));
	unlink(path);
	state_path(id, NULL, path, sizeof(path));
	rmdir(path);
}
