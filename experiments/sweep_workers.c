/* `mqttsim sweep`: runs a sweep's jobs in worker processes, resumes from the finished ones, stops cleanly on a signal. */
#include "experiments/sweep_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "experiments/config.h"
#include "experiments/fsutil.h"
#include "experiments/progress.h"
#include "experiments/run.h"
#include "experiments/str.h"
#include "experiments/sweep.h"
#include "experiments/sweep_csv.h"
#include "experiments/sweep_fig.h"
#include "experiments/sweep_jobs.h"

#define ERRLEN 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t stop_signal;
static int wake_fd[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD) stop_signal = sig;
    if (wake_fd[1] >= 0) {
        char c = 0;
        ssize_t w = write(wake_fd[1], &c, 1);   /* the pipe full is fine: the loop wakes anyway */
        (void)w;
    }
    errno = saved;
}

typedef struct {
    pid_t pid;
    size_t p;
    uint32_t r;
    char *tmp;
} running_job;

/* The child: runs job (p, r) into tmp with its stderr in tmp/stderr.log and
 * renames tmp to final when complete; exits with the run's status (2 when the
 * point's config no longer loads). mask: the signal mask to restore; parent:
 * the sweep's pid. A worker dies with the sweep: once it is gone, nobody
 * would reap the job, and a resumed sweep must find no worker still renaming
 * job directories (see exp_jobs_claim). */
static void run_child(const exp_sweep *sw, size_t p, uint32_t r, const char *tmp, const char *final,
                      const sigset_t *mask, pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    /* The parent may have died before the request above: then it never fires. */
    if (getppid() != parent) _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    close(wake_fd[0]);
    close(wake_fd[1]);
    char *log = exp_strf("%s/stderr.log", tmp);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) { dup2(fd, 2); close(fd); }
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) { dup2(devnull, 1); close(devnull); }
    char err[ERRLEN];
    exp_config cfg;
    int rc;
    if (exp_sweep_load_point(sw, p, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    } else {
        exp_run_opts opts = {.out_dir = tmp, .rep_index = (int)r, .quiet = true};
        rc = exp_cmd_run(&cfg, &opts);
        exp_config_free(&cfg);
    }
    fflush(NULL);
    /* The log goes only once the rename has succeeded: a failed rename's
     * message must land in the log that the parent reports from tmp. */
    if (rc == 0 && rename(tmp, final) != 0) {
        fprintf(stderr, "cannot rename %s to %s: %s\n", tmp, final, strerror(errno));
        rc = 1;
    }
    fflush(NULL);
    if (rc == 0) {
        char *kept = exp_strf("%s/stderr.log", final);
        struct stat st;
        if (stat(kept, &st) == 0 && st.st_size == 0) unlink(kept);
        free(kept);
    }
    _exit(rc);
}

/* Starts job (p, r) in a child process writing to jobs_dir/.tmp-NAME, and
 * records it in *slot. Returns 0, or -1 (reported) when it cannot start. */
static int start_job(const exp_sweep *sw, const char *jobs_dir, size_t p, uint32_t r, running_job *slot)
{
    char *name = exp_jobs_name(p, r);
    char *tmp = exp_strf("%s/.tmp-%s", jobs_dir, name);
    char *final = exp_strf("%s/%s", jobs_dir, name);
    free(name);
    exp_fs_rm_tree(tmp);
    /* The caller runs only jobs that are missing or damaged (a results.csv
     * deleted by hand, say): a directory at final would make the rename onto
     * it fail on every run. */
    exp_fs_rm_tree(final);
    if (mkdir(tmp, 0777) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", tmp, strerror(errno));
        free(tmp);
        free(final);
        return -1;
    }
    fflush(NULL);
    /* Signals wait until the child has its default handlers back, so a
     * SIGTERM from an interrupt cannot reach it through on_signal. */
    sigset_t block, prev;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &prev);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) run_child(sw, p, r, tmp, final, &prev, parent);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    free(final);
    if (pid < 0) {
        fprintf(stderr, "mqttsim: fork: %s\n", strerror(errno));
        exp_fs_rm_tree(tmp);
        free(tmp);
        return -1;
    }
    *slot = (running_job){pid, p, r, tmp};
    return 0;
}

/* Writes OUT/sweep.json, or checks that it matches. Returns 0 or 2 (reported). */
static int record_sweep(const exp_sweep *sw, const char *path, const char *out_dir)
{
    char *rec = exp_strf("%s/sweep.json", out_dir);
    char *jobs = exp_strf("%s/jobs", out_dir);
    int rc = 0;
    char *old = exp_fs_read(rec, NULL);
    if (old) {
        /* The record is kept as first written, even when this sweep file
         * words the same sweep differently. */
        if (!exp_sweep_same(old, exp_sweep_resolved(sw))) {
            fprintf(stderr, "mqttsim: %s holds the results of a different sweep: %s differs from %s "
                    "(resolved); choose another --out, or delete %s to start afresh\n", out_dir, rec, path, out_dir);
            rc = 2;
        }
    } else if (exp_fs_is_dir(jobs)) {
        fprintf(stderr, "mqttsim: %s has job results but no sweep.json; choose another --out\n", out_dir);
        rc = 2;
    } else if (exp_fs_write_atomic(rec, exp_sweep_resolved(sw), strlen(exp_sweep_resolved(sw))) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", rec, strerror(errno));
        rc = 2;
    }
    free(old);
    free(jobs);
    free(rec);
    return rc;
}

