/* The progress bar of a sweep on a terminal: jobs and points done, elapsed time and ETA. */
#include "experiments/progress.h"

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 359999) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void exp_progress_draw(FILE *out, size_t done, size_t total, size_t pts_done, size_t pts_total,
                       double elapsed, size_t ran, size_t todo_left)
{
    char el[32], eta[32];
    fmt_time(el, sizeof el, elapsed);
    fmt_time(eta, sizeof eta, ran ? elapsed / (double)ran * (double)todo_left : -1);
    enum { W = 28 };
    char bar[W + 1];
    size_t fill = total ? done * W / total : W;
    for (size_t i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(out, "\r[%s] %zu/%zu jobs, %zu/%zu points, %s elapsed, ETA %s\033[K",
            bar, done, total, pts_done, pts_total, el, eta);
    fflush(out);
}

