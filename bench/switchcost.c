// SPDX-License-Identifier: GPL-2.0
/*
 * switchcost: what a context switch costs on this machine, within one
 * process and across two.
 *
 *   switchcost [--rounds N] [--pages N] [--cpu N] [--reps N] [--json]
 *
 * Two tasks pinned to one CPU hand a byte back and forth through pipes,
 * each touching --pages pages (default 64) of its own memory before handing
 * on, as a task with a working set does.  Measured twice: two threads of
 * one process (no address-space switch) and two processes (one per switch).
 * The difference is what an address-space switch costs on top of a switch.
 *
 * That is the cost every ublk IO pays when its submitter and its server
 * share a CPU and one wakes the other; the kernel's own disks (brd,
 * null_blk) complete in the submitter's context and never pay it.  On
 * hardware with PCID it is small.  Under qemu TCG every CR3 write empties
 * the vCPU's software TLB and jump cache, so each switch is followed by a
 * refill of every page and block touched: tens of µs.  bench/sweep runs
 * this once per boot and records it with the results.
 *
 * Prints "thread X us, process Y us, address-space switch Z us" (µs per
 * switch, median of --reps runs alternating the two), or with --json one
 * object.  Bad arguments: one line on stderr, exit 2.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define MAX_REPS 99

struct pair {
	int ping[2], pong[2];	/* first -> second, second -> first */
	long rounds, pages;
	char *ws;		/* pages * PAGE bytes, one per task after fork */
	double us;		/* µs per switch, set by the first side */
};

static void die(const char *msg)
{
	fprintf(stderr, "switchcost: %s\n", msg);
	exit(2);
}

static void touch(const struct pair *p)
{
	for (long i = 0; i < p->pages; i++)
		((volatile char *)p->ws)[i * PAGE]++;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/*
 * One side: wait for the byte (the first side starts with it), touch, pass;
 * rounds + 1 times.  The first round trip is a warm-up, left out of the
 * time: it carries the other task's start and the copy-on-write faults
 * after fork.  The first side times the other rounds into p->us.
 */
static int side(struct pair *p, int in, int out, int first)
{
	double t0 = 0;
	char c = 0;

	for (long i = 0; i <= p->rounds; i++) {
		if ((!first || i) && read(in, &c, 1) != 1)
			return -errno;
		if (first && i == 1)
			t0 = now_us();
		touch(p);
		if (write(out, &c, 1) != 1)
			return -errno;
	}
	if (first) {
		if (read(in, &c, 1) != 1)
			return -errno;
		p->us = (now_us() - t0) / (2.0 * p->rounds);
	}
	return 0;
}

static void *second_thread(void *arg)
{
	struct pair *p = arg;

	return (void *)(long)side(p, p->ping[0], p->pong[1], 0);
}

/* µs per switch of one run; processes when @fork_it, else threads */
static double run(struct pair *p, int fork_it)
{
	pthread_t t;
	void *ret;
	int status;
	pid_t pid;

	if (pipe(p->ping) || pipe(p->pong))
		die("pipe failed");
	if (fork_it) {
		pid = fork();
		if (pid < 0)
			die("fork failed");
		if (!pid)
			_exit(side(p, p->ping[0], p->pong[1], 0) ? 1 : 0);
		if (side(p, p->pong[0], p->ping[1], 1))
			die("process pair: a pipe failed");
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			die("process pair: the second process failed");
	} else {
		if (pthread_create(&t, NULL, second_thread, p))
			die("pthread_create failed");
		if (side(p, p->pong[0], p->ping[1], 1))
			die("thread pair: a pipe failed");
		pthread_join(t, &ret);
		if (ret)
			die("thread pair: the second thread failed");
	}
	close(p->ping[0]), close(p->ping[1]), close(p->pong[0]), close(p->pong[1]);
	return p->us;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static long num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = s ? strtol(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "switchcost: %s wants a whole number from %ld to %ld\n", opt, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct pair p = { .rounds = 4000, .pages = 64 };
	double thr[MAX_REPS], proc[MAX_REPS];
	long cpu = 0, reps = 3;
	int json = 0;
	cpu_set_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds"))
			p.rounds = num("--rounds", argv[++i], 1, 100000000);
		else if (!strcmp(argv[i], "--pages"))
			p.pages = num("--pages", argv[++i], 0, 65536);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = num("--cpu", argv[++i], 0, CPU_SETSIZE - 1);
		else if (!strcmp(argv[i], "--reps"))
			reps = num("--reps", argv[++i], 1, MAX_REPS);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else {
			fprintf(stderr, "switchcost: unknown argument '%s' (see the head of bench/switchcost.c)\n", argv[i]);
			return 2;
		}
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "switchcost: --cpu %ld: %s\n", cpu, strerror(errno));
		return 2;
	}
	/* MAP_PRIVATE: after fork each process writes its own copy */
	p.ws = mmap(NULL, (p.pages + 1) * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p.ws == MAP_FAILED)
		die("cannot map the working set");
	for (long r = 0; r < reps; r++) {
		thr[r] = run(&p, 0);
		proc[r] = run(&p, 1);
	}
	qsort(thr, reps, sizeof(*thr), cmp);
	qsort(proc, reps, sizeof(*proc), cmp);
	if (json)
		printf("{\"thread_us\": %.2f, \"process_us\": %.2f, \"mm_switch_us\": %.2f, \"pages\": %ld, \"rounds\": %ld, \"reps\": %ld}\n",
		       thr[reps / 2], proc[reps / 2], proc[reps / 2] - thr[reps / 2], p.pages, p.rounds, reps);
	else
		printf("thread %.2f us, process %.2f us, address-space switch %.2f us (per switch, %ld pages touched, median of %ld)\n",
		       thr[reps / 2], proc[reps / 2], proc[reps / 2] - thr[reps / 2], p.pages, reps);
	return 0;
}
