// SPDX-License-Identifier: GPL-2.0
/*
 * BLOCK_URING_CMD_COPY through liburing, for the copy offload tests.
 *
 *   copy_uring [-r] [-O] [-f FLAGS] [-n NR] [-z WORD] [-F] [-A ADDR3]
 *              [-I IOPRIO] [-U FLAGS] [-L LEN] [-a] DEV SRC:DST:LEN...
 *
 * issues one command, as copy_ioctl issues one BLKCOPY, and prints the same:
 * "ok" or the errno name of the CQE, then "offloaded" or "onloaded", then
 * each range's copied bytes. The options of copy_ioctl (-r, -O, -f, -n, -z,
 * -F) do the same here; -A, -I, -U and -L put a value into the SQE's addr3,
 * ioprio, uring_cmd_flags and len, which must be 0; -a also submits
 * IORING_OP_ASYNC_CANCEL for the command right after it and prints its
 * result first, as "async cancel: ok" or "async cancel: ERRNO".
 *
 *   copy_uring stream [-q QD] [-c COUNT] [-s SIZE] [-O] [-t SECS] [-T]
 *                     [-x SECS | -X SECS] DEV SRC DST SPAN
 *
 * keeps QD commands (default 32) in flight, each copying SIZE bytes (default
 * 64K): copy i from SRC + o to DST + o, o = (i * SIZE) % SPAN, until COUNT
 * copies were issued (default SPAN / SIZE; 0: without end), a copy failed
 * or SECS seconds passed; then reaps what is in flight and prints
 * "issued N, copied N, errors: NAME xN, ..." ("errors: none"). With -x the
 * process exits SECS seconds in with the commands in flight (its ring goes
 * with it); with -X it closes its ring then, prints "ring closed in N ms"
 * and sleeps 1 s before it exits. With -T it prints "first submit: N commands
 * in M ms" once its first io_uring_submit() returned.
 *
 *   copy_uring stopped [-C | -D] [-w SECS] [-m SECS] DEV SRC:DST:LEN
 *
 * issues one command on a ring set up with IORING_SETUP_COOP_TASKRUN (-C),
 * IORING_SETUP_DEFER_TASKRUN (-D) or neither, forks, unmaps and closes its
 * ring and stops itself (SIGSTOP). The child, which holds the ring then,
 * waits up to SECS seconds (default 2) for the parent to be stopped and the
 * device idle, prints "task stopped, device idle, no CQE: yes" (or no: one
 * of them is not so, or another ring's exit work runs) and closes the ring,
 * so that io_uring's ring exit work runs while the copy's completion waits
 * for the stopped task; 0.1 s later it prints "exit work: N ms of CPU in M
 * ms", the CPU time of the kworker running it ("+iou_exit" in its comm)
 * over -m SECS (default 1), or "exit work: done" when none runs. Then it
 * continues its parent (SIGCONT) once that is stopped, which waits for it
 * and exits with its status. The copy's result is not reaped (the ring is
 * gone): check the data.
 *
 * Offsets and lengths take a K, M or G suffix. Exits 1 on a bad setup, 2 on
 * bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "errno_name.h"
#include "mono_time.h"
#include "size_arg.h"
#include <linux/blk-copy.h>

/* include/uapi/linux/blkdev.h of the series, which $(UAPI) does not hold */
#ifndef BLOCK_URING_CMD_COPY
#define BLOCK_URING_CMD_COPY	_IO(0x12, 2)
#endif

#define MAX_ARG_RANGES	4096
#define CANCEL_TAG	(~0ULL)

/*
 * Byte offsets of the SQE fields set here, fixed by the io_uring ABI: the
 * liburing headers of the test machine may predate some of their names.
 */
#define SQE_CMD_OP	8
#define SQE_ADDR	16
#define SQE_LEN		24
#define SQE_CMD_FLAGS	28
#define SQE_ADDR3	48

static void sqe_put(struct io_uring_sqe *sqe, size_t off, const void *v,
		    size_t len)
{
	memcpy((char *)sqe + off, v, len);
}

