// SPDX-License-Identifier: GPL-2.0
/*
 * The queue depth row of `make bench`: small copies kept N at a time in
 * flight by one thread with BLOCK_URING_CMD_COPY, against N threads each
 * making one BLKCOPY call after the other.
 *
 *   copy_qd uring -q N [-D|-A|-C] [-w N] [-s SIZE] [-T SECS] [-r REP]
 *           [-L LABEL] DEV SRC DST SPAN
 *   copy_qd threads -q N [-s SIZE] [-T SECS] [-r REP] [-L LABEL] DEV SRC DST SPAN
 *
 * Copy i goes from SRC + o to DST + o, o = (i * SIZE) % SPAN (the threads
 * take i from one counter), for SECS seconds (default 3); then what is in
 * flight is reaped. -D sets the ring up with IORING_SETUP_SINGLE_ISSUER and
 * IORING_SETUP_DEFER_TASKRUN (completions run when the thread waits, in a
 * batch); -A sets IOSQE_ASYNC on every command, which io_uring then issues
 * from its io-wq workers (where it may block) without trying a nonblocking
 * issue first; -C sets the ring up with IORING_SETUP_COOP_TASKRUN (a
 * completion's task work waits for the thread to enter the kernel instead
 * of interrupting it); -w N waits for N completions per io_uring_enter()
 * instead of one (fewer while fewer are in flight); -w 0 never waits: the
 * thread submits and polls the completion queue, asking for completions
 * without waiting on a deferred or cooperative ring. Prints one JSON line:
 * {"kind":"qd", "method": "uring" or "blkcopy", "dev", "qd", "ring"
 * ("plain", "defer", "async" or "coop"), "wait" (-w), "size", "rep",
 * "copies", "bytes", "secs", "cpu_user", "cpu_sys" (guest-wide, from
 * /proc/stat), "thread_cpu" (user and system time of the submitting
 * thread, uring only, else 0), "check": "ok" or what went wrong (a failed
 * copy, one that did not offload)}. Sizes take a K, M or G suffix. Exits 1
 * on a bad setup, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "errno_name.h"
#include "mono_time.h"
#include <linux/blk-copy.h>

/* include/uapi/linux/blkdev.h of the series, which $(UAPI) does not hold */
#ifndef BLOCK_URING_CMD_COPY
#define BLOCK_URING_CMD_COPY	_IO(0x12, 2)
#endif

/* ABI offsets of the SQE fields set here (older liburing headers). */
#define SQE_CMD_OP	8
#define SQE_ADDR	16

struct one_copy {
	struct blkcopy hdr;
	struct blkcopy_range range;
};

static struct {
	int fd, qd, defer, async, coop, wait;
	unsigned long long size, src, dst, span;
	double secs;
	atomic_ullong next, copies, failed, onloaded;
	atomic_int first_err;
	double t0;
} cfg;

static unsigned long long parse_size(const char *s)
{
	const char *units = "KMG", *unit;
	unsigned long long v;
	char *end;

	v = strtoull(s, &end, 0);
	unit = *end ? strchr(units, *end) : NULL;
	if (unit)
		v <<= 10 * (unit - units + 1);
	if (end == s || (*end && (!unit || end[1]))) {
		fprintf(stderr, "copy_qd: bad size '%s'\n", s);
		exit(2);
	}
	return v;
}

/* Guest CPU time so far, all CPUs, in seconds, as copy_bench counts it. */
static void cpu_times(double *user, double *sys)
{
	unsigned long long u, n, s, idle, iow, irq, sirq;
	FILE *f = fopen("/proc/stat", "r");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu",
			 &u, &n, &s, &idle, &iow, &irq, &sirq) != 7) {
		fprintf(stderr, "copy_qd: cannot read /proc/stat\n");
		exit(1);
	}
	fclose(f);
	*user = (double)(u + n) / sysconf(_SC_CLK_TCK);
	*sys = (double)(s + irq + sirq) / sysconf(_SC_CLK_TCK);
}