static void report_failure(const exp_sweep *sw, const running_job *j, int st)
{
    char head[128];
    if (WIFEXITED(st))
        snprintf(head, sizeof head, "job p%04zu-r%02u failed (exit status %d)", j->p, (unsigned)j->r,
                 WEXITSTATUS(st));
    else
        snprintf(head, sizeof head, "job p%04zu-r%02u failed (killed by signal %d)", j->p, (unsigned)j->r,
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    exp_jobs_report(sw, j->p, j->r, head, "");
    char *log = exp_strf("%s/stderr.log", j->tmp);
    char *text = exp_fs_read(log, NULL);
    if (text && *text) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "    %s\n", line);
    }
    free(text);
    free(log);
}

int exp_cmd_sweep(const char *path, int jobs, const char *out_dir, int shard_i, int shard_n)
{
    char err[ERRLEN];
    exp_sweep *sw = exp_sweep_load(path, true, err, sizeof err);
    if (!sw) {
        fprintf(stderr, "mqttsim: %s\n", err);
        return 2;
    }
    if (shard_n < 0 || (shard_n > 0 && (shard_i < 1 || shard_i > shard_n))) {
        fprintf(stderr, "mqttsim: --shard %d/%d: expected I/N with 1 <= I <= N\n", shard_i, shard_n);
        exp_sweep_free(sw);
        return 2;
    }
    char *out = out_dir ? exp_strdup(out_dir) : exp_strf("results/%s", exp_sweep_name(sw));
    char *jobs_dir = exp_strf("%s/jobs", out);
    int status = 0, lock = -1;
    running_job *run = NULL;
    size_t *todo = NULL;
    struct sigaction old_int, old_term;
    bool caught = false;   /* old_int and old_term hold what to restore */
    if ((lock = exp_jobs_claim(out)) < 0) {
        status = 2;
        goto done;
    }
    if ((status = record_sweep(sw, path, out)) != 0) goto done;
    if (exp_fs_mkdir_p(jobs_dir) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", jobs_dir, strerror(errno));
        status = 2;
        goto done;
    }
    exp_jobs_remove_tmp(jobs_dir);

    /* The job list: in grid order, this shard's points only, finished jobs
     * skipped. A job whose files are not complete and consistent runs again. */
    uint32_t R = exp_sweep_replications(sw);
    size_t total = 0, skipped = 0, n_todo = 0, pts_total = 0, damaged = 0;
    todo = malloc(exp_sweep_points(sw) * R * sizeof *todo);
    size_t *left_in_point = calloc(exp_sweep_points(sw) + 1, sizeof *left_in_point);
    exp_job_state *state = calloc(R, sizeof *state);
    if (!todo || !left_in_point || !state) abort();
    for (size_t p = 1; p <= exp_sweep_points(sw); p++) {
        if (shard_n > 0 && exp_sweep_shard_of(p, shard_n) != shard_i) continue;
        pts_total++;
        char *config = exp_sweep_point_config(sw, p);
        exp_jobs_check_point(sw, jobs_dir, p, config, "", "; running it again", state, &damaged);
        free(config);
        for (uint32_t r = 0; r < R; r++) {
            total++;
            if (state[r] == EXP_JOB_DONE) { skipped++; continue; }
            todo[n_todo++] = p * R + r;   /* decoded below */
            left_in_point[p]++;
        }
    }
    free(state);
    if (damaged > 20) fprintf(stderr, "mqttsim: %zu damaged jobs in all (20 listed), each run again\n", damaged);
    size_t pts_done = 0;
    for (size_t p = 1; p <= exp_sweep_points(sw); p++)
        if (!(shard_n > 0 && exp_sweep_shard_of(p, shard_n) != shard_i) && left_in_point[p] == 0) pts_done++;

    if (jobs <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = c > 0 ? (int)c : 1;
    }
    if ((size_t)jobs > n_todo) jobs = n_todo ? (int)n_todo : 1;
    run = calloc((size_t)jobs, sizeof *run);
    if (!run) abort();

    if (pipe(wake_fd) != 0) abort();
    fcntl(wake_fd[0], F_SETFL, O_NONBLOCK);
    fcntl(wake_fd[1], F_SETFL, O_NONBLOCK);
    fcntl(wake_fd[0], F_SETFD, FD_CLOEXEC);
    fcntl(wake_fd[1], F_SETFD, FD_CLOEXEC);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP}, old_chld;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGCHLD, &sa, &old_chld);
    caught = true;

    bool tty = isatty(2);
    double t0 = now_s(), last_draw = -1;
    exp_progress pr;
    exp_progress_start(&pr, t0, total, skipped, pts_total, pts_done, n_todo);
    size_t next = 0, n_running = 0, ran = 0, failed = 0;
    bool killed = false;
    for (;;) {
        while (!stop_signal && n_running < (size_t)jobs && next < n_todo) {
            size_t p = todo[next] / R;
            uint32_t r = (uint32_t)(todo[next] % R);
            next++;
            size_t slot = 0;
            while (run[slot].pid) slot++;
            if (start_job(sw, jobs_dir, p, r, &run[slot]) != 0) {
                failed++;
                exp_progress_job(&pr, now_s(), false);
                continue;
            }
            n_running++;
        }
        if (n_running == 0) break;
        if (stop_signal && !killed) {
            for (int i = 0; i < jobs; i++)
                if (run[i].pid) kill(run[i].pid, SIGTERM);
            killed = true;
        }
        struct pollfd pfd = {.fd = wake_fd[0], .events = POLLIN};
        poll(&pfd, 1, tty ? 250 : -1);
        char drain[64];
        while (read(wake_fd[0], drain, sizeof drain) > 0) {}
        int st;
        pid_t pid;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            int i = 0;
            while (i < jobs && run[i].pid != pid) i++;
            if (i == jobs) continue;
            running_job *j = &run[i];
            bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            /* A terminal's Ctrl-C reaches the whole process group, so workers
             * can die of SIGINT before the loop has seen stop_signal and sent
             * its SIGTERMs: whichever of the two killed a job, it was stopped,
             * not failed. */
            bool stopped = (killed || stop_signal) && WIFSIGNALED(st) &&
                           (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM);
            if (!ok && !stopped) {
                if (tty) fputs("\r\033[K", stderr);
                report_failure(sw, j, st);
                failed++;
            }
            if (ok) ran++;
            if (!stopped) exp_progress_job(&pr, now_s(), --left_in_point[j->p] == 0);
            exp_fs_rm_tree(j->tmp);   /* a failed or killed job's leftovers; gone after a rename */
            free(j->tmp);
            memset(j, 0, sizeof *j);
            n_running--;
        }
        double t = now_s();
        if (tty && (t - last_draw >= 0.2 || n_running == 0)) {
            exp_progress_draw(stderr, &pr, t);
            last_draw = t;
        }
    }
    if (tty) {
        exp_progress_draw(stderr, &pr, now_s());
        fputc('\n', stderr);
    }
    /* SIGINT and SIGTERM stay caught while sweep.csv and the figures are
     * written (with SA_RESTART, so that no write or wait is cut short): one
     * that comes after the last job lets the results be finished, and the
     * sweep then exits 130 as for any interruption, never half-written. */
    sigaction(SIGCHLD, &old_chld, NULL);
    close(wake_fd[0]);
    close(wake_fd[1]);
    wake_fd[0] = wake_fd[1] = -1;
    struct sigaction late = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&late.sa_mask);
    int interrupted = stop_signal;
    sigaction(SIGINT, &late, NULL);
    sigaction(SIGTERM, &late, NULL);
    free(left_in_point);

    if (interrupted) {
        char cmd[64] = "";
        if (shard_n > 0) snprintf(cmd, sizeof cmd, " --shard %d/%d", shard_i, shard_n);
        fprintf(stderr, "mqttsim: interrupted: %zu of %zu jobs are finished and kept in %s; "
                "to resume, run again: mqttsim sweep %s%s --out %s\n",
                skipped + ran, total, jobs_dir, path, cmd, out);
        status = 130;
        goto done;
    }
    size_t incomplete = 0;
    int frc = exp_sweep_finish(sw, out, &incomplete);
    double secs = now_s() - t0;
    if (!tty)
        fprintf(stderr, "mqttsim: sweep %s: %zu jobs (%zu run, %zu already done, %zu failed) in %.1f s\n",
                exp_sweep_name(sw), total, ran, skipped, failed, secs);
    if (failed) {
        fprintf(stderr, "mqttsim: %zu job(s) failed; sweep.csv leaves out their points. "
                "Run the same command again to retry them.\n", failed);
        status = 1;
    }
    if (frc) status = 1;
    if (frc == 0) printf("results: %s/sweep.csv\n", out);
    if (shard_n > 0) {
        if (frc == 0 && exp_sweep_figures(sw))
            printf("shard %d/%d done; merge the shard directories (mqttsim merge DIR... --out DIR) to get the full sweep.csv and the figures\n",
                   shard_i, shard_n);
    } else if (frc == 0 && incomplete == 0) {
        if (exp_sweep_draw_figures(sw, out)) status = 1;
    }
    if (stop_signal && status == 0) {
        fprintf(stderr, "mqttsim: interrupted after the last job; %s/sweep.csv and the figures "
                "were finished first\n", out);
        status = 130;
    }
done:
    if (caught) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (lock >= 0) close(lock);
    free(run);
    free(todo);
    free(jobs_dir);
    free(out);
    exp_sweep_free(sw);
    return status;
}

