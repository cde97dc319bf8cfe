// SPDX-License-Identifier: GPL-2.0
/* ramsrv: host-side unit tests of the pure helpers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "ramsrv.h"

static int failed;

#define CHECK(name, cond, ...) do {					\
	if (cond) {							\
		printf("PASS %s\n", name);				\
	} else {							\
		printf("FAIL %s: ", name);				\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		failed++;						\
	}								\
} while (0)

static void test_size(void)
{
	static const struct { const char *s; int ret; uint64_t v; } t[] = {
		{ "4096", 0, 4096 }, { "64K", 0, 65536 }, { "64k", 0, 65536 },
		{ "1M", 0, 1 << 20 }, { "2G", 0, 2ULL << 30 }, { "1T", 0, 1ULL << 40 },
		{ "1GiB", 0, 1ULL << 30 }, { "0", 0, 0 }, { "", -EINVAL, 0 },
		{ "abc", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1X", -EINVAL, 0 },
		{ "1G2", -EINVAL, 0 }, { "99999999999999T", -ERANGE, 0 },
	};
	unsigned int i;
	char name[64];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 0;
		int ret = rs_parse_size(t[i].s, &v);

		snprintf(name, sizeof(name), "parse_size(\"%s\")", t[i].s);
		CHECK(name, ret == t[i].ret && (ret || v == t[i].v),
		      "got ret %d v %llu, want ret %d v %llu", ret,
		      (unsigned long long)v, t[i].ret, (unsigned long long)t[i].v);
	}
}

static void test_uint(void)
{
	unsigned long v;

	CHECK("parse_uint ok", rs_parse_uint("128", 4096, &v) == 0 && v == 128, "v %lu", v);
	CHECK("parse_uint range", rs_parse_uint("5000", 4096, &v) == -ERANGE, "no ERANGE");
	CHECK("parse_uint junk", rs_parse_uint("12a", 4096, &v) == -EINVAL, "no EINVAL");
	CHECK("parse_uint neg", rs_parse_uint("-1", 4096, &v) == -EINVAL, "no EINVAL");
}

static void t_none_ram(struct rs_opts *o) { o->copy = RS_COPY_NONE; }

static int validate(void (*tweak)(struct rs_opts *))
{
	struct rs_opts o;
	char msg[256];

	rs_opts_default(&o);
	strcpy(o.target, "ram");
	tweak(&o);
	return rs_opts_validate(&o, msg, sizeof(msg));
}

static void t_ok(struct rs_opts *o) { (void)o; }
static void t_size0(struct rs_opts *o) { o->size = 0; o->size_set = true; }
static void t_size_odd(struct rs_opts *o) { o->size = 4096 + 512; o->size_set = true; o->bs = 4096; }
static void t_size_512(struct rs_opts *o) { o->size = 4096 + 512; o->size_set = true; }
static void t_depth0(struct rs_opts *o) { o->depth = 0; }
static void t_depth_big(struct rs_opts *o) { o->depth = 4097; }
static void t_depth_max(struct rs_opts *o) { o->depth = 4096; }
static void t_queues0(struct rs_opts *o) { o->queues = 0; }
static void t_queues_big(struct rs_opts *o) { o->queues = RS_MAX_QUEUES + 1; }
static void t_bs(struct rs_opts *o) { o->bs = 1024; }
static void t_target(struct rs_opts *o) { strcpy(o->target, "disk"); }
static void t_maxio(struct rs_opts *o) { o->max_io = 1000; }
static void t_backing_null(struct rs_opts *o) { strcpy(o->target, "null"); strcpy(o->backing, "/x"); }
static void t_rec_ram(struct rs_opts *o) { o->recovery = RS_REC_REISSUE; }
static void t_rec_ram_backing(struct rs_opts *o) { o->recovery = RS_REC_QUEUE; strcpy(o->backing, "/x"); }
static void t_pin_single(struct rs_opts *o) { o->copy = RS_COPY_SINGLE; o->pin = RS_PIN_ON; }
static void t_rec_null(struct rs_opts *o) { strcpy(o->target, "null"); o->recovery = RS_REC_FAIL; }
static void t_batch_zc(struct rs_opts *o) { o->batch = true; o->copy = RS_COPY_ZC; }
static void t_batch_zc_reg(struct rs_opts *o) { o->batch = true; o->copy = RS_COPY_ZC_REG; }
static void t_batch_threads(struct rs_opts *o) { o->batch = true; o->queues = 2; o->threads = 1; }
static void t_batch_threads_all(struct rs_opts *o) { o->batch = true; o->queues = 2; o->threads = 2; }
static void t_batch_threads_more(struct rs_opts *o) { o->batch = true; o->queues = 1; o->threads = 2; }
static void t_threads_more(struct rs_opts *o) { o->queues = 1; o->threads = 3; }

static void test_validate(void)
{
	CHECK("validate defaults", validate(t_ok) == 0, "rejected");
	CHECK("validate copy none with ram", validate(t_none_ram) == -EINVAL, "accepted");
	CHECK("validate size 0", validate(t_size0) == -EINVAL, "accepted");
	CHECK("validate size not multiple of 4096", validate(t_size_odd) == -EINVAL, "accepted");
	CHECK("validate size multiple of 512", validate(t_size_512) == 0, "rejected");
	CHECK("validate depth 0", validate(t_depth0) == -EINVAL, "accepted");
	CHECK("validate depth 4097", validate(t_depth_big) == -EINVAL, "accepted");
	CHECK("validate depth 4096", validate(t_depth_max) == 0, "rejected");
	CHECK("validate queues 0", validate(t_queues0) == -EINVAL, "accepted");
	CHECK("validate queues too many", validate(t_queues_big) == -EINVAL, "accepted");
	CHECK("validate bs 1024", validate(t_bs) == -EINVAL, "accepted");
	CHECK("validate target", validate(t_target) == -EINVAL, "accepted");
	CHECK("validate max-io", validate(t_maxio) == -EINVAL, "accepted");
	CHECK("validate backing on null", validate(t_backing_null) == -EINVAL, "accepted");
	CHECK("validate recovery ram without backing", validate(t_rec_ram) == -EINVAL, "accepted");
	CHECK("validate recovery ram with backing", validate(t_rec_ram_backing) == 0, "rejected");
	CHECK("validate recovery null", validate(t_rec_null) == 0, "rejected");
	CHECK("validate pin on with single", validate(t_pin_single) == -EINVAL, "accepted");
	CHECK("validate batch with zc", validate(t_batch_zc) == 0, "rejected");
	CHECK("validate batch with zc-explicit", validate(t_batch_zc_reg) == 0, "rejected");
	CHECK("validate batch with fewer threads", validate(t_batch_threads) == -EINVAL, "accepted");
	CHECK("validate batch with a thread per queue", validate(t_batch_threads_all) == 0, "rejected");
	CHECK("validate batch with more threads than queues", validate(t_batch_threads_more) == -EINVAL, "accepted");
	CHECK("validate more threads than queues", validate(t_threads_more) == 0, "rejected");
}

static void test_paths(void)
{
	char c[64], b[64];
	int ret;

	ret = rs_dev_paths("/dev/ublk-control", 3, c, sizeof(c), b, sizeof(b));
	CHECK("dev_paths ublk", !ret && !strcmp(c, "/dev/ublkc3") && !strcmp(b, "/dev/ublkb3"),
	      "ret %d %s %s", ret, c, b);
	ret = rs_dev_paths("/dev/zublk-control", 12, c, sizeof(c), b, sizeof(b));
	CHECK("dev_paths zublk", !ret && !strcmp(c, "/dev/zublkc12") && !strcmp(b, "/dev/zublkb12"),
	      "ret %d %s %s", ret, c, b);
	ret = rs_dev_paths("/dev/sda", 0, c, sizeof(c), b, sizeof(b));
	CHECK("dev_paths bad", ret == -EINVAL, "ret %d", ret);
}

static void test_node(void)
{
	int map[8] = { 0, 0, 1, 1, 1, 0, -1, 2 };
	cpu_set_t s;
	char buf[64];

	CPU_ZERO(&s);
	CPU_SET(2, &s);
	CPU_SET(3, &s);
	CHECK("pick_node single", rs_pick_node(&s, map, 8) == 1, "got %d", rs_pick_node(&s, map, 8));
	CPU_SET(0, &s);
	CPU_SET(1, &s);
	CPU_SET(5, &s);
	CHECK("pick_node majority", rs_pick_node(&s, map, 8) == 0, "got %d", rs_pick_node(&s, map, 8));
	CPU_ZERO(&s);
	CPU_SET(6, &s);
	CHECK("pick_node unknown", rs_pick_node(&s, map, 8) == 0, "got %d", rs_pick_node(&s, map, 8));
	CPU_ZERO(&s);
	CPU_SET(0, &s);
	CPU_SET(1, &s);
	CPU_SET(2, &s);
	CPU_SET(5, &s);
	CPU_SET(7, &s);
	rs_cpulist(&s, 8, buf, sizeof(buf));
	CHECK("cpulist", !strcmp(buf, "0-2,5,7"), "got %s", buf);
}

static void test_ud(void)
{
	uint64_t ud = rs_ud_pack(63, 4095, RS_UD_OP_COMMIT);

	CHECK("user_data tag", rs_ud_tag(ud) == 4095, "tag %u", rs_ud_tag(ud));
	CHECK("user_data op", rs_ud_op(ud) == RS_UD_OP_COMMIT, "op %u", rs_ud_op(ud));
	CHECK("user_data queue", rs_ud_q(ud) == 63, "q %u", rs_ud_q(ud));
	ud = rs_ud_pack(0, 0, RS_UD_OP_FETCH);
	CHECK("user_data fetch", rs_ud_tag(ud) == 0 && rs_ud_op(ud) == RS_UD_OP_FETCH &&
	      rs_ud_q(ud) == 0, "ud %llx", (unsigned long long)ud);
	ud = rs_ud_pack(1, 65535, RS_UD_OP_FETCH);
	CHECK("user_data no overlap", rs_ud_q(ud) == 1 && rs_ud_tag(ud) == 65535 &&
	      rs_ud_op(ud) == RS_UD_OP_FETCH, "ud %llx", (unsigned long long)ud);
}

/* resolve with --pin @pin, the store able to be a file or not (@zc_store) */
static int res_store(const char *tgt, enum rs_copy_mode want, enum rs_pin pin,
		     uint64_t feat, bool known, bool zc_store, struct rs_copy_plan *p)
{
	char msg[160];

	return rs_copy_resolve(rs_target_find(tgt), want, pin, feat, known, zc_store, p,
			       msg, sizeof(msg));
}

