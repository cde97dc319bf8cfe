// SPDX-License-Identifier: GPL-2.0
/*
 * zublk-zc: a minimal one-queue server for the ZUBLK_F_PIN_BUF and
 * ZUBLK_F_STORE tests, so a test controls exactly which copies and pins the
 * driver makes.
 *
 *   zublk-zc [--ctrl PATH] serve [--pin] [--store | --none] [--huge]
 *            [--depth N] [--buf BYTES] [--size BYTES] [--remap-after N]
 *            [--oob] [--move] [--get-data] [--fetch0] [--fill]
 *       add a RAM device and serve it; prints the device id once START_DEV
 *       returned, exits when the device is stopped or deleted.
 *         --pin      ask ZUBLK_F_PIN_BUF (classic FETCH buffers)
 *         --store    ZUBLK_F_STORE: register the RAM as the store, commit
 *                    with store offsets
 *         --none     ZUBLK_F_STORE without a store: commit everything with
 *                    ZUBLK_STORE_NONE (moves no data)
 *         --huge     io buffers and store on 2 MiB hugepages (else 4 KiB
 *                    pages, THP off, so pins are countable)
 *         --remap-after N  after N requests, munmap the io buffers and map
 *                    fresh memory (all 0x5a) at the same address; from then
 *                    on every write is checked not to have reached it
 *         --oob      (--store) commit reads with an offset past the store
 *         --move     each tag has two buffers; every commit names the other
 *                    one (so PIN_BUF re-pins on every request) and a read's
 *                    data is put there (the commit's address holds the
 *                    commit's data)
 *         --get-data UBLK_F_NEED_GET_DATA: writes come without data, the
 *                    server fetches it into the tag's buffer
 *         --fetch0   (--get-data) FETCH with addr 0, and commit everything
 *                    but reads with addr 0: a buffer is named only where it
 *                    holds data
 *         --fill     the disk starts with the pattern below, not zeros
 *       A FETCH that fails at once (its buffer cannot be pinned) is a
 *       setup error: "FETCH tag N: <errno text>", exit 2, the device left
 *       for "del".  At exit, after closing its ring and char node, the
 *       server waits (up to 10 s) for its VmPin to drop to 0 and prints
 *       "VmPin after release: N kB" to stderr.
 *       Exit: 0, or 1 when the remap check saw driver data in the new
 *       mapping, 2 on setup errors.
 *   zublk-zc pattern BYTES
 *       write the --fill pattern of the first BYTES to stdout: each 8-byte
 *       word holds its own byte offset plus 1 (host byte order)
 *   zublk-zc [--ctrl PATH] del ID
 *       DEL_DEV
 *   zublk-zc [--ctrl PATH] badinput
 *       PIN_BUF/STORE bad inputs with the errno include/zublk.h documents
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../include/zublk.h"
#include "../../lib/uring_cmd.h"
#include "check.h"

#define HUGE_SZ		(2u << 20)
#define UD_CTRL		(1ULL << 63)

static const char *ctrl_path = "/dev/zublk-control";

struct opts {
	bool pin, store, none, huge, oob, move, get_data, fetch0, fill;
	unsigned int depth;
	unsigned int buf;		/* max_io_buf_bytes */
	uint64_t size;			/* device bytes */
	long remap_after;		/* -1: never */
};

struct zs {
	struct opts o;
	int ctrl_fd;
	int cfd;			/* char node */
	int id;
	struct io_uring ring;		/* SQE128: control and io commands */
	struct ublksrv_io_desc *descs;
	size_t descs_len;
	char *bufs;			/* depth x buf, twice with --move */
	unsigned char slot[64];		/* --move: which of a tag's buffers the
					 * driver has (per tag) */
	size_t bufs_len;
	char *ram;			/* the disk; the store under --store */
	int inflight;			/* parked io commands */
	long served;
	bool remapped;
	long remap_checked, remap_bad;
};

/* One control command on a private SQE128 ring. */
static int ctrl_once(unsigned int op, uint32_t id, void *buf, uint16_t len)
{
	struct zu_ctrl c;
	int ret = zu_ctrl_open(&c, ctrl_path, 4, IORING_SETUP_SQE128);

	if (ret == 0)
		ret = zu_ctrl_cmd(&c, op, id, buf, len, 0);
	zu_ctrl_close(&c);
	return ret;
}

