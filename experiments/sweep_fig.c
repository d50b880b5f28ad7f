/* A sweep's figures: gnuplot run on sweep.csv and latency_cdf.csv with the scripts in plots/. */
#include "experiments/sweep_fig.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "experiments/fsutil.h"
#include "experiments/str.h"

/* The directory of the gnuplot scripts: $MQTTSIM_PLOTS, else <exe dir>/../plots,
 * else ./plots. Returns a malloc'd path, or NULL when none holds them. */
static char *plots_dir(void)
{
    const char *env = getenv("MQTTSIM_PLOTS");
    if (env && *env) return exp_strdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        char *d = exp_strf("%s/../plots", exe);
        char *probe = exp_strf("%s/delivery.gp", d);
        bool ok = exp_fs_is_file(probe);
        free(probe);
        if (ok) return d;
        free(d);
    }
    if (exp_fs_is_file("plots/delivery.gp")) return exp_strdup("plots");
    return NULL;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path) return false;
    char *copy = exp_strdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *f = exp_strf("%s/%s", *d ? d : ".", prog);
        found = access(f, X_OK) == 0;
        free(f);
    }
    free(copy);
    return found;
}

/* gnuplot's single-quoted strings cannot hold a quote: replace it. */
static char *gp_quote(const char *s)
{
    char *q = exp_strdup(s);
    for (char *c = q; *c; c++) if (*c == '\'') *c = '"';
    return q;
}

/* The x axis of the sweep figures: the first vary key whose values are all
 * numbers (so a loss sweep crossed with a categorical key plots against loss,
 * one line per category), else the first key (plotted as categories). */
static size_t x_key(const exp_sweep *sw)
{
    for (size_t k = 0; k < exp_sweep_keys(sw); k++) {
        size_t v = 0;
        while (v < exp_sweep_n_values(sw, k)) {
            cJSON *j = cJSON_Parse(exp_sweep_key_value(sw, k, v));
            bool num = cJSON_IsNumber(j);
            cJSON_Delete(j);
            if (!num) break;
            v++;
        }
        if (v == exp_sweep_n_values(sw, k)) return k;
    }
    return 0;
}

int exp_sweep_draw_figures(const exp_sweep *sw, const char *out_dir)
{
    if (!exp_sweep_figures(sw)) return 0;
    char *dir = plots_dir();
    bool can = dir && on_path("gnuplot");
    const char *shown = dir ? dir : "plots";
    if (!can)
        fprintf(stderr, "mqttsim: %s; to draw the figures later, run:\n",
                dir ? "gnuplot is not on PATH" : "the gnuplot scripts (plots/) were not found (set MQTTSIM_PLOTS)");
    int status = 0;
    char *label = exp_sweep_point_label(sw, exp_sweep_cdf_point(sw));
    for (size_t i = 0; i < EXP_FIG__COUNT; i++) {
        if (!(exp_sweep_figures(sw) & (1u << i))) continue;
        bool cdf = i == EXP_FIG_CDF;
        char *csv = exp_strf("%s/%s", out_dir, cdf ? "latency_cdf.csv" : "sweep.csv");
        char *outp = exp_strf("%s/fig-%s", out_dir, exp_sweep_figure_names[i]);
        char *script = exp_strf("%s/%s.gp", shown, exp_sweep_figure_names[i]);
        char *qc = gp_quote(csv), *qo = gp_quote(outp), *qx = gp_quote(exp_sweep_key(sw, x_key(sw))), *ql = gp_quote(label);
        char *expr = cdf ? exp_strf("csv='%s'; out='%s'; point='%s, replication 0'", qc, qo, ql)
                         : exp_strf("csv='%s'; out='%s'; x='%s'", qc, qo, qx);
        if (!can) {
            fprintf(stderr, "  gnuplot -e \"%s\" %s\n", expr, script);
        } else if (cdf && !exp_fs_is_file(csv)) {
            fprintf(stderr, "mqttsim: figure cdf: %s is missing (point %zu, replication 0 did not finish)\n", csv, exp_sweep_cdf_point(sw));
            status = 1;
        } else {
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
                _exit(127);
            }
            int st = 0;
            while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
            if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "mqttsim: figure %s failed: gnuplot -e \"%s\" %s\n", exp_sweep_figure_names[i], expr, script);
                status = 1;
            } else {
                printf("figure: %s.png, %s.svg\n", outp, outp);
            }
        }
        free(expr); free(qc); free(qo); free(qx); free(ql);
        free(script); free(outp); free(csv);
    }
    free(label);
    free(dir);
    return status;
}