/* resolve with --pin @pin; returns the result, plan in *p */
static int res(const char *tgt, enum rs_copy_mode want, enum rs_pin pin,
	       uint64_t feat, bool known, struct rs_copy_plan *p)
{
	return res_store(tgt, want, pin, feat, known, true, p);
}

static void test_copy(void)
{
	enum rs_copy_mode m = RS_COPY_AUTO;
	struct rs_copy_plan p;
	const uint64_t uc = UBLK_F_USER_COPY, st = ZUBLK_F_STORE, pb = ZUBLK_F_PIN_BUF;
	const uint64_t zu = uc | st | pb;	/* what a zublk with both extensions offers */

	CHECK("copy parse single", rs_copy_parse("single", &m) == 0 && m == RS_COPY_SINGLE, "m %d", m);
	CHECK("copy parse junk", rs_copy_parse("zero", &m) == -EINVAL, "accepted");
	CHECK("copy name none", !strcmp(rs_copy_name(RS_COPY_NONE), "none"), "%s", rs_copy_name(RS_COPY_NONE));
	CHECK("copy auto ram ucopy", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, uc, true, &p) == 0 &&
	      p.mode == RS_COPY_SINGLE && p.ucopy && !p.store, "m %d", p.mode);
	CHECK("copy auto null ucopy", res("null", RS_COPY_AUTO, RS_PIN_AUTO, uc, true, &p) == 0 &&
	      p.mode == RS_COPY_NONE && p.ucopy, "m %d", p.mode);
	CHECK("copy auto ram no ucopy", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, 0x40, true, &p) == 0 &&
	      p.mode == RS_COPY_CLASSIC && !p.pin && !strcmp(rs_copy_path(&p), "buf"), "m %d", p.mode);
	CHECK("copy auto unknown features", res("null", RS_COPY_AUTO, RS_PIN_AUTO, zu, false, &p) == 0 &&
	      p.mode == RS_COPY_CLASSIC && !p.pin, "m %d", p.mode);
	CHECK("copy none ram", res("ram", RS_COPY_NONE, RS_PIN_AUTO, uc, true, &p) == -EINVAL, "accepted");
	CHECK("copy single no ucopy", res("ram", RS_COPY_SINGLE, RS_PIN_AUTO, 0, true, &p) == -EOPNOTSUPP,
	      "accepted");
	CHECK("copy none unknown features", res("null", RS_COPY_NONE, RS_PIN_AUTO, uc, false, &p) == -EOPNOTSUPP,
	      "accepted");
	CHECK("copy classic always", res("null", RS_COPY_CLASSIC, RS_PIN_AUTO, 0, false, &p) == 0 &&
	      p.mode == RS_COPY_CLASSIC, "m %d", p.mode);
	/* zublk extensions */
	CHECK("copy auto ram zublk: store", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, zu, true, &p) == 0 &&
	      p.mode == RS_COPY_SINGLE && p.store && !p.ucopy && !p.pin &&
	      !strcmp(rs_copy_path(&p), "store"), "m %d store %d", p.mode, p.store);
	CHECK("copy auto null zublk: none/store", res("null", RS_COPY_AUTO, RS_PIN_AUTO, zu, true, &p) == 0 &&
	      p.mode == RS_COPY_NONE && p.store && !p.ucopy, "m %d", p.mode);
	CHECK("copy single store only", res("ram", RS_COPY_SINGLE, RS_PIN_AUTO, st, true, &p) == 0 &&
	      p.store && !p.ucopy, "store %d", p.store);
	CHECK("copy classic zublk pins", res("ram", RS_COPY_CLASSIC, RS_PIN_AUTO, zu, true, &p) == 0 &&
	      p.pin && !p.store && !p.ucopy && !strcmp(rs_copy_path(&p), "pinned"), "pin %d", p.pin);
	CHECK("copy classic pin off", res("ram", RS_COPY_CLASSIC, RS_PIN_OFF, zu, true, &p) == 0 && !p.pin,
	      "pin %d", p.pin);
	CHECK("copy classic pin on, not offered", res("ram", RS_COPY_CLASSIC, RS_PIN_ON, uc, true, &p) == -EOPNOTSUPP,
	      "accepted");
	CHECK("copy auto pin on: classic pinned", res("ram", RS_COPY_AUTO, RS_PIN_ON, zu, true, &p) == 0 &&
	      p.mode == RS_COPY_CLASSIC && p.pin, "m %d pin %d", p.mode, p.pin);
	CHECK("copy single pin on", res("ram", RS_COPY_SINGLE, RS_PIN_ON, zu, true, &p) == -EINVAL, "accepted");
	CHECK("copy classic on ublk_drv: no pin", res("ram", RS_COPY_CLASSIC, RS_PIN_AUTO, 0x1ff, true, &p) == 0 &&
	      !p.pin, "pin %d", p.pin);
	/* upstream zero copy (AUTO_BUF_REG, 7.3 offers 0x1fffff) */
	CHECK("copy zc 7.3", res("ram", RS_COPY_ZC, RS_PIN_AUTO, 0x1fffff, true, &p) == 0 &&
	      p.zc && !p.ucopy && !p.store && !strcmp(rs_copy_path(&p), "autobuf"), "zc %d", p.zc);
	CHECK("copy zc null", res("null", RS_COPY_ZC, RS_PIN_AUTO, UBLK_F_AUTO_BUF_REG, true, &p) == 0 &&
	      p.mode == RS_COPY_ZC, "m %d", p.mode);
	CHECK("copy zc 6.12: not offered", res("ram", RS_COPY_ZC, RS_PIN_AUTO, 0x1ff, true, &p) == -EOPNOTSUPP,
	      "accepted");
	CHECK("copy zc zublk: not offered", res("ram", RS_COPY_ZC, RS_PIN_AUTO, zu, true, &p) == -EOPNOTSUPP,
	      "accepted");
	CHECK("copy zc pin on", res("ram", RS_COPY_ZC, RS_PIN_ON, 0x1fffff, true, &p) == -EINVAL, "accepted");
	/* auto on 7.3's ublk_drv: zc for ram (cheapest there), none for null */
	CHECK("copy auto 7.3: zc", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, 0x1fffff, true, &p) == 0 &&
	      p.mode == RS_COPY_ZC && p.zc && !p.zc_reg && !p.ucopy &&
	      !strcmp(rs_copy_path(&p), "autobuf"), "m %d", p.mode);
	CHECK("copy auto 7.3 hugetlbfs store: single", res_store("ram", RS_COPY_AUTO, RS_PIN_AUTO,
	      0x1fffff, true, false, &p) == 0 && p.mode == RS_COPY_SINGLE && p.ucopy && !p.zc,
	      "m %d", p.mode);
	CHECK("copy auto 7.3 null: none", res("null", RS_COPY_AUTO, RS_PIN_AUTO, 0x1fffff, true, &p) == 0 &&
	      p.mode == RS_COPY_NONE && p.ucopy && !p.zc, "m %d", p.mode);
	/* 6.12.95's ublk_drv answers GET_FEATURES with 0x3fe; a SUPPORT_ZERO_COPY
	 * alone (6.15) is zc-explicit's, which auto does not pick */
	CHECK("copy auto 6.12: single", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, 0x3fe, true, &p) == 0 &&
	      p.mode == RS_COPY_SINGLE && !p.zc, "m %d", p.mode);
	CHECK("copy auto 6.15: single", res("ram", RS_COPY_AUTO, RS_PIN_AUTO, 0x3ff, true, &p) == 0 &&
	      p.mode == RS_COPY_SINGLE && !p.zc, "m %d", p.mode);
	CHECK("copy zc-explicit 7.3", res("ram", RS_COPY_ZC_REG, RS_PIN_AUTO, 0x1fffff, true, &p) == 0 &&
	      p.zc && p.zc_reg && !strcmp(rs_copy_path(&p), "regbuf"), "zc %d reg %d", p.zc, p.zc_reg);
	CHECK("copy zc-explicit 6.12: not offered", res("ram", RS_COPY_ZC_REG, RS_PIN_AUTO, 0x1fe, true, &p) ==
	      -EOPNOTSUPP, "accepted");
	CHECK("copy parse zc-explicit", rs_copy_parse("zc-explicit", &m) == 0 && m == RS_COPY_ZC_REG, "m %d", m);
	CHECK("auto buf reg addr", zublk_auto_buf_reg_addr(5, UBLK_AUTO_BUF_REG_FALLBACK) == 0x10005ULL,
	      "got 0x%llx", (unsigned long long)zublk_auto_buf_reg_addr(5, UBLK_AUTO_BUF_REG_FALLBACK));
	CHECK("ucopy pos", rs_ucopy_pos(3, 5, 4096) == (off_t)(0x80000000ULL + (3ULL << 41) + (5ULL << 25) + 4096),
	      "got 0x%llx", (unsigned long long)rs_ucopy_pos(3, 5, 4096));
}

