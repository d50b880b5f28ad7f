/* A sweep's output directory: its lock, job directories by name, and whether a job's files are complete. */
#define _DEFAULT_SOURCE /* flock */
#include "experiments/sweep_jobs.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "experiments/csv.h"
#include "experiments/fsutil.h"
#include "experiments/str.h"
#include "experiments/sweep.h"

/* How long a claim waits for the workers of a sweep that is gone: they die
 * with their parent (PR_SET_PDEATHSIG), so this is only a bound. */
#define CLAIM_WAIT_MS 10000
#define CLAIM_POLL_MS 10

/* The pid recorded in the lock file by the process that took the lock, or 0. */
static pid_t lock_owner(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* The lock is flock(2)'s: it belongs to the open file description, which the
 * workers share through fork, so it outlives a parent killed outright for as
 * long as any of its workers runs. The fcntl locks used before were the
 * parent's alone, and let a new sweep in beside orphaned workers. */
int exp_jobs_claim(const char *out_dir)
{
    if (exp_fs_mkdir_p(out_dir) != 0 || !exp_fs_is_dir(out_dir)) {
        bool exists = !exp_fs_is_dir(out_dir) && access(out_dir, F_OK) == 0;
        fprintf(stderr, "mqttsim: %s: %s; choose another --out\n", out_dir,
                exists ? "exists and is not a directory" : strerror(errno));
        return -1;
    }
    char *path = exp_strf("%s/.lock", out_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        fprintf(stderr, "mqttsim: %s: cannot open its lock file %s: %s\n", out_dir, path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    for (int waited = 0;; waited += CLAIM_POLL_MS) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
        if (errno != EWOULDBLOCK) {
            fprintf(stderr, "mqttsim: %s: cannot lock it: %s\n", out_dir, strerror(errno));
            close(fd);
            return -1;
        }
        pid_t owner = lock_owner(fd);
        if (owner > 0 && alive(owner)) {
            fprintf(stderr, "mqttsim: %s: another sweep or merge (pid %ld) is writing to it\n", out_dir,
                    (long)owner);
            close(fd);
            return -1;
        }
        if (waited >= CLAIM_WAIT_MS) {
            fprintf(stderr, "mqttsim: %s: still locked by the workers of a sweep that was stopped "
                    "(pid %ld); run again once they have exited\n", out_dir, (long)owner);
            close(fd);
            return -1;
        }
        if (waited == 500)
            fprintf(stderr, "mqttsim: waiting for the workers of a stopped sweep (pid %ld) to exit\n",
                    (long)owner);
        struct timespec ts = {0, CLAIM_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* Who holds it, for a contender's message; the lock works without. */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {}
    return fd;
}

char *exp_jobs_name(size_t p, uint32_t r)
{
    return exp_strf("p%04zu-r%02u", p, (unsigned)r);
}

char *exp_jobs_path(const char *jobs_dir, size_t p, uint32_t r, const char *file)
{
    char *n = exp_jobs_name(p, r);
    char *s = file ? exp_strf("%s/%s/%s", jobs_dir, n, file) : exp_strf("%s/%s", jobs_dir, n);
    free(n);
    return s;
}

bool exp_jobs_done(const char *jobs_dir, size_t p, uint32_t r)
{
    char *f = exp_jobs_path(jobs_dir, p, r, "results.csv");
    bool ok = exp_fs_is_file(f);
    free(f);
    return ok;
}

static bool number_is(const cJSON *v, double want)
{
    return cJSON_IsNumber(v) && v->valuedouble == want;
}

/* The text of file in job (p, r), which must end with a line break when
 * lines (a CSV file cut short does not; JSON cut short does not parse); NULL
 * with the reason in why. */
static char *read_job_file(const char *jobs_dir, size_t p, uint32_t r, const char *file, bool lines,
                           char *why, size_t whylen)
{
    char *path = exp_jobs_path(jobs_dir, p, r, file);
    size_t len = 0;
    char *text = exp_fs_read(path, &len);
    free(path);
    if (!text)
        exp_errf(why, whylen, "%s is missing or cannot be read", file);
    else if (lines && (len == 0 || text[len - 1] != '\n'))
        exp_errf(why, whylen, "%s is cut short (no line break at its end)", file);
    else
        return text;
    free(text);
    return NULL;
}

/* Whether every line of t has as many fields as its header; else why. */
static bool rows_complete(const exp_csv_table *t, const char *file, char *why, size_t whylen)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (t->rows[i].n != t->head.n) {
            exp_errf(why, whylen, "%s line %zu has %zu fields, its header %zu", file, i + 2,
                     t->rows[i].n, t->head.n);
            return false;
        }
    return true;
}

/* results.csv against the groups of results.json: one complete line per
 * group, the same (pub_qos, sub_qos) pairs in the same order. */
static bool csv_matches_groups(const char *text, const cJSON *groups, char *why, size_t whylen)
{
    exp_csv_table t;
    bool ok = false;
    if (exp_csv_parse(text, &t) != 0 || exp_csv_col(&t.head, "pub_qos") < 0 ||
        exp_csv_col(&t.head, "sub_qos") < 0) {
        exp_errf(why, whylen, "results.csv lacks its header (pub_qos, sub_qos)");
    } else if (rows_complete(&t, "results.csv", why, whylen)) {
        size_t ng = (size_t)cJSON_GetArraySize(groups);
        long cp = exp_csv_col(&t.head, "pub_qos"), cs = exp_csv_col(&t.head, "sub_qos");
        ok = t.n_rows == ng;
        if (!ok)
            exp_errf(why, whylen, "results.csv has %zu QoS pair line(s), results.json %zu group(s)",
                     t.n_rows, ng);
        const cJSON *g = groups ? groups->child : NULL;
        for (size_t i = 0; ok && i < t.n_rows; i++, g = g->next) {
            char *e1, *e2;
            double pub = strtod(t.rows[i].f[cp], &e1), sub = strtod(t.rows[i].f[cs], &e2);
            ok = !*e1 && !*e2 && number_is(cJSON_GetObjectItemCaseSensitive(g, "pub_qos"), pub) &&
                 number_is(cJSON_GetObjectItemCaseSensitive(g, "sub_qos"), sub);
            if (!ok)
                exp_errf(why, whylen, "results.csv line %zu is not results.json's QoS pair", i + 2);
        }
    }
    exp_csv_table_free(&t);
    return ok;
}

/* results.json: replication r alone of the config config_json. */
static bool json_is_job(const cJSON *root, uint32_t r, const char *config_json, char *why,
                        size_t whylen)
{
    const char *bad = NULL;
    if (!cJSON_IsObject(root))
        bad = "results.json is not valid JSON";
    else if (!number_is(cJSON_GetObjectItemCaseSensitive(root, "replications"), 1) ||
             !number_is(cJSON_GetObjectItemCaseSensitive(root, "rep_index"), r))
        bad = "results.json is not the run of this replication alone";
    else if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "groups")))
        bad = "results.json has no \"groups\"";
    else if (config_json) {
        cJSON *want = cJSON_Parse(config_json);
        if (!exp_sweep_json_equal(cJSON_GetObjectItemCaseSensitive(root, "config"), want))
            bad = "results.json holds another config than this point's";
        cJSON_Delete(want);
    }
    if (bad)
        exp_errf(why, whylen, "%s", bad);
    return !bad;
}