/* ADD_DEV with @flags; returns the id, *granted the flags zublk granted. */
static int add_dev(const struct opts *o, uint64_t flags, uint64_t *granted)
{
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = 1,
		.queue_depth = (uint16_t)o->depth,
		.max_io_buf_bytes = o->buf,
		.dev_id = (uint32_t)-1,
		.flags = flags,
	};
	int ret = ctrl_once(UBLK_U_CMD_ADD_DEV, (uint32_t)-1, &info, sizeof(info));

	if (granted)
		*granted = info.flags;
	return ret < 0 ? ret : (int)info.dev_id;
}

static int set_params(const struct opts *o, int id)
{
	struct ublk_params p = {
		.len = sizeof(p),
		.types = UBLK_PARAM_TYPE_BASIC,
	};

	zu_params_basic(&p.basic, o->buf, o->size);
	return ctrl_once(UBLK_U_CMD_SET_PARAMS, (uint32_t)id, &p, sizeof(p));
}

/* Anonymous memory: 2 MiB hugepages, or 4 KiB pages with THP off. */
static void *map_mem(size_t len, bool huge, void *at)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0) |
		    (huge ? MAP_HUGETLB : 0);
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (!huge)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* The device and its char node, memory mapped; no ring yet. */
static int zs_open(struct zs *s, uint64_t flags)
{
	uint64_t granted;
	char path[64];

	s->id = add_dev(&s->o, flags, &granted);
	if (s->id < 0) {
		fprintf(stderr, "zublk-zc: ADD_DEV: %s\n", strerror(-s->id));
		return s->id;
	}
	if ((granted & flags) != flags) {
		fprintf(stderr, "zublk-zc: ADD_DEV granted %#" PRIx64 ", asked %#" PRIx64 "\n",
			granted, flags);
		return -EOPNOTSUPP;
	}
	if (set_params(&s->o, s->id) < 0) {
		fprintf(stderr, "zublk-zc: SET_PARAMS failed\n");
		return -EINVAL;
	}
	/* devtmpfs made the node within ADD_DEV */
	snprintf(path, sizeof(path), "/dev/zublkc%d", s->id);
	s->cfd = open(path, O_RDWR);
	if (s->cfd < 0) {
		fprintf(stderr, "zublk-zc: open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	s->descs_len = zu_descs_len(s->o.depth);
	s->descs = zu_map_descs(s->cfd, 0, s->o.depth, 0);
	if (s->descs == MAP_FAILED) {
		fprintf(stderr, "zublk-zc: mmap descriptors: %s\n", strerror(errno));
		return -errno;
	}
	return io_uring_queue_init(2 * s->o.depth + 8, &s->ring, IORING_SETUP_SQE128);
}

/* Ring closed (cancels parked commands), char node closed, DEL_DEV. */
static int zs_close(struct zs *s)
{
	io_uring_queue_exit(&s->ring);
	munmap(s->descs, s->descs_len);
	close(s->cfd);
	return ctrl_once(UBLK_U_CMD_DEL_DEV, (uint32_t)s->id, NULL, 0);
}

static struct io_uring_sqe *prep_io(struct zs *s, unsigned int op, uint16_t tag,
				    int32_t res, uint64_t addr)
{
	return sqe_or_exit(zu_prep_io(&s->ring, s->cfd, op, 0, tag, res, addr));
}

/* ZUBLK_U_IO_REGISTER_STORE on @r (any SQE size: the payload is 16 bytes). */
static int register_store(struct io_uring *r, int cfd, void *addr, uint64_t len)
{
	sqe_or_exit(zu_prep_store(r, cfd, addr, len));
	return zu_submit_wait(r, NULL);
}

static char *buf_of(struct zs *s, uint16_t tag)
{
	return s->bufs + ((size_t)s->slot[tag] * s->o.depth + tag) * s->o.buf;
}

static uint64_t fetch_addr(struct zs *s, uint16_t tag)
{
	return s->o.store || s->o.none ? 0 : (uintptr_t)buf_of(s, tag);
}

/* The --fill pattern of [off, off + len), both multiples of 8. */
static void fill_pattern(uint64_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len / 8; i++)
		p[i] = off + i * 8 + 1;
}

/* Replace the io buffers by fresh memory at the same address. */
static int remap(struct zs *s)
{
	munmap(s->bufs, s->bufs_len);
	if (map_mem(s->bufs_len, s->o.huge, s->bufs) != s->bufs)
		return -errno;
	memset(s->bufs, 0x5a, s->bufs_len);
	s->remapped = true;
	return 0;
}

/* Did anything but 0x5a reach the new mapping? */
static bool remap_touched(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0x5a)
			return true;
	return false;
}

