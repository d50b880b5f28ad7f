/* `mqttsim merge`: joins the output directories of a sharded sweep into one. */
#include "experiments/sweep_merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiments/fsutil.h"
#include "experiments/str.h"
#include "experiments/sweep.h"
#include "experiments/sweep_csv.h"
#include "experiments/sweep_fig.h"
#include "experiments/sweep_jobs.h"

#define ERRLEN 1024

/* Copies the job directory from into jobs_dir/name through a temporary
 * name, so that a copy cut short is never taken for a job. The caller copies
 * only jobs that jobs_dir lacks. Returns 0 or -1. */
static int copy_job(const char *from, const char *jobs_dir, const char *name)
{
    char *tmp = exp_strf("%s/.tmp-%s", jobs_dir, name);
    char *final = exp_strf("%s/%s", jobs_dir, name);
    exp_fs_rm_tree(tmp);
    exp_fs_rm_tree(final);
    int rc = mkdir(tmp, 0777);
    if (rc == 0) rc = exp_fs_copy_files(from, tmp);
    if (rc == 0) rc = rename(tmp, final);
    if (rc) exp_fs_rm_tree(tmp);
    free(tmp);
    free(final);
    return rc;
}

int exp_cmd_merge(char *const *dirs, int n, const char *out_dir)
{
    if (n < 1 || !out_dir) {
        fprintf(stderr, "mqttsim: merge: expected DIR... --out DIR\n");
        return 2;
    }
    char *rec = exp_strf("%s/sweep.json", dirs[0]);
    char *ref = exp_fs_read(rec, NULL);
    if (!ref) {
        fprintf(stderr, "mqttsim: merge: cannot read %s: is %s the output of a sweep?\n", rec, dirs[0]);
        free(rec);
        return 2;
    }
    int status = 0;
    for (int i = 1; i < n && status == 0; i++) {
        char *p = exp_strf("%s/sweep.json", dirs[i]);
        char *t = exp_fs_read(p, NULL);
        if (!t) {
            fprintf(stderr, "mqttsim: merge: cannot read %s: is %s the output of a sweep?\n", p, dirs[i]);
            status = 2;
        } else if (!exp_sweep_same(t, ref)) {
            fprintf(stderr, "mqttsim: merge: %s and %s differ: the directories hold different sweeps\n", rec, p);
            status = 2;
        }
        free(t);
        free(p);
    }
    char err[ERRLEN];
    exp_sweep *sw = status ? NULL : exp_sweep_parse(ref, rec, dirs[0], false, err, sizeof err);
    if (!status && !sw) {
        fprintf(stderr, "mqttsim: merge: %s\n", err);
        status = 2;
    }
    free(rec);
    if (status) { free(ref); return status; }
    /* sweep.json is replayed as written (ref); its "name" is already explicit. */

    char *jobs_dir = exp_strf("%s/jobs", out_dir);
    int lock = exp_jobs_claim(out_dir);
    if (lock < 0) {
        status = 2;
        goto done;
    }
    if (exp_fs_mkdir_p(jobs_dir) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", jobs_dir, strerror(errno));
        status = 2;
        goto done;
    }
    char *own = exp_strf("%s/sweep.json", out_dir);
    char *mine = exp_fs_read(own, NULL);
    if (mine && !exp_sweep_same(mine, ref)) {
        fprintf(stderr, "mqttsim: merge: %s holds a different sweep (%s differs from %s/sweep.json)\n", out_dir, own, dirs[0]);
        status = 2;
    } else if (!mine && exp_fs_write_atomic(own, ref, strlen(ref)) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", own, strerror(errno));
        status = 2;
    }
    free(mine);
    free(own);
    if (status) goto done;
    exp_jobs_remove_tmp(jobs_dir);

    /* Every copy of a job is checked: a damaged one in out_dir is removed (so
     * that sweep.csv cannot count it), a damaged one in a shard is not copied,
     * and each is reported. */
    uint32_t R = exp_sweep_replications(sw);
    exp_job_state *own_st = calloc(R, sizeof *own_st), *src_st = calloc((size_t)n * R, sizeof *src_st);
    char **src_jobs = calloc((size_t)n, sizeof *src_jobs);
    if (!own_st || !src_st || !src_jobs) abort();
    for (int i = 0; i < n; i++) src_jobs[i] = exp_strf("%s/jobs", dirs[i]);
    size_t missing = 0, copied = 0, damaged = 0;
    for (size_t p = 1; p <= exp_sweep_points(sw); p++) {
        char *config = exp_sweep_point_config(sw, p);
        exp_jobs_check_point(sw, jobs_dir, p, config, "merge: ", "; removed", own_st, &damaged);
        bool all_done = true;
        for (uint32_t r = 0; r < R; r++) all_done &= own_st[r] == EXP_JOB_DONE;
        for (int i = 0; i < n && !all_done; i++)
            exp_jobs_check_point(sw, src_jobs[i], p, config, "merge: ", "; not copied",
                                 &src_st[(size_t)i * R], &damaged);
        free(config);
        for (uint32_t r = 0; r < R; r++) {
            if (own_st[r] == EXP_JOB_DONE) continue;
            char *name = exp_jobs_name(p, r);
            if (own_st[r] == EXP_JOB_DAMAGED) {
                char *own_job = exp_strf("%s/%s", jobs_dir, name);
                exp_fs_rm_tree(own_job);
                free(own_job);
            }
            int found = -1;
            for (int i = 0; i < n && found < 0; i++) {
                if (src_st[(size_t)i * R + r] != EXP_JOB_DONE) continue;
                found = i;
                char *src = exp_strf("%s/%s", src_jobs[i], name);
                if (copy_job(src, jobs_dir, name) != 0) {
                    fprintf(stderr, "mqttsim: merge: cannot copy %s into %s\n", src, jobs_dir);
                    status = 1;
                }
                free(src);
            }
            if (found >= 0) copied++;
            else {
                if (missing < 20) {
                    char *head = exp_strf("merge: missing job %s", name);
                    exp_jobs_report(sw, p, r, head, "");
                    free(head);
                }
                missing++;
            }
            free(name);
        }
    }
    for (int i = 0; i < n; i++) free(src_jobs[i]);
    free(src_jobs);
    free(src_st);
    free(own_st);
    if (damaged > 20) fprintf(stderr, "mqttsim: merge: %zu damaged jobs in all (20 listed)\n", damaged);
    size_t incomplete = 0;
    if (exp_sweep_finish(sw, out_dir, &incomplete)) status = 1;
    if (missing) {
        fprintf(stderr, "mqttsim: merge: %zu of %zu jobs are missing; sweep.csv leaves out %zu point(s). "
                "To run just the missing jobs: mqttsim sweep %s/sweep.json --out %s\n",
                missing, exp_sweep_points(sw) * exp_sweep_replications(sw), incomplete, out_dir, out_dir);
        status = 1;
    } else if (status == 0) {
        printf("results: %s/sweep.csv (%zu jobs copied)\n", out_dir, copied);
        if (exp_sweep_draw_figures(sw, out_dir)) status = 1;
    }
done:
    if (lock >= 0) close(lock);
    free(jobs_dir);
    free(ref);
    exp_sweep_free(sw);
    return status;
}