/* Fill @sqe with a copy command on @fd for @arg, tagged @tag. */
static void prep_copy(struct io_uring_sqe *sqe, int fd, const void *arg,
		      unsigned long long tag)
{
	uint32_t op = BLOCK_URING_CMD_COPY;
	uint64_t addr = (uintptr_t)arg;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe_put(sqe, SQE_CMD_OP, &op, sizeof(op));
	sqe_put(sqe, SQE_ADDR, &addr, sizeof(addr));
	io_uring_sqe_set_data64(sqe, tag);
}

/* Parse SRC:DST:LEN into @r, its copied set to ~0; -1 if malformed. */
static int parse_range(const char *p, struct blkcopy_range *r)
{
	const char *q = strchr(p, ':');

	if (!q || !strchr(q + 1, ':'))
		return -1;
	r->src = parse_size(p);
	r->dst = parse_size(q + 1);
	r->len = parse_size(strchr(q + 1, ':') + 1);
	r->copied = ~0ULL;
	return 0;
}

static struct blkcopy *alloc_arg(unsigned int n)
{
	struct blkcopy *arg;

	arg = calloc(1, sizeof(*arg) + (n ? n : 1) * sizeof(arg->ranges[0]));
	if (!arg) {
		fprintf(stderr, "copy_uring: out of memory\n");
		exit(1);
	}
	return arg;
}

static int open_dev(const char *dev, int flags)
{
	int fd = open(dev, flags);

	if (fd < 0) {
		perror(dev);
		exit(1);
	}
	return fd;
}

static void ring_init_flags(struct io_uring *ring, unsigned int entries,
			    unsigned int flags)
{
	int ret = io_uring_queue_init(entries, ring, flags);

	if (ret < 0) {
		fprintf(stderr, "copy_uring: io_uring_queue_init: %s\n",
			strerror(-ret));
		exit(1);
	}
}

static void ring_init(struct io_uring *ring, unsigned int entries)
{
	ring_init_flags(ring, entries, 0);
}