exp_job_state exp_jobs_check(const char *jobs_dir, size_t p, uint32_t r, const char *config_json,
                             char *why, size_t whylen)
{
    char *dir = exp_jobs_path(jobs_dir, p, r, NULL);
    struct stat st;
    bool exists = lstat(dir, &st) == 0;
    free(dir);
    if (!exists) return EXP_JOB_MISSING;
    char *json = read_job_file(jobs_dir, p, r, "results.json", false, why, whylen);
    char *csv = json ? read_job_file(jobs_dir, p, r, "results.csv", true, why, whylen) : NULL;
    char *cdf = csv ? read_job_file(jobs_dir, p, r, "latency_cdf.csv", true, why, whylen) : NULL;
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    bool ok = cdf && json_is_job(root, r, config_json, why, whylen) &&
              csv_matches_groups(csv, cJSON_GetObjectItemCaseSensitive(root, "groups"), why, whylen);
    if (ok) {
        exp_csv_table t;
        ok = exp_csv_parse(cdf, &t) == 0 && exp_csv_col(&t.head, "cdf") >= 0;
        if (!ok)
            exp_errf(why, whylen, "latency_cdf.csv lacks its header");
        else
            ok = rows_complete(&t, "latency_cdf.csv", why, whylen);
        exp_csv_table_free(&t);
    }
    cJSON_Delete(root);
    free(json);
    free(csv);
    free(cdf);
    return ok ? EXP_JOB_DONE : EXP_JOB_DAMAGED;
}

void exp_jobs_report(const exp_sweep *sw, size_t p, uint32_t r, const char *head, const char *tail)
{
    char *label = exp_sweep_point_label(sw, p);
    fprintf(stderr, "mqttsim: %s: point %zu (%s), replication %u%s\n", head, p, label, (unsigned)r, tail);
    free(label);
}

void exp_jobs_check_point(const exp_sweep *sw, const char *jobs_dir, size_t p,
                          const char *config_json, const char *prefix, const char *tail,
                          exp_job_state *state, size_t *reported)
{
    for (uint32_t r = 0; r < exp_sweep_replications(sw); r++) {
        char why[256];
        state[r] = exp_jobs_check(jobs_dir, p, r, config_json, why, sizeof why);
        if (state[r] != EXP_JOB_DAMAGED) continue;
        if (*reported < 20) {
            char *name = exp_jobs_name(p, r);
            char *head = exp_strf("%sjob %s in %s is damaged (%s)", prefix, name, jobs_dir, why);
            exp_jobs_report(sw, p, r, head, tail);
            free(head);
            free(name);
        }
        ++*reported;
    }
}

void exp_jobs_remove_tmp(const char *jobs_dir)
{
    DIR *d = opendir(jobs_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        char *p = exp_strf("%s/%s", jobs_dir, e->d_name);
        exp_fs_rm_tree(p);
        free(p);
    }
    closedir(d);
}
