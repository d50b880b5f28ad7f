/* The progress bar of a sweep on a terminal: jobs and points done, elapsed time and a steady ETA. */
#include "experiments/progress.h"

#include <stdbool.h>

void exp_progress_start(exp_progress *pr, double t0, size_t total, size_t done, size_t pts_total,
                        size_t pts_done, size_t todo)
{
    *pr = (exp_progress){.t0 = t0, .total = total, .done = done, .pts_total = pts_total,
                         .pts_done = pts_done, .todo = todo, .t_finished = t0, .eta_then = -1};
}

void exp_progress_job(exp_progress *pr, double now, bool point_done)
{
    pr->done++;
    pr->finished++;
    if (point_done) pr->pts_done++;
    size_t left = pr->todo > pr->finished ? pr->todo - pr->finished : 0;
    pr->t_finished = now;
    pr->eta_then = (now - pr->t0) / (double)pr->finished * (double)left;
}

double exp_progress_eta(const exp_progress *pr, double now)
{
    if (pr->eta_then < 0) return -1;
    double eta = pr->eta_then - (now - pr->t_finished);
    return eta > 0 ? eta : 0;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 359999) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void exp_progress_draw(FILE *out, const exp_progress *pr, double now)
{
    char el[32], eta[32];
    fmt_time(el, sizeof el, now - pr->t0);
    fmt_time(eta, sizeof eta, exp_progress_eta(pr, now));
    enum { W = 28 };
    char bar[W + 1];
    size_t fill = pr->total ? pr->done * W / pr->total : W;
    for (size_t i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(out, "\r[%s] %zu/%zu jobs, %zu/%zu points, %s elapsed, ETA %s\033[K",
            bar, pr->done, pr->total, pr->pts_done, pr->pts_total, el, eta);
    fflush(out);
}