/* target @tgt's store_writable with --hugepages @huge and --backing @backing */
static bool writable(const char *tgt, enum rs_huge huge, const char *backing)
{
	struct rs_opts o;

	rs_opts_default(&o);
	o.huge = huge;
	snprintf(o.backing, sizeof(o.backing), "%s", backing);
	return rs_target_store_writable(rs_target_find(tgt), &o);
}

/* can the store be a file io_uring writes (so auto may pick zc) */
static void test_store_writable(void)
{
	struct rs_copy_plan p;
	struct statfs sfs;

	CHECK("store writable: ram default", writable("ram", RS_HUGE_AUTO, ""), "no");
	CHECK("store writable: ram --hugepages off", writable("ram", RS_HUGE_OFF, ""), "no");
	CHECK("store writable: ram --hugepages on", !writable("ram", RS_HUGE_ON, ""), "yes");
	/* absent, so its directory (here, not hugetlbfs) decides */
	CHECK("store writable: ram backing off hugetlbfs", writable("ram", RS_HUGE_AUTO,
	      "ramsrv-unit-absent"), "no");
	CHECK("store writable: ram backing, --hugepages on", !writable("ram", RS_HUGE_ON,
	      "ramsrv-unit-absent"), "yes");
	if (statfs("/dev/hugepages", &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC)
		CHECK("store writable: ram backing on hugetlbfs", !writable("ram", RS_HUGE_AUTO,
		      "/dev/hugepages/ramsrv-unit-absent"), "yes");
	else
		printf("SKIP store writable: ram backing on hugetlbfs (no hugetlbfs at /dev/hugepages)\n");
	CHECK("store writable: null has no store", !writable("null", RS_HUGE_AUTO, ""), "yes");
	CHECK("copy auto 7.3 null, its store answer: none", res_store("null", RS_COPY_AUTO, RS_PIN_AUTO,
	      0x1fffff, true, writable("null", RS_HUGE_AUTO, ""), &p) == 0 &&
	      p.mode == RS_COPY_NONE && !p.zc, "m %d", p.mode);
}

static void test_recovery(void)
{
	const uint64_t rec = UBLK_F_USER_RECOVERY, re = UBLK_F_USER_RECOVERY_REISSUE;
	const uint64_t fi = UBLK_F_USER_RECOVERY_FAIL_IO;
	enum rs_recovery r = RS_REC_OFF;
	uint64_t f = 0;
	char msg[160];

	CHECK("recovery fail_io bit", fi == (1ULL << 9), "0x%llx", (unsigned long long)fi);
	CHECK("recovery parse", rs_recovery_parse("reissue", &r) == 0 && r == RS_REC_REISSUE, "r %d", r);
	CHECK("recovery parse junk", rs_recovery_parse("later", &r) == -EINVAL, "accepted");
	CHECK("recovery off", rs_recovery_flags(RS_REC_OFF, 0, false, &f, msg, sizeof(msg)) == 0 && !f,
	      "f 0x%llx", (unsigned long long)f);
	CHECK("recovery queue", rs_recovery_flags(RS_REC_QUEUE, rec | re, true, &f, msg, sizeof(msg)) == 0 &&
	      f == rec, "f 0x%llx", (unsigned long long)f);
	CHECK("recovery reissue", rs_recovery_flags(RS_REC_REISSUE, rec | re, true, &f, msg, sizeof(msg)) == 0 &&
	      f == (rec | re), "f 0x%llx", (unsigned long long)f);
	CHECK("recovery fail on 6.12", rs_recovery_flags(RS_REC_FAIL, rec | re, true, &f, msg, sizeof(msg)) == -EOPNOTSUPP &&
	      strstr(msg, "FAIL_IO"), "%s", msg);
	CHECK("recovery fail", rs_recovery_flags(RS_REC_FAIL, rec | fi, true, &f, msg, sizeof(msg)) == 0 &&
	      f == (rec | fi), "f 0x%llx", (unsigned long long)f);
	CHECK("recovery none offered", rs_recovery_flags(RS_REC_QUEUE, re, true, &f, msg, sizeof(msg)) == -EOPNOTSUPP &&
	      strstr(msg, "does not offer UBLK_F_USER_RECOVERY"), "%s", msg);
	CHECK("recovery unknown features", rs_recovery_flags(RS_REC_QUEUE, 0, false, &f, msg, sizeof(msg)) == -EOPNOTSUPP,
	      "accepted");
	CHECK("dev state names", !strcmp(rs_dev_state_name(UBLK_S_DEV_QUIESCED), "QUIESCED") &&
	      !strcmp(rs_dev_state_name(UBLK_S_DEV_FAIL_IO), "FAIL_IO"), "%s", rs_dev_state_name(2));
}

static void test_drv_parse(void)
{
	struct rs_drvq q;
	int n;

	n = rs_drv_parse("requests 10\nbytes 40960\nnew_thing 7\ncopies 10\ncopy_bytes 40960\n"
			 "copy_ns 1234\npins 3\nunpins 1\ntw_batches 4\ntw_requests 10\n", &q);
	CHECK("drv parse all", n == RS_DRV_NR && q.v[RS_DRV_COPIES] == 10 &&
	      q.v[RS_DRV_TW_REQUESTS] == 10 && q.v[RS_DRV_PINS] == 3, "n %d", n);
	n = rs_drv_parse("copies 5\nbogus\ncopy_bytes x\npins 2", &q);
	CHECK("drv parse partial", n == 2 && q.v[RS_DRV_COPIES] == 5 && q.v[RS_DRV_PINS] == 2 &&
	      !(q.seen & (1U << RS_DRV_COPY_BYTES)), "n %d", n);
	n = rs_drv_parse("", &q);
	CHECK("drv parse empty", n == 0 && !q.seen, "n %d", n);
}

int main(void)
{
	test_drv_parse();
	test_recovery();
	test_copy();
	test_store_writable();
	test_size();
	test_uint();
	test_validate();
	test_paths();
	test_node();
	test_ud();
	return failed ? 1 : 0;
}
