/* Runs one benchmark case in a child process, so that its peak RSS is its own. */
#ifndef BENCH_CHILD_H
#define BENCH_CHILD_H

#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forks; the child calls fn(ctx, out) and sends the size bytes of *out back
 * through a pipe; the parent reads them into out and takes the child's peak
 * RSS (KiB) from wait4 into *rss_kib. Returns 0, or 1 when the fork, the
 * pipe, fn or the transfer failed. */
static int bench_in_child(int (*fn)(const void *ctx, void *out), const void *ctx, void *out,
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

#endif