/* Fill @c with the next copy; false once the time is up. */
static int next_copy(struct one_copy *c)
{
	unsigned long long i, off;

	if (now() - cfg.t0 >= cfg.secs)
		return 0;
	i = atomic_fetch_add(&cfg.next, 1);
	off = i * cfg.size % cfg.span;
	memset(c, 0, sizeof(*c));
	c->hdr.nr_ranges = 1;
	c->range.src = cfg.src + off;
	c->range.dst = cfg.dst + off;
	c->range.len = cfg.size;
	return 1;
}

/* Count the outcome of a finished copy: @err is 0 or an errno. */
static void done_copy(const struct one_copy *c, int err)
{
	int zero = 0;

	if (err) {
		atomic_fetch_add(&cfg.failed, 1);
		atomic_compare_exchange_strong(&cfg.first_err, &zero, err);
		return;
	}
	atomic_fetch_add(&cfg.copies, 1);
	if (!(c->hdr.out_flags & BLKCOPY_OFFLOADED))
		atomic_fetch_add(&cfg.onloaded, 1);
}

static void *blkcopy_thread(void *arg)
{
	struct one_copy c;

	(void)arg;
	while (!atomic_load(&cfg.first_err) && next_copy(&c))
		done_copy(&c, ioctl(cfg.fd, BLKCOPY, &c) < 0 ? errno : 0);
	return NULL;
}

