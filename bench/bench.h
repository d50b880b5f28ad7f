/* What the benchmarks share: their clocks, the lossy link of their cases, and a case run in a child process for its own peak RSS. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/link.h"

/* Forks; the child calls fn(ctx, out) and sends the size bytes of *out back
 * through a pipe; the parent reads them into out and takes the child's peak
 * RSS (KiB) from wait4 into *rss_kib. Returns 0, or 1 when the fork, the
 * pipe, fn or the transfer failed. */
static inline int bench_in_child(int (*fn)(const void *ctx, void *out), const void *ctx, void *out,
                          size_t size, long *rss_kib)
{
    int fd[2];
    fflush(stdout);
    if (pipe(fd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(fd[0]);
        int rc = fn(ctx, out);
        if (write(fd[1], out, size) != (ssize_t)size)
            rc = 1;
        _exit(rc);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], out, size);
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)size)
        return 1;
    *rss_kib = ru.ru_maxrss;
    return 0;
}

/* Wall-clock seconds (monotonic), and this process's CPU seconds: the
 * steadier of the two on a shared machine. */
static inline double bench_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bench_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A link direction with Bernoulli loss p and a constant 10 ms delay. */
static inline sim_link_params bench_lossy_link(double p)
{
    sim_link_params l = {0};
    l.loss.kind = SIM_LOSS_BERNOULLI;
    l.loss.p = p;
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = 10;
    return l;
}

#endif