/* Serve the request on @tag: its result, and *addr for the commit. */
static int handle(struct zs *s, uint16_t tag, uint64_t *addr)
{
	const struct ublksrv_io_desc *d = &s->descs[tag];
	uint64_t off = d->start_sector << 9;
	size_t len = (size_t)d->nr_sectors << 9;
	unsigned int op = ublksrv_get_op(d);
	char *buf = buf_of(s, tag);	/* a write's data, where the driver put it */

	/* --move: the commit names the other buffer, which gets a read's data */
	if (s->o.move)
		s->slot[tag] ^= 1;
	*addr = s->o.fetch0 && op != UBLK_IO_OP_READ ? 0 : fetch_addr(s, tag);
	if (op != UBLK_IO_OP_READ && op != UBLK_IO_OP_WRITE)
		return 0;
	if (off + len > s->o.size || len > s->o.buf)
		return -EIO;
	if (s->o.none) {
		*addr = ZUBLK_STORE_NONE;
	} else if (s->o.store) {
		*addr = s->o.oob && op == UBLK_IO_OP_READ ? s->o.size : off;
	} else if (s->remapped) {
		/* the driver's copy went to the pinned pages, not these */
		if (op == UBLK_IO_OP_WRITE) {
			s->remap_checked++;
			s->remap_bad += remap_touched(buf, len);
		}
	} else if (op == UBLK_IO_OP_READ) {
		memcpy(buf_of(s, tag), s->ram + off, len);
	} else {
		memcpy(s->ram + off, buf, len);
	}
	return (int)len;
}

/*
 * Reap and serve until @ctrl_res is set (when not NULL) or, without one,
 * until no command is parked any more.
 */
static int serve(struct zs *s, int *ctrl_res)
{
	while (ctrl_res ? *ctrl_res == INT32_MIN : s->inflight > 0) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_submit_and_wait(&s->ring, 1);

		if (ret < 0 && ret != -EINTR)
			return ret;
		while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
			uint64_t ud = cqe->user_data, addr;
			int res = cqe->res;

			io_uring_cqe_seen(&s->ring, cqe);
			if (ud & UD_CTRL) {
				*ctrl_res = res;
				continue;
			}
			if (res < 0 || res == UBLK_IO_RES_ABORT) {
				s->inflight--;
				continue;
			}
			if (res == UBLK_IO_RES_NEED_GET_DATA) {
				/* completes with UBLK_IO_RES_OK once the data is in */
				prep_io(s, UBLK_U_IO_NEED_GET_DATA, (uint16_t)ud, 0,
					fetch_addr(s, (uint16_t)ud));
				continue;
			}
			res = handle(s, (uint16_t)ud, &addr);
			prep_io(s, UBLK_U_IO_COMMIT_AND_FETCH_REQ, (uint16_t)ud, res, addr);
			if (++s->served == s->o.remap_after && remap(s)) {
				fprintf(stderr, "zublk-zc: remap: %s\n", strerror(errno));
				return -errno;
			}
		}
	}
	return 0;
}

/* VmPin of this process in kB, or -1. */
static long vmpin_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * The driver drops its pins when the char node is released, which may
 * happen after close() in io_uring's ring exit work: wait for VmPin 0.
 */
static void report_vmpin(void)
{
	long kb = vmpin_kb();

	for (int i = 0; i < 100 && kb != 0; i++) {
		usleep(100000);
		kb = vmpin_kb();
	}
	fprintf(stderr, "zublk-zc: VmPin after release: %ld kB\n", kb);
}