/* Wait for a CQE; exit on a failure to wait. */
static struct io_uring_cqe *wait_cqe(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret;

	do {
		ret = io_uring_wait_cqe(ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0) {
		fprintf(stderr, "copy_uring: io_uring_wait_cqe: %s\n",
			strerror(-ret));
		exit(1);
	}
	return cqe;
}

static const char *res_name(int res)
{
	return res < 0 ? errno_name(-res) : "ok";
}

static int do_one(int argc, char **argv)
{
	unsigned long long addr3 = 0;
	long long nr = -1;
	int opt, fd, rsvd = -1, bad_ptr = 0, read_only = 0, async_cancel = 0;
	int i, n, res = 0, cancel_res = 0, seen;
	unsigned long long copied = 0;
	unsigned int flags = 0, ioprio = 0, cmd_flags = 0, len = 0;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct blkcopy *arg;

	while ((opt = getopt(argc, argv, "rOf:n:z:FA:I:U:L:a")) != -1) {
		switch (opt) {
		case 'r': read_only = 1; break;
		case 'O': flags = BLKCOPY_OFFLOAD_ONLY; break;
		case 'f': flags = strtoul(optarg, NULL, 0); break;
		case 'n': nr = strtoll(optarg, NULL, 0); break;
		case 'z': rsvd = atoi(optarg); break;
		case 'F': bad_ptr = 1; break;
		case 'A': addr3 = strtoull(optarg, NULL, 0); break;
		case 'I': ioprio = strtoul(optarg, NULL, 0); break;
		case 'U': cmd_flags = strtoul(optarg, NULL, 0); break;
		case 'L': len = strtoul(optarg, NULL, 0); break;
		case 'a': async_cancel = 1; break;
		default: return 2;
		}
	}
	n = argc - optind - 1;
	if (n < 0 || n > MAX_ARG_RANGES) {
		fprintf(stderr, "usage: copy_uring [options] DEV SRC:DST:LEN...\n");
		return 2;
	}
	arg = alloc_arg(n);
	for (i = 0; i < n; i++)
		if (parse_range(argv[optind + 1 + i], &arg->ranges[i]))
			return 2;
	arg->nr_ranges = nr >= 0 ? (unsigned int)nr : (unsigned int)n;
	arg->flags = flags;
	if (rsvd >= 0 && rsvd < 5)
		arg->reserved[rsvd] = 1;

	fd = open_dev(argv[optind], read_only ? O_RDONLY : O_RDWR);
	ring_init(&ring, 4);
	sqe = io_uring_get_sqe(&ring);
	prep_copy(sqe, fd, bad_ptr ? (void *)16 : (void *)arg, 1);
	sqe->ioprio = ioprio;
	sqe_put(sqe, SQE_LEN, &len, sizeof(len));
	sqe_put(sqe, SQE_CMD_FLAGS, &cmd_flags, sizeof(cmd_flags));
	sqe_put(sqe, SQE_ADDR3, &addr3, sizeof(addr3));
	if (async_cancel) {
		uint64_t target = 1;

		sqe = io_uring_get_sqe(&ring);
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_ASYNC_CANCEL;
		sqe->fd = -1;
		sqe_put(sqe, SQE_ADDR, &target, sizeof(target));
		io_uring_sqe_set_data64(sqe, CANCEL_TAG);
	}
	if (io_uring_submit(&ring) < 0) {
		fprintf(stderr, "copy_uring: io_uring_submit failed\n");
		return 1;
	}
	for (seen = 0; seen < 1 + async_cancel; seen++) {
		cqe = wait_cqe(&ring);
		if (cqe->user_data == CANCEL_TAG)
			cancel_res = cqe->res;
		else
			res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	for (i = 0; i < n; i++)
		copied += arg->ranges[i].copied;
	if (async_cancel)
		printf("async cancel: %s\n", res_name(cancel_res));
	/* The CQE's result is the sum of the ranges' copied, or an errno. */
	if (res >= 0 && (unsigned long long)res != copied)
		printf("CQE res %d but the ranges copied %llu\n", res, copied);
	else
		printf("%s\n", res_name(res));
	printf("%s\n", arg->out_flags & BLKCOPY_OFFLOADED ? "offloaded" : "onloaded");
	for (i = 0; i < n; i++)
		printf("range %d copied %llu\n", i,
		       (unsigned long long)arg->ranges[i].copied);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}

/* Errors seen by do_stream(), by errno */
static unsigned long errors[4096];

static int do_stream(int argc, char **argv)
{
	unsigned long long size = 64 << 10, count = 0, src, dst, span;
	unsigned long long issued = 0, copied = 0, next = 0;
	unsigned int qd = 32, flags = 0, in_flight = 0, slot;
	double secs = 0, exit_at = 0, close_at = 0, t0;
	int opt, fd, stop = 0, e, any = 0, time_submit = 0;
	struct blkcopy **args;
	struct io_uring_cqe *cqe;
	struct io_uring ring;

	while ((opt = getopt(argc, argv, "q:c:s:Ot:Tx:X:")) != -1) {
		switch (opt) {
		case 'q': qd = atoi(optarg); break;
		case 'c': count = parse_size(optarg); break;
		case 's': size = parse_size(optarg); break;
		case 'O': flags = BLKCOPY_OFFLOAD_ONLY; break;
		case 't': secs = atof(optarg); break;
		case 'T': time_submit = 1; break;
		case 'x': exit_at = atof(optarg); break;
		case 'X': close_at = atof(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 4 || !qd || qd > 4096 || !size) {
		fprintf(stderr, "usage: copy_uring stream [options] DEV SRC DST SPAN\n");
		return 2;
	}
	src = parse_size(argv[optind + 1]);
	dst = parse_size(argv[optind + 2]);
	span = parse_size(argv[optind + 3]);
	if (span < size)
		return 2;
	if (!count && !secs && !exit_at && !close_at)
		count = span / size;
	fd = open_dev(argv[optind], O_RDWR);
	ring_init(&ring, qd);
	args = calloc(qd, sizeof(*args));
	if (!args)
		return 1;
	for (slot = 0; slot < qd; slot++)
		args[slot] = alloc_arg(1);
	t0 = now();
	slot = 0;
	for (;;) {
		/* Fill the free slots (marked by nr_ranges 0). */
		while (!stop && in_flight < qd && (!count || issued < count)) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			unsigned long long off = next * size % span;
			struct blkcopy *arg;

			if (!sqe)
				break;
			while (args[slot]->nr_ranges)
				slot = (slot + 1) % qd;
			arg = args[slot];
			memset(arg, 0, sizeof(*arg) + sizeof(arg->ranges[0]));
			arg->nr_ranges = 1;
			arg->flags = flags;
			arg->ranges[0].src = src + off;
			arg->ranges[0].dst = dst + off;
			arg->ranges[0].len = size;
			prep_copy(sqe, fd, arg, slot);
			issued++;
			next++;
			in_flight++;
		}
		if (io_uring_submit(&ring) < 0) {
			fprintf(stderr, "copy_uring: io_uring_submit failed\n");
			return 1;
		}
		if (time_submit) {
			printf("first submit: %u commands in %.0f ms\n",
			       in_flight, (now() - t0) * 1000);
			time_submit = 0;
		}
		if (exit_at && now() - t0 >= exit_at && in_flight) {
			printf("exiting with %u in flight\n", in_flight);
			fflush(stdout);
			_exit(0);
		}
		if (close_at && now() - t0 >= close_at && in_flight) {
			double t = now();

			io_uring_queue_exit(&ring);
			printf("ring closed in %.0f ms with %u in flight\n",
			       (now() - t) * 1000, in_flight);
			fflush(stdout);
			sleep(1);
			return 0;
		}
		if (!in_flight)
			break;
		if (exit_at || close_at) {
			struct __kernel_timespec ts = { .tv_nsec = 10000000 };

			if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
				continue;
		} else {
			cqe = wait_cqe(&ring);
		}
		slot = cqe->user_data;
		if (cqe->res >= 0) {
			copied += cqe->res;
		} else {
			e = -cqe->res;
			errors[e < 4096 ? e : 0]++;
			stop = 1;
		}
		args[slot]->nr_ranges = 0;
		in_flight--;
		io_uring_cqe_seen(&ring, cqe);
		if (secs && now() - t0 >= secs)
			stop = 1;
	}
	printf("issued %llu, copied %llu, errors:", issued, copied);
	for (e = 0; e < 4096; e++) {
		if (!errors[e])
			continue;
		printf("%s %s x%lu", any ? "," : "", e ? errno_name(e) : "other",
		       errors[e]);
		any = 1;
	}
	printf("%s\n", any ? "" : " none");
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}

/*
 * Read /proc/PID/stat of process @pid into @buf (@size bytes); return its
 * fields after the command name (from the state, field 3 on), or NULL.
 */
static const char *proc_stat(pid_t pid, char *buf, size_t size)
{
	char path[64], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

/* User plus system time of process @pid in clock ticks, or -1. */
static long long cpu_ticks(pid_t pid)
{
	unsigned long long utime, stime;
	const char *fields;
	char buf[1024];

	/* Fields 14 and 15 */
	fields = proc_stat(pid, buf, sizeof(buf));
	if (!fields || sscanf(fields, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			      &utime, &stime) != 2)
		return -1;
	return utime + stime;
}

/* The kworker running io_uring's ring exit work now, or 0. */
static pid_t find_exit_worker(void)
{
	char path[288], comm[64];
	struct dirent *de;
	pid_t pid = 0;
	DIR *d;
	FILE *f;

	d = opendir("/proc");
	if (!d)
		return 0;
	while (!pid && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "kworker/", 8) && strstr(comm, "+iou_exit"))
			pid = atoi(de->d_name);
		fclose(f);
	}
	closedir(d);
	return pid;
}

/* Whether process @pid is stopped ('T' in /proc/PID/stat). */
static int is_stopped(pid_t pid)
{
	const char *fields;
	char buf[1024];

	fields = proc_stat(pid, buf, sizeof(buf));
	return fields && fields[0] == 'T';
}

/* Whether the block device of @fd has no request in flight. */
static int dev_idle(int fd)
{
	unsigned long long r = 1, w = 1;
	char path[96];
	struct stat st;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/inflight",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &r, &w) != 2)
		r = 1;
	fclose(f);
	return !r && !w;
}

/* The child of do_stopped(): see the comment at the top. */
/* Wait up to @secs for process @pid to be stopped; whether it is. */
static int wait_stopped(pid_t pid, double secs)
{
	double end = now() + secs;

	while (!is_stopped(pid) && now() < end)
		usleep(20000);
	return is_stopped(pid);
}

/* The child of do_stopped(): see the comment at the top. */
static int stopped_child(struct io_uring *ring, int fd, pid_t parent,
			 double wait, double measure)
{
	double end = now() + wait;
	long long t0, t1;
	int ready;
	pid_t worker;

	while (!(is_stopped(parent) && dev_idle(fd)) && now() < end)
		usleep(20000);
	ready = is_stopped(parent) && dev_idle(fd) && !io_uring_cq_ready(ring) &&
		!find_exit_worker();
	printf("task stopped, device idle, no CQE: %s\n", ready ? "yes" : "no");
	io_uring_queue_exit(ring);
	usleep(100000);
	worker = find_exit_worker();
	t0 = worker ? cpu_ticks(worker) : -1;
	usleep(measure * 1e6);
	t1 = worker ? cpu_ticks(worker) : -1;
	if (!worker)
		printf("exit work: done\n");
	else if (t0 < 0 || t1 < 0)
		printf("exit work: no CPU time of kworker %d\n", (int)worker);
	else
		printf("exit work: %lld ms of CPU in %.0f ms\n",
		       (t1 - t0) * 1000 / sysconf(_SC_CLK_TCK), measure * 1000);
	fflush(stdout);
	/* A SIGCONT before the parent's SIGSTOP would leave it stopped. */
	wait_stopped(parent, 5);
	kill(parent, SIGCONT);
	return ready ? 0 : 1;
}

static int do_stopped(int argc, char **argv)
{
	unsigned int setup = 0;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	struct blkcopy *arg;
	double wait = 2, measure = 1;
	int opt, fd, status;
	pid_t parent, child;

	while ((opt = getopt(argc, argv, "CDw:m:")) != -1) {
		switch (opt) {
		case 'C': setup = IORING_SETUP_COOP_TASKRUN; break;
		case 'D':
			setup = IORING_SETUP_DEFER_TASKRUN |
				IORING_SETUP_SINGLE_ISSUER;
			break;
		case 'w': wait = atof(optarg); break;
		case 'm': measure = atof(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: copy_uring stopped [-C | -D] [-w SECS] [-m SECS] DEV SRC:DST:LEN\n");
		return 2;
	}
	arg = alloc_arg(1);
	arg->nr_ranges = 1;
	if (parse_range(argv[optind + 1], &arg->ranges[0]))
		return 2;
	fd = open_dev(argv[optind], O_RDWR);
	ring_init_flags(&ring, 4, setup);
	sqe = io_uring_get_sqe(&ring);
	prep_copy(sqe, fd, arg, 0);
	if (io_uring_submit(&ring) != 1) {
		fprintf(stderr, "copy_uring: io_uring_submit failed\n");
		return 1;
	}
	fflush(stdout);
	parent = getpid();
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (!child)
		_exit(stopped_child(&ring, fd, parent, wait, measure));
	io_uring_queue_exit(&ring);
	raise(SIGSTOP);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return 1;
	close(fd);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "stream"))
		return do_stream(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "stopped"))
		return do_stopped(argc - 1, argv + 1);
	return do_one(argc, argv);
}