static void run_threads(void)
{
	pthread_t *t = calloc(cfg.qd, sizeof(*t));
	int i;

	if (!t)
		exit(1);
	for (i = 0; i < cfg.qd; i++)
		if (pthread_create(&t[i], NULL, blkcopy_thread, NULL)) {
			fprintf(stderr, "copy_qd: cannot start thread %d\n", i);
			exit(1);
		}
	for (i = 0; i < cfg.qd; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* User and system seconds the calling thread ran. */
static double thread_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void run_uring(void)
{
	struct one_copy *slots = calloc(cfg.qd, sizeof(*slots));
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	unsigned int flags = cfg.defer ? IORING_SETUP_SINGLE_ISSUER |
					 IORING_SETUP_DEFER_TASKRUN :
			     cfg.coop ? IORING_SETUP_COOP_TASKRUN : 0;
	int in_flight = 0, stop = 0, slot, ret;
	char *busy = calloc(cfg.qd, 1);

	if (!slots || !busy || io_uring_queue_init(cfg.qd, &ring, flags) < 0) {
		fprintf(stderr, "copy_qd: no ring of %d entries\n", cfg.qd);
		exit(1);
	}
	for (;;) {
		for (slot = 0; !stop && slot < cfg.qd; slot++) {
			struct io_uring_sqe *sqe;
			uint32_t op = BLOCK_URING_CMD_COPY;
			uint64_t addr = (uintptr_t)&slots[slot];

			if (busy[slot])
				continue;
			if (atomic_load(&cfg.first_err) || !next_copy(&slots[slot])) {
				stop = 1;
				break;
			}
			sqe = io_uring_get_sqe(&ring);
			if (!sqe)
				break;
			memset(sqe, 0, sizeof(*sqe));
			sqe->opcode = IORING_OP_URING_CMD;
			sqe->fd = cfg.fd;
			memcpy((char *)sqe + SQE_CMD_OP, &op, sizeof(op));
			memcpy((char *)sqe + SQE_ADDR, &addr, sizeof(addr));
			io_uring_sqe_set_data64(sqe, slot);
			if (cfg.async)
				sqe->flags |= IOSQE_ASYNC;
			busy[slot] = 1;
			in_flight++;
		}
		if (!in_flight)
			break;
		if (!cfg.wait) {
			ret = io_uring_submit(&ring);
			/* Task work that waits for the thread to enter. */
			if (ret >= 0 && (cfg.defer || cfg.coop))
				ret = io_uring_get_events(&ring);
		} else {
			ret = io_uring_submit_and_wait(&ring, in_flight < cfg.wait ?
							      in_flight : cfg.wait);
		}
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "copy_qd: io_uring_enter: %s\n",
				strerror(-ret));
			exit(1);
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			slot = cqe->user_data;
			done_copy(&slots[slot], cqe->res < 0 ? -cqe->res : 0);
			busy[slot] = 0;
			in_flight--;
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	io_uring_queue_exit(&ring);
	free(slots);
	free(busy);
}

int main(int argc, char **argv)
{
	const char *label = NULL, *mode = argc > 1 ? argv[1] : "";
	double u0, s0, u1, s1, t, tc0, tc = 0;
	unsigned int rep = 0;
	int opt, uring;
	char check[128] = "ok";

	if (strcmp(mode, "uring") && strcmp(mode, "threads")) {
		fprintf(stderr, "usage: copy_qd uring|threads -q N [options] DEV SRC DST SPAN\n");
		return 2;
	}
	uring = !strcmp(mode, "uring");
	argc--;
	argv++;
	cfg.qd = 1;
	cfg.size = 4096;
	cfg.secs = 3;
	cfg.wait = 1;
	while ((opt = getopt(argc, argv, "q:DACw:s:T:r:L:")) != -1) {
		switch (opt) {
		case 'q': cfg.qd = atoi(optarg); break;
		case 'D': cfg.defer = 1; break;
		case 'A': cfg.async = 1; break;
		case 'C': cfg.coop = 1; break;
		case 'w': cfg.wait = atoi(optarg); break;
		case 's': cfg.size = parse_size(optarg); break;
		case 'T': cfg.secs = atof(optarg); break;
		case 'r': rep = atoi(optarg); break;
		case 'L': label = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind != 4 || cfg.qd < 1 || cfg.qd > 4096 || !cfg.size ||
	    cfg.wait < 0 || cfg.wait > cfg.qd || cfg.defer + cfg.async + cfg.coop > 1)
		return 2;
	cfg.src = parse_size(argv[optind + 1]);
	cfg.dst = parse_size(argv[optind + 2]);
	cfg.span = parse_size(argv[optind + 3]);
	if (cfg.span < cfg.size)
		return 2;
	cfg.fd = open(argv[optind], O_RDWR);
	if (cfg.fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	cpu_times(&u0, &s0);
	tc0 = thread_cpu();
	cfg.t0 = now();
	if (uring) {
		run_uring();
		tc = thread_cpu() - tc0;
	} else {
		run_threads();
	}
	t = now() - cfg.t0;
	cpu_times(&u1, &s1);
	if (cfg.failed)
		snprintf(check, sizeof(check), "%llu copies failed, the first with %s",
			 (unsigned long long)cfg.failed, errno_name(cfg.first_err));
	else if (cfg.onloaded)
		snprintf(check, sizeof(check), "%llu copies not offloaded",
			 (unsigned long long)cfg.onloaded);
	printf("{\"kind\":\"qd\",\"method\":\"%s\",\"dev\":\"%s\",\"qd\":%d,"
	       "\"ring\":\"%s\",\"wait\":%d,\"size\":%llu,"
	       "\"rep\":%u,\"copies\":%llu,\"bytes\":%llu,\"secs\":%.6f,"
	       "\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"thread_cpu\":%.3f,\"check\":\"%s\"}\n",
	       uring ? "uring" : "blkcopy", label ? label : argv[optind], cfg.qd,
	       cfg.defer ? "defer" : cfg.async ? "async" : cfg.coop ? "coop" : "plain",
	       cfg.wait, cfg.size, rep, (unsigned long long)cfg.copies,
	       (unsigned long long)cfg.copies * cfg.size, t, u1 - u0, s1 - s0, tc, check);
	close(cfg.fd);
	return cfg.failed ? 1 : 0;
}