/* After submitting the FETCHes: did one fail at once?  0 or its errno. */
static int fetch_failed(struct zs *s)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit(&s->ring);

	if (ret < 0)
		return ret;
	if (io_uring_peek_cqe(&s->ring, &cqe))
		return 0;
	ret = cqe->res;
	fprintf(stderr, "zublk-zc: FETCH tag %llu: %s\n",
		(unsigned long long)cqe->user_data, strerror(-ret));
	io_uring_cqe_seen(&s->ring, cqe);
	return ret < 0 ? ret : -EPROTO;
}

static int cmd_serve(struct opts *o)
{
	uint64_t flags = (o->pin ? ZUBLK_F_PIN_BUF : 0) |
			 (o->get_data ? UBLK_F_NEED_GET_DATA : 0) |
			 (o->store || o->none ? ZUBLK_F_STORE : 0);
	struct zs s = { .o = *o };
	int ret, start = INT32_MIN;

	s.bufs_len = (size_t)o->depth * o->buf * (o->move ? 2 : 1);
	if (o->huge)
		s.bufs_len = (s.bufs_len + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1);
	s.bufs = map_mem(s.bufs_len, o->huge, NULL);
	s.ram = map_mem(o->size, o->huge, NULL);
	if (!s.bufs || !s.ram) {
		fprintf(stderr, "zublk-zc: cannot map %s memory: %s\n",
			o->huge ? "hugepage" : "anonymous", strerror(errno));
		return 2;
	}
	memset(s.bufs, 0, s.bufs_len);
	if (o->fill)
		fill_pattern((uint64_t *)s.ram, 0, o->size);
	else
		memset(s.ram, 0, o->size);
	if (zs_open(&s, flags) < 0)
		return 2;
	if (o->store) {
		ret = register_store(&s.ring, s.cfd, s.ram, o->size);
		if (ret < 0) {
			fprintf(stderr, "zublk-zc: REGISTER_STORE: %s\n", strerror(-ret));
			return 2;
		}
	}
	for (uint16_t t = 0; t < o->depth; t++)
		prep_io(&s, UBLK_U_IO_FETCH_REQ, t, -1,
			o->fetch0 ? 0 : fetch_addr(&s, t));
	s.inflight = (int)o->depth;
	if (fetch_failed(&s))
		return 2;
	/* START_DEV reads the partition table: serve while it runs */
	s.ctrl_fd = open(ctrl_path, O_RDWR);
	if (s.ctrl_fd < 0) {
		fprintf(stderr, "zublk-zc: open %s: %s\n", ctrl_path, strerror(errno));
		return 2;
	}
	sqe_or_exit(zu_prep_ctrl(&s.ring, s.ctrl_fd, UBLK_U_CMD_START_DEV, (uint32_t)s.id,
				 NULL, 0, (uint64_t)getpid()))->user_data = UD_CTRL;
	ret = serve(&s, &start);
	if (ret < 0 || start < 0) {
		fprintf(stderr, "zublk-zc: START_DEV: %s\n", strerror(-(ret < 0 ? ret : start)));
		return 2;
	}
	printf("%d\n", s.id);
	fflush(stdout);
	ret = serve(&s, NULL);
	io_uring_queue_exit(&s.ring);
	munmap(s.descs, s.descs_len);
	close(s.cfd);
	close(s.ctrl_fd);
	report_vmpin();
	if (ret < 0)
		return 2;
	if (o->remap_after >= 0) {
		fprintf(stderr, "zublk-zc: remap: %ld writes checked, %ld reached the new mapping\n",
			s.remap_checked, s.remap_bad);
		return s.remap_bad || !s.remap_checked;
	}
	return 0;
}

/* ---- bad input ------------------------------------------------------------ */

/* FETCH on tag 0: its result, or 1 when it was accepted (parked). */
static int fetch_once(struct zs *s, uint16_t tag, void *addr)
{
	struct __kernel_timespec ts = { .tv_nsec = 200000000 };
	struct io_uring_cqe *cqe;
	int ret;

	prep_io(s, UBLK_U_IO_FETCH_REQ, tag, -1, (uintptr_t)addr);
	cqe = NULL;
	ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
	if (ret < 0 || !cqe)
		return 1;
	ret = cqe->res;
	io_uring_cqe_seen(&s->ring, cqe);
	return ret;
}

static int cmd_badinput(void)
{
	struct opts o = { .depth = 2, .buf = 64 << 10, .size = 4 << 20 };
	struct zs s = { .o = o };
	struct io_uring r64;
	uint64_t granted;
	char *mem, *ro;
	int id;

	mem = map_mem(4 << 20, false, NULL);
	ro = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!mem || ro == MAP_FAILED || io_uring_queue_init(4, &r64, 0))
		return 2;

	check("ADD_DEV STORE|USER_COPY", add_dev(&o, ZUBLK_F_STORE | UBLK_F_USER_COPY, NULL),
	      -EINVAL);
	check("ADD_DEV STORE|NEED_GET_DATA",
	      add_dev(&o, ZUBLK_F_STORE | UBLK_F_NEED_GET_DATA, NULL), -EINVAL);
	id = add_dev(&o, ZUBLK_F_PIN_BUF | UBLK_F_USER_COPY, &granted);
	check("ADD_DEV PIN_BUF|USER_COPY: PIN_BUF not granted",
	      id >= 0 && !(granted & ZUBLK_F_PIN_BUF), 1);
	if (id >= 0)
		ctrl_once(UBLK_U_CMD_DEL_DEV, (uint32_t)id, NULL, 0);

	/* REGISTER_STORE on a device without ZUBLK_F_STORE */
	if (zs_open(&s, 0))
		return 2;
	check("REGISTER_STORE without ZUBLK_F_STORE",
	      register_store(&s.ring, s.cfd, mem, 1 << 20), -EINVAL);
	check("DEL_DEV", zs_close(&s), 0);

	/* a STORE device: bad ranges, then one good registration */
	if (zs_open(&s, ZUBLK_F_STORE))
		return 2;
	check("REGISTER_STORE unaligned addr",
	      register_store(&s.ring, s.cfd, mem + 512, 1 << 20), -EINVAL);
	check("REGISTER_STORE unaligned len",
	      register_store(&s.ring, s.cfd, mem, (1 << 20) + 512), -EINVAL);
	check("REGISTER_STORE len 0", register_store(&s.ring, s.cfd, mem, 0), -EINVAL);
	check("REGISTER_STORE read-only memory",
	      register_store(&s.ring, s.cfd, ro, 1 << 20), -EFAULT);
	check("REGISTER_STORE on a 64-byte SQE",
	      register_store(&r64, s.cfd, mem, 1 << 20), 0);
	check("REGISTER_STORE twice", register_store(&s.ring, s.cfd, mem, 1 << 20), -EBUSY);
	check("DEL_DEV", zs_close(&s), 0);

	/* a STORE device whose tag is fetched before any store */
	if (zs_open(&s, ZUBLK_F_STORE))
		return 2;
	check("FETCH without a store (parked)", fetch_once(&s, 0, NULL), 1);
	check("REGISTER_STORE after FETCH", register_store(&s.ring, s.cfd, mem, 1 << 20),
	      -EBUSY);
	check("DEL_DEV", zs_close(&s), 0);

	/* PIN_BUF: FETCH buffers that cannot be pinned long term */
	if (zs_open(&s, ZUBLK_F_PIN_BUF))
		return 2;
	check("FETCH PIN_BUF read-only buffer", fetch_once(&s, 0, ro), -EFAULT);
	munmap(mem + (2 << 20), 1 << 20);
	check("FETCH PIN_BUF unmapped buffer", fetch_once(&s, 0, mem + (2 << 20)), -EFAULT);
	check("FETCH PIN_BUF buffer half unmapped",
	      fetch_once(&s, 0, mem + (2 << 20) - (32 << 10)), -EFAULT);
	check("FETCH PIN_BUF good buffer (parked)", fetch_once(&s, 0, mem), 1);
	check("DEL_DEV", zs_close(&s), 0);

	io_uring_queue_exit(&r64);
	return failures ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: zublk-zc [--ctrl PATH] serve [--pin] [--store|--none] [--huge] [--depth N] [--buf BYTES] [--size BYTES] [--remap-after N] [--oob] [--move] [--get-data] [--fetch0] [--fill] | pattern BYTES | del ID | badinput\n");
	return 2;
}

/* The --fill pattern of the first @arg bytes to stdout. */
static int cmd_pattern(const char *arg)
{
	uint64_t chunk[512], len, off;
	char *end;

	len = strtoull(arg, &end, 0);
	if (*end || len % 8) {
		fprintf(stderr, "zublk-zc: pattern wants a byte count, a multiple of 8, not '%s'\n", arg);
		return 2;
	}
	for (off = 0; off < len; off += sizeof(chunk)) {
		size_t n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);

		fill_pattern(chunk, off, n);
		if (fwrite(chunk, 1, n, stdout) != n)
			return 2;
	}
	return fflush(stdout) ? 2 : 0;
}

static bool num_arg(int argc, char **argv, int *i, const char *name, uint64_t *v)
{
	char *end;

	if (strcmp(argv[*i], name) || *i + 1 >= argc)
		return false;
	*v = strtoull(argv[++*i], &end, 0);
	if (*end) {
		fprintf(stderr, "zublk-zc: %s wants a number, not '%s'\n", name, argv[*i]);
		exit(2);
	}
	return true;
}

int main(int argc, char **argv)
{
	struct opts o = { .depth = 4, .buf = 64 << 10, .size = 16 << 20, .remap_after = -1 };
	uint64_t v;
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "--ctrl")) {
		ctrl_path = argv[2];
		i = 3;
	}
	if (i >= argc)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[i], "badinput")) {
		alarm(120);
		return cmd_badinput();
	}
	if (!strcmp(argv[i], "pattern") && i + 1 < argc)
		return cmd_pattern(argv[i + 1]);
	if (!strcmp(argv[i], "del") && i + 1 < argc) {
		int ret = ctrl_once(UBLK_U_CMD_DEL_DEV, (uint32_t)atoi(argv[i + 1]), NULL, 0);

		if (ret < 0)
			fprintf(stderr, "zublk-zc: DEL_DEV: %s\n", strerror(-ret));
		return ret < 0;
	}
	if (strcmp(argv[i], "serve"))
		return usage();
	for (i++; i < argc; i++) {
		if (!strcmp(argv[i], "--pin"))
			o.pin = true;
		else if (!strcmp(argv[i], "--store"))
			o.store = true;
		else if (!strcmp(argv[i], "--none"))
			o.none = true;
		else if (!strcmp(argv[i], "--huge"))
			o.huge = true;
		else if (!strcmp(argv[i], "--oob"))
			o.oob = true;
		else if (!strcmp(argv[i], "--move"))
			o.move = true;
		else if (!strcmp(argv[i], "--get-data"))
			o.get_data = true;
		else if (!strcmp(argv[i], "--fetch0"))
			o.fetch0 = true;
		else if (!strcmp(argv[i], "--fill"))
			o.fill = true;
		else if (num_arg(argc, argv, &i, "--depth", &v))
			o.depth = (unsigned int)v;
		else if (num_arg(argc, argv, &i, "--buf", &v))
			o.buf = (unsigned int)v;
		else if (num_arg(argc, argv, &i, "--size", &v))
			o.size = v;
		else if (num_arg(argc, argv, &i, "--remap-after", &v))
			o.remap_after = (long)v;
		else
			return usage();
	}
	if (!o.depth || o.depth > 64 || o.buf < 4096 || o.buf % 4096 ||
	    !o.size || o.size % HUGE_SZ || (o.store && o.none) ||
	    (o.oob && !o.store) || ((o.move || o.get_data) && (o.store || o.none)) ||
	    (o.remap_after >= 0 && (o.store || o.none || o.move)) ||
	    (o.fetch0 && !o.get_data)) {
		fprintf(stderr, "zublk-zc: bad option combination or value (size must be a multiple of 2 MiB)\n");
		return 2;
	}
	return cmd_serve(&o);
}
