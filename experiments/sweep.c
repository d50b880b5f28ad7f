/* Sweeps: a grid of experiments run by worker processes, sharded, merged, plotted.
 *
 * Layout of an output directory OUT:
 *   OUT/sweep.json            the resolved sweep (base inlined); itself a sweep file
 *   OUT/jobs/pNNNN-rRR/       one finished job: results.json, results.csv, latency_cdf.csv
 *   OUT/jobs/.tmp-pNNNN-rRR/  a job being written; renamed when complete
 *   OUT/sweep.csv             one row per complete point and QoS pair
 *   OUT/latency_cdf.csv       the CDF of one run (cdf_point, replication 0)
 *   OUT/fig-NAME.png/.svg     the figures
 * A job directory is renamed into place only when complete, so an interrupted
 * sweep resumes by skipping them, and shards are merged by copying them. One
 * without results.csv (damaged by hand) counts as missing and is replaced. */
#include "experiments/sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "experiments/config.h"
#include "experiments/run.h"
#include "experiments/stats.h"

#define ERRLEN 1024

static const char *const FIGURES[] = {"delivery", "duplicates", "latency", "wire", "cdf"};
#define N_FIGURES (sizeof FIGURES / sizeof FIGURES[0])

struct exp_sweep {
    char *origin;       /* the sweep file's name, for messages */
    char *dir;          /* its directory: relative base paths start here */
    char *name;
    char *base_path;    /* "base", resolved against dir; or NULL */
    char *exp_text;     /* inline "experiment" as JSON text; or NULL */
    char *seed_set;     /* "seed=N" when the sweep overrides the seed */
    uint32_t reps;
    bool reps_given;
    size_t n_keys;
    char **keys;
    size_t *n_vals;
    char ***vals;       /* compact JSON per key and value */
    size_t n_points;
    unsigned figures;   /* bit i: FIGURES[i] */
    size_t cdf_point;
    char *resolved;
};

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) abort();
    return d;
}

static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    if (!s) abort();
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *read_text(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return NULL; }
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

/* Writes path through a temporary file and rename, so readers never see a
 * half-written file. Returns 0 or -1 (errno set). */
static int write_atomic(const char *path, const char *data, size_t len)
{
    char *tmp = xprintf("%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        size_t put = fwrite(data, 1, len, f);
        int closed = fclose(f);
        if (put == len && closed == 0 && rename(tmp, path) == 0) rc = 0;
        else unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *text = read_text(from, &len);
    if (!text) return -1;
    FILE *f = fopen(to, "wb");
    int rc = -1;
    if (f) {
        size_t put = fwrite(text, 1, len, f);
        if (fclose(f) == 0 && put == len) rc = 0;
    }
    free(text);
    return rc;
}

static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) { free(p); return -1; }
        *s = '/';
    }
    int rc = (mkdir(p, 0777) != 0 && errno != EEXIST) ? -1 : 0;
    free(p);
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Removes a directory and everything below it (no symlinks are followed), or
 * the file or symlink at path. Nothing happens when path does not exist. */
static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) { unlink(path); return; }
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *sub = xprintf("%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(sub);
            else unlink(sub);
            free(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- parsing ---------------------------------------------------------- */

void exp_sweep_free(exp_sweep *sw)
{
    if (!sw) return;
    for (size_t k = 0; k < sw->n_keys; k++) {
        for (size_t v = 0; sw->vals && sw->vals[k] && v < sw->n_vals[k]; v++) free(sw->vals[k][v]);
        if (sw->vals) free(sw->vals[k]);
        free(sw->keys[k]);
    }
    free(sw->keys);
    free(sw->vals);
    free(sw->n_vals);
    free(sw->origin);
    free(sw->dir);
    free(sw->name);
    free(sw->base_path);
    free(sw->exp_text);
    free(sw->seed_set);
    free(sw->resolved);
    free(sw);
}

const char *exp_sweep_name(const exp_sweep *sw) { return sw->name; }
size_t exp_sweep_points(const exp_sweep *sw) { return sw->n_points; }
uint32_t exp_sweep_replications(const exp_sweep *sw) { return sw->reps; }
size_t exp_sweep_keys(const exp_sweep *sw) { return sw->n_keys; }
const char *exp_sweep_key(const exp_sweep *sw, size_t key) { return sw->keys[key]; }
size_t exp_sweep_cdf_point(const exp_sweep *sw) { return sw->cdf_point; }
const char *exp_sweep_resolved(const exp_sweep *sw) { return sw->resolved; }

/* Mixed-radix decoding of the grid: the last key varies fastest. */
const char *exp_sweep_value(const exp_sweep *sw, size_t p, size_t key)
{
    size_t i = p - 1;
    for (size_t k = sw->n_keys; k-- > key + 1;) i /= sw->n_vals[k];
    return sw->vals[key][i % sw->n_vals[key]];
}

int exp_sweep_shard_of(size_t p, int shard_n)
{
    return (int)((p - 1) % (size_t)shard_n) + 1;
}

/* "key=value, key=value" for messages. */
static char *point_label(const exp_sweep *sw, size_t p)
{
    char *s = xstrdup("");
    for (size_t k = 0; k < sw->n_keys; k++) {
        char *t = xprintf("%s%s%s=%s", s, k ? ", " : "", sw->keys[k], exp_sweep_value(sw, p, k));
        free(s);
        s = t;
    }
    return s;
}

/* The --set strings for point p: the sweep's overrides, then the point's values.
 * Returns the count; the strings are malloc'd into sets[] (room for n_keys + 2). */
static size_t point_sets(const exp_sweep *sw, size_t p, char **sets)
{
    size_t n = 0;
    if (sw->seed_set) sets[n++] = xstrdup(sw->seed_set);
    if (sw->reps_given) sets[n++] = xprintf("replications=%u", (unsigned)sw->reps);
    for (size_t k = 0; p && k < sw->n_keys; k++)
        sets[n++] = xprintf("%s=%s", sw->keys[k], exp_sweep_value(sw, p, k));
    return n;
}

static void free_sets(char **sets, size_t n)
{
    for (size_t i = 0; i < n; i++) free(sets[i]);
}

/* Loads the experiment of point p (p == 0: the base with the sweep's overrides only). */
static int load_point(const exp_sweep *sw, size_t p, exp_config *cfg, char *err, size_t errlen)
{
    char **sets = calloc(sw->n_keys + 2, sizeof *sets);
    if (!sets) abort();
    size_t n = point_sets(sw, p, sets);
    int rc;
    memset(cfg, 0, sizeof *cfg);
    if (sw->base_path) {
        rc = exp_config_load(sw->base_path, sets, n, cfg, err, errlen);
    } else {
        /* The sweep file is the origin: messages name it, and an inline
         * experiment without a name takes the sweep's file name. */
        rc = exp_config_load_text(sw->exp_text, sw->origin, sw->dir, sets, n, cfg, err, errlen);
    }
    free_sets(sets, n);
    free(sets);
    return rc;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_uint(const cJSON *v, double max)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= max &&
           v->valuedouble == floor(v->valuedouble);
}

/* Builds the resolved sweep text: the sweep with its base experiment inlined
 * (as the base file's JSON, re-printed) and its replications made explicit.
 * It is a sweep file itself, running the same jobs: merge reads it, and
 * `mqttsim sweep OUT/sweep.json --out OUT` resumes from it. The base is kept
 * as written rather than as the loader's resolved config, because that form
 * has the top-level link copied into every client, where a vary of link.* would
 * no longer reach it. Returns NULL when the base file cannot be read or parsed. */
static char *resolve(const exp_sweep *sw, const cJSON *root)
{
    cJSON *exp = NULL;
    if (sw->exp_text) {
        exp = cJSON_Parse(sw->exp_text);
    } else {
        char *text = read_text(sw->base_path, NULL);
        if (text) exp = cJSON_Parse(text);
        free(text);
    }
    if (!exp) return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "name", sw->name);
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed) cJSON_AddItemToObject(out, "seed", cJSON_Duplicate(seed, 1));
    cJSON_AddNumberToObject(out, "replications", sw->reps);
    cJSON_AddItemToObject(out, "experiment", exp);
    cJSON_AddItemToObject(out, "vary", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, "vary"), 1));
    cJSON *figs = cJSON_CreateArray();
    for (size_t i = 0; i < N_FIGURES; i++)
        if (sw->figures & (1u << i)) cJSON_AddItemToArray(figs, cJSON_CreateString(FIGURES[i]));
    cJSON_AddItemToObject(out, "figures", figs);
    const cJSON *cdf = cJSON_GetObjectItemCaseSensitive(root, "cdf_point");
    if (cdf) cJSON_AddItemToObject(out, "cdf_point", cJSON_Duplicate(cdf, 1));
    char *text = cJSON_Print(out);
    cJSON_Delete(out);
    char *withnl = xprintf("%s\n", text);
    cJSON_free(text);
    return withnl;
}

/* The canonical form of a key path, for comparing paths: an array index is
 * written without leading zeros ("clients.01.qos" -> "clients.1.qos"), as the
 * config loader reads it. Returns a malloc'd string. Cost: O(length). */
static char *norm_path(const char *key)
{
    size_t n = strlen(key);
    char *out = malloc(n + 1), *o = out;
    if (!out) abort();
    const char *seg = key;
    for (;;) {
        size_t len = strcspn(seg, ".");
        size_t digits = strspn(seg, "0123456789");
        size_t skip = 0;
        if (len > 0 && digits == len)
            while (skip + 1 < len && seg[skip] == '0') skip++;
        memcpy(o, seg + skip, len - skip);
        o += len - skip;
        if (!seg[len]) break;
        *o++ = '.';
        seg += len + 1;
    }
    *o = '\0';
    return out;
}

/* Whether normalised path a is b or a path prefix of it ("link.loss" of
 * "link.loss.p", but not "link.lo" of "link.loss"). */
static bool path_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '.');
}

/* Two vary keys that name the same config key, or one inside the other, would
 * both set it at every point: the later --set wins, and sweep.csv would label
 * rows with values that never ran. Returns 0, or -1 with a message naming the
 * sweep file and both keys. Cost: O(keys^2 x key length). */
static int check_overlap(const exp_sweep *sw, char *err, size_t errlen)
{
    char **norm = calloc(sw->n_keys, sizeof *norm);
    if (!norm) abort();
    int rc = 0;
    for (size_t k = 0; k < sw->n_keys; k++) norm[k] = norm_path(sw->keys[k]);
    for (size_t a = 0; a < sw->n_keys && rc == 0; a++) {
        for (size_t b = a + 1; b < sw->n_keys && rc == 0; b++) {
            if (!strcmp(sw->keys[a], sw->keys[b]))
                rc = fail(err, errlen, "%s: vary: key \"%s\" appears twice", sw->origin, sw->keys[a]);
            else if (!strcmp(norm[a], norm[b]))
                rc = fail(err, errlen, "%s: vary: keys \"%s\" and \"%s\" name the same config key",
                          sw->origin, sw->keys[a], sw->keys[b]);
            else if (path_covers(norm[a], norm[b]) || path_covers(norm[b], norm[a])) {
                bool a_outer = path_covers(norm[a], norm[b]);
                rc = fail(err, errlen, "%s: vary: keys \"%s\" and \"%s\" overlap: \"%s\" contains \"%s\"; "
                          "vary a key or the keys inside it, not both", sw->origin, sw->keys[a], sw->keys[b],
                          sw->keys[a_outer ? a : b], sw->keys[a_outer ? b : a]);
            }
        }
    }
    for (size_t k = 0; k < sw->n_keys; k++) free(norm[k]);
    free(norm);
    return rc;
}

/* Whether two JSON values are equal as values: object members in any order,
 * names compared case-sensitively, arrays in order, numbers exactly. Not
 * cJSON_Compare, which takes numbers within a relative DBL_EPSILON as equal
 * and so would call the seeds 9007199254740990 and ...991 one sweep. A NULL is
 * equal to nothing. Cost: O(size x object width). */
static bool json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b || (a->type & 0xff) != (b->type & 0xff)) return false;
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a)) return !strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!json_equal(x, y)) return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        /* Both ways round, so that a repeated name cannot hide a difference. */
        for (const cJSON *x = a->child; x; x = x->next)
            if (!json_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string))) return false;
        for (const cJSON *y = b->child; y; y = y->next)
            if (!json_equal(y, cJSON_GetObjectItemCaseSensitive(a, y->string))) return false;
        return true;
    }
    return true;   /* null, true, false: the type is the value */
}

/* Whether JSON text equals the parsed value want, as json_equal. */
static bool json_text_equals(const char *text, const cJSON *want)
{
    cJSON *v = cJSON_Parse(text);
    bool eq = json_equal(v, want);
    cJSON_Delete(v);
    return eq;
}

/* Whether two "vary" objects make the same grid: the same keys (as paths) in
 * the same order, since the order numbers the points, with equal value lists. */
static bool same_vary(const cJSON *a, const cJSON *b)
{
    if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) return false;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next) {
        char *nx = norm_path(x->string), *ny = norm_path(y->string);
        bool eq = !strcmp(nx, ny) && json_equal(x, y);
        free(nx);
        free(ny);
        if (!eq) return false;
    }
    return !x && !y;
}

/* Whether two resolved sweeps (sweep.json texts) run the same jobs, so that
 * the job results of one belong to the other. The JSON is compared parsed,
 * not as text (json_equal), except that vary's key order matters. "figures"
 * is left out: it changes no job and no result file, only what is drawn.
 * Unparsable text is never the same sweep.
 * Cost: parses both texts once. */
static bool same_sweep(const char *a_text, const char *b_text)
{
    cJSON *a = cJSON_Parse(a_text), *b = cJSON_Parse(b_text);
    bool same = cJSON_IsObject(a) && cJSON_IsObject(b);
    if (same) {
        cJSON_DeleteItemFromObjectCaseSensitive(a, "figures");
        cJSON_DeleteItemFromObjectCaseSensitive(b, "figures");
        cJSON *va = cJSON_DetachItemFromObjectCaseSensitive(a, "vary");
        cJSON *vb = cJSON_DetachItemFromObjectCaseSensitive(b, "vary");
        same = same_vary(va, vb) && json_equal(a, b);
        cJSON_Delete(va);
        cJSON_Delete(vb);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

static int parse_vary(exp_sweep *sw, const cJSON *vary, bool validate, char *err, size_t errlen)
{
    if (!cJSON_IsObject(vary) || !vary->child)
        return fail(err, errlen, "%s: \"vary\": expected an object of \"key.path\": [values...], with at least one key", sw->origin);
    size_t n = (size_t)cJSON_GetArraySize(vary);
    sw->keys = calloc(n, sizeof *sw->keys);
    sw->vals = calloc(n, sizeof *sw->vals);
    sw->n_vals = calloc(n, sizeof *sw->n_vals);
    if (!sw->keys || !sw->vals || !sw->n_vals) abort();
    sw->n_points = 1;
    for (const cJSON *e = vary->child; e; e = e->next) {
        const char *key = e->string;
        if (!strcmp(key, "replications"))
            return fail(err, errlen, "%s: vary: \"replications\" cannot vary; set the sweep's \"replications\"", sw->origin);
        if (validate) {
            char cerr[ERRLEN];
            if (exp_config_check_path(key, cerr, sizeof cerr) != 0)
                return fail(err, errlen, "%s: vary: key \"%s\" is not a config key: %s", sw->origin, key, cerr);
        }
        if (!cJSON_IsArray(e) || !e->child)
            return fail(err, errlen, "%s: vary.%s: expected a non-empty array of values", sw->origin, key);
        size_t k = sw->n_keys++;
        sw->keys[k] = xstrdup(key);
        sw->n_vals[k] = (size_t)cJSON_GetArraySize(e);
        sw->vals[k] = calloc(sw->n_vals[k], sizeof(char *));
        if (!sw->vals[k]) abort();
        size_t v = 0;
        for (const cJSON *x = e->child; x; x = x->next) {
            char *s = cJSON_PrintUnformatted(x);
            sw->vals[k][v++] = xstrdup(s);
            cJSON_free(s);
        }
        if (sw->n_points > SIZE_MAX / 2 / sw->n_vals[k])
            return fail(err, errlen, "%s: vary: the grid is too large", sw->origin);
        sw->n_points *= sw->n_vals[k];
    }
    return check_overlap(sw, err, errlen);
}

/* cdf_point names a value for some vary keys; the point is the first of the
 * grid that has them. As the grid is mixed-radix with every key's index
 * counting up, that point takes, for each named key, the first index whose
 * value matches (every entry naming that key, should the object repeat one)
 * and index 0 for the other keys. Cost: O(entries x values) comparisons. */
static int parse_cdf_point(exp_sweep *sw, const cJSON *cdf, char *err, size_t errlen)
{
    sw->cdf_point = 1;
    if (!cdf) return 0;
    if (!cJSON_IsObject(cdf))
        return fail(err, errlen, "%s: \"cdf_point\": expected an object {\"vary.key\": value}", sw->origin);
    size_t n = (size_t)cJSON_GetArraySize(cdf);
    size_t *key_of = calloc(n + 1, sizeof *key_of);
    if (!key_of) abort();
    int rc = 0;
    size_t i = 0;
    for (const cJSON *e = cdf->child; e && rc == 0; e = e->next, i++) {
        char *want = norm_path(e->string);
        size_t k = 0;
        for (; k < sw->n_keys; k++) {
            char *have = norm_path(sw->keys[k]);
            bool same = !strcmp(have, want);
            free(have);
            if (same) break;
        }
        free(want);
        key_of[i] = k;
        if (k == sw->n_keys)
            rc = fail(err, errlen, "%s: cdf_point: \"%s\" is not a vary key", sw->origin, e->string);
    }
    size_t p = 0, stride = 1;
    for (size_t k = sw->n_keys; rc == 0 && k-- > 0;) {
        size_t v = 0;
        for (; v < sw->n_vals[k]; v++) {
            bool all = true;
            i = 0;
            for (const cJSON *e = cdf->child; e && all; e = e->next, i++)
                if (key_of[i] == k) all = json_text_equals(sw->vals[k][v], e);
            if (all) break;
        }
        if (v == sw->n_vals[k])
            rc = fail(err, errlen, "%s: cdf_point: no point of the grid has these values", sw->origin);
        p += v * stride;
        stride *= sw->n_vals[k];
    }
    if (rc == 0) sw->cdf_point = p + 1;
    free(key_of);
    return rc;
}

exp_sweep *exp_sweep_parse(const char *text, const char *origin, const char *base_dir,
                           bool validate, char *err, size_t errlen)
{
    exp_sweep *sw = calloc(1, sizeof *sw);
    if (!sw) abort();
    sw->origin = xstrdup(origin);
    sw->dir = xstrdup(base_dir && *base_dir ? base_dir : ".");
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    int rc = 0;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *c = text; at && c < at && *c; c++) line += *c == '\n';
        rc = fail(err, errlen, "%s:%d: not valid JSON", origin, line);
        goto out;
    }
    if (!cJSON_IsObject(root)) { rc = fail(err, errlen, "%s: expected a JSON object", origin); goto out; }
    static const char *const known[] = {"name", "seed", "base", "experiment", "vary",
                                        "replications", "figures", "cdf_point"};
    for (const cJSON *e = root->child; e; e = e->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], e->string)) i++;
        if (i == sizeof known / sizeof known[0]) {
            rc = fail(err, errlen, "%s: unknown key \"%s\" (expected one of: name, seed, base, "
                      "experiment, vary, replications, figures, cdf_point)", origin, e->string);
            goto out;
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "base");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "experiment");
    const cJSON *reps = cJSON_GetObjectItemCaseSensitive(root, "replications");
    const cJSON *figs = cJSON_GetObjectItemCaseSensitive(root, "figures");
    if (name) {
        if (!cJSON_IsString(name) || !*name->valuestring || strchr(name->valuestring, '/')) {
            rc = fail(err, errlen, "%s: \"name\": expected a non-empty string without '/'", origin);
            goto out;
        }
        sw->name = xstrdup(name->valuestring);
    }
    if (seed) {
        if (!is_uint(seed, 9007199254740992.0)) {
            rc = fail(err, errlen, "%s: \"seed\": expected a non-negative integer", origin);
            goto out;
        }
        sw->seed_set = xprintf("seed=%.0f", seed->valuedouble);
    }
    if (!!base == !!exp) {
        rc = fail(err, errlen, "%s: expected exactly one of \"base\" (a config file) or \"experiment\" (an inline config)", origin);
        goto out;
    }
    if (base) {
        if (!cJSON_IsString(base) || !*base->valuestring) {
            rc = fail(err, errlen, "%s: \"base\": expected a config file path", origin);
            goto out;
        }
        sw->base_path = base->valuestring[0] == '/' ? xstrdup(base->valuestring)
                                                    : xprintf("%s/%s", sw->dir, base->valuestring);
    } else {
        if (!cJSON_IsObject(exp)) {
            rc = fail(err, errlen, "%s: \"experiment\": expected a config object", origin);
            goto out;
        }
        char *s = cJSON_PrintUnformatted(exp);
        sw->exp_text = xstrdup(s);
        cJSON_free(s);
    }
    if (reps) {
        if (!is_uint(reps, 1e6) || reps->valuedouble < 1) {
            rc = fail(err, errlen, "%s: \"replications\": expected an integer from 1 to 1000000", origin);
            goto out;
        }
        sw->reps = (uint32_t)reps->valuedouble;
        sw->reps_given = true;
    }
    if (figs) {
        if (!cJSON_IsArray(figs)) {
            rc = fail(err, errlen, "%s: \"figures\": expected a list of names from: delivery, duplicates, latency, wire, cdf", origin);
            goto out;
        }
        for (const cJSON *f = figs->child; f; f = f->next) {
            size_t i = 0;
            while (cJSON_IsString(f) && i < N_FIGURES && strcmp(FIGURES[i], f->valuestring)) i++;
            if (!cJSON_IsString(f) || i == N_FIGURES) {
                char *s = cJSON_PrintUnformatted(f);
                rc = fail(err, errlen, "%s: \"figures\": unknown figure %s (expected one of: delivery, duplicates, latency, wire, cdf)", origin, s);
                cJSON_free(s);
                goto out;
            }
            sw->figures |= 1u << i;
        }
    }
    if ((rc = parse_vary(sw, cJSON_GetObjectItemCaseSensitive(root, "vary"), validate, err, errlen))) goto out;
    if ((rc = parse_cdf_point(sw, cJSON_GetObjectItemCaseSensitive(root, "cdf_point"), err, errlen))) goto out;

    if (!sw->name) {
        /* No "name": the base name of the sweep file without .json. */
        const char *b = strrchr(origin, '/');
        b = b ? b + 1 : origin;
        size_t n = strlen(b);
        if (n > 5 && !strcmp(b + n - 5, ".json")) n -= 5;
        sw->name = n ? strndup(b, n) : xstrdup("sweep");
        if (!sw->name) abort();
    }
    if (validate) {
        char cerr[ERRLEN];
        exp_config cfg;
        if (load_point(sw, 0, &cfg, cerr, sizeof cerr) != 0) {
            rc = fail(err, errlen, "%s: base experiment: %s", origin, cerr);
            goto out;
        }
        if (!sw->reps_given) sw->reps = cfg.replications ? cfg.replications : 1;
        exp_config_free(&cfg);
        if (!(sw->resolved = resolve(sw, root))) {
            rc = fail(err, errlen, "%s: cannot read the base experiment %s", origin, sw->base_path);
            goto out;
        }
        for (size_t p = 1; p <= sw->n_points; p++) {
            if (load_point(sw, p, &cfg, cerr, sizeof cerr) != 0) {
                char *label = point_label(sw, p);
                rc = fail(err, errlen, "%s: point %zu of %zu (%s): %s", origin, p, sw->n_points, label, cerr);
                free(label);
                goto out;
            }
            exp_config_free(&cfg);
        }
    } else if (!sw->reps_given) {
        /* A recorded sweep.json always names its replications. */
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(exp, "replications");
        sw->reps = is_uint(r, 1e6) && r->valuedouble >= 1 ? (uint32_t)r->valuedouble : 1;
    }
out:
    cJSON_Delete(root);
    if (rc) { exp_sweep_free(sw); return NULL; }
    return sw;
}

exp_sweep *exp_sweep_load(const char *path, bool validate, char *err, size_t errlen)
{
    char *text = read_text(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir ? 1 : 0] = '\0';
    else strcpy(dir, ".");
    exp_sweep *sw = exp_sweep_parse(text, path, dir, validate, err, errlen);
    free(text);
    free(dir);
    return sw;
}

/* ---- aggregation: job results.csv files -> sweep.csv ------------------- */

typedef struct {
    size_t n;
    char **f;
} csv_row;

/* Splits one CSV line (RFC 4180 quoting) into malloc'd fields; consumes the
 * line ending. Returns the next line, or NULL at the end of the text. */
static const char *csv_line(const char *s, csv_row *row)
{
    row->n = 0;
    row->f = NULL;
    if (!*s) return NULL;
    size_t cap = 0;
    for (;;) {
        size_t len = 0, fcap = 16;
        char *field = malloc(fcap);
        if (!field) abort();
        bool quoted = *s == '"';
        if (quoted) s++;
        while (*s) {
            if (quoted && *s == '"') {
                if (s[1] == '"') s++;
                else { s++; quoted = false; continue; }
            } else if (!quoted && (*s == ',' || *s == '\n' || *s == '\r')) {
                break;
            }
            if (len + 1 >= fcap) { fcap *= 2; field = realloc(field, fcap); if (!field) abort(); }
            field[len++] = *s++;
        }
        field[len] = '\0';
        if (row->n == cap) {
            cap = cap ? cap * 2 : 32;
            row->f = realloc(row->f, cap * sizeof *row->f);
            if (!row->f) abort();
        }
        row->f[row->n++] = field;
        if (*s == ',') { s++; continue; }
        if (*s == '\r') s++;
        if (*s == '\n') s++;
        return s;
    }
}

static void csv_row_free(csv_row *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->f[i]);
    free(r->f);
    r->f = NULL;
    r->n = 0;
}

typedef struct {
    csv_row head;
    size_t n_rows;
    csv_row *rows;
} csv_table;

static void csv_table_free(csv_table *t)
{
    csv_row_free(&t->head);
    for (size_t i = 0; i < t->n_rows; i++) csv_row_free(&t->rows[i]);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int csv_read(const char *path, csv_table *t)
{
    memset(t, 0, sizeof *t);
    char *text = read_text(path, NULL);
    if (!text) return -1;
    const char *s = csv_line(text, &t->head);
    csv_row r;
    while (s && (s = csv_line(s, &r)) != NULL) {
        if (r.n == 1 && !*r.f[0]) { csv_row_free(&r); continue; }   /* blank line */
        t->rows = realloc(t->rows, (t->n_rows + 1) * sizeof *t->rows);
        if (!t->rows) abort();
        t->rows[t->n_rows++] = r;
    }
    free(text);
    return t->head.n ? 0 : -1;
}

static long csv_col(const csv_row *head, const char *name)
{
    for (size_t i = 0; i < head->n; i++)
        if (!strcmp(head->f[i], name)) return (long)i;
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Writes a CSV cell, quoted when it holds a separator, quote or line break. */
static void put_cell(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, out); return; }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* Numbers are printed with 12 significant digits: identical doubles give
 * identical bytes, and the rounding hides the last-bit noise of a mean. */
static void put_num(FILE *out, double x)
{
    if (isnan(x)) return;
    if (x == 0) x = 0;   /* no "-0" */
    fprintf(out, "%.12g", x);
}

static char *job_name(size_t p, uint32_t r)
{
    return xprintf("p%04zu-r%02u", p, (unsigned)r);
}

static char *job_path(const char *jobs_dir, size_t p, uint32_t r, const char *file)
{
    char *n = job_name(p, r);
    char *s = file ? xprintf("%s/%s/%s", jobs_dir, n, file) : xprintf("%s/%s", jobs_dir, n);
    free(n);
    return s;
}

static bool job_done(const char *jobs_dir, size_t p, uint32_t r)
{
    char *f = job_path(jobs_dir, p, r, "results.csv");
    bool ok = is_file(f);
    free(f);
    return ok;
}

typedef struct { long pub, sub; } qos_pair;

static int pair_cmp(const void *a, const void *b)
{
    const qos_pair *x = a, *y = b;
    if (x->pub != y->pub) return x->pub < y->pub ? -1 : 1;
    if (x->sub != y->sub) return x->sub < y->sub ? -1 : 1;
    return 0;
}

/* The metric columns: every column of results.csv except the identifying ones
 * and the per-run confidence intervals (recomputed across replications). */
static bool is_metric(const char *name)
{
    static const char *const ids[] = {"name", "seed", "replications", "pub_qos", "sub_qos", "qos"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!strcmp(name, ids[i])) return false;
    return !ends_with(name, "_ci_lo") && !ends_with(name, "_ci_hi");
}

static bool has_ci(const csv_row *head, const char *metric)
{
    char *lo = xprintf("%s_ci_lo", metric);
    bool yes = csv_col(head, lo) >= 0;
    free(lo);
    return yes;
}

static void write_point(const exp_sweep *sw, size_t p, const csv_table *reps, const csv_row *head, FILE *out)
{
    uint32_t R = sw->reps;
    /* The QoS pairs present in any replication, in (pub_qos, sub_qos) order. */
    size_t n_pairs = 0, cap = 0;
    qos_pair *pairs = NULL;
    for (uint32_t r = 0; r < R; r++) {
        long cp = csv_col(&reps[r].head, "pub_qos"), cs = csv_col(&reps[r].head, "sub_qos");
        for (size_t i = 0; cp >= 0 && cs >= 0 && i < reps[r].n_rows; i++) {
            const csv_row *row = &reps[r].rows[i];
            if ((size_t)cp >= row->n || (size_t)cs >= row->n) continue;
            qos_pair q = {strtol(row->f[cp], NULL, 10), strtol(row->f[cs], NULL, 10)};
            size_t j = 0;
            while (j < n_pairs && pair_cmp(&pairs[j], &q)) j++;
            if (j < n_pairs) continue;
            if (n_pairs == cap) {
                cap = cap ? 2 * cap : 8;
                pairs = realloc(pairs, cap * sizeof *pairs);
                if (!pairs) abort();
            }
            pairs[n_pairs++] = q;
        }
    }
    qsort(pairs, n_pairs, sizeof *pairs, pair_cmp);

    const csv_row **rowof = calloc(R, sizeof *rowof);
    double *x = calloc(R, sizeof *x);
    if (!rowof || !x) abort();
    for (size_t q = 0; q < n_pairs; q++) {
        for (uint32_t r = 0; r < R; r++) {
            rowof[r] = NULL;
            long cp = csv_col(&reps[r].head, "pub_qos"), cs = csv_col(&reps[r].head, "sub_qos");
            for (size_t i = 0; cp >= 0 && cs >= 0 && i < reps[r].n_rows; i++) {
                const csv_row *row = &reps[r].rows[i];
                if ((size_t)cp < row->n && (size_t)cs < row->n &&
                    strtol(row->f[cp], NULL, 10) == pairs[q].pub && strtol(row->f[cs], NULL, 10) == pairs[q].sub) {
                    rowof[r] = row;
                    break;
                }
            }
        }
        for (size_t k = 0; k < sw->n_keys; k++) {
            const char *v = exp_sweep_value(sw, p, k);
            cJSON *j = cJSON_Parse(v);
            put_cell(out, cJSON_IsString(j) ? j->valuestring : v);
            cJSON_Delete(j);
            fputc(',', out);
        }
        const char *qos = "";
        for (uint32_t r = 0; r < R && !*qos; r++) {
            long c = csv_col(&reps[r].head, "qos");
            if (rowof[r] && c >= 0 && (size_t)c < rowof[r]->n) qos = rowof[r]->f[c];
        }
        fprintf(out, "%u,%ld,%ld,", (unsigned)R, pairs[q].pub, pairs[q].sub);
        put_cell(out, qos);
        /* pass 0: means; pass 1: intervals of the metrics that carry one. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t m = 0; m < head->n; m++) {
                const char *name = head->f[m];
                if (!is_metric(name) || (pass == 1 && !has_ci(head, name))) continue;
                size_t n = 0;
                for (uint32_t r = 0; r < R; r++) {
                    long c = csv_col(&reps[r].head, name);
                    if (!rowof[r] || c < 0 || (size_t)c >= rowof[r]->n) continue;
                    const char *cell = rowof[r]->f[c];
                    char *end;
                    double v = strtod(cell, &end);
                    if (end != cell && *end == '\0' && !isnan(v)) x[n++] = v;
                }
                double mean = NAN, lo = NAN, hi = NAN;
                exp_ci95(x, n, &mean, &lo, &hi);
                if (pass == 0) {
                    fputc(',', out);
                    put_num(out, mean);
                } else {
                    fputc(',', out);
                    put_num(out, lo);
                    fputc(',', out);
                    put_num(out, hi);
                }
            }
        }
        fputc('\n', out);
    }
    free(x);
    free(rowof);
    free(pairs);
}

/* The header line of sweep.csv: the vary keys, the identifying columns, then
 * the metric columns of results.csv (head; none when no point is complete)
 * and the intervals of those that carry one. */
static void put_header(const exp_sweep *sw, const csv_row *head, FILE *out)
{
    for (size_t k = 0; k < sw->n_keys; k++) {
        put_cell(out, sw->keys[k]);
        fputc(',', out);
    }
    fputs("replications,pub_qos,sub_qos,qos", out);
    for (size_t m = 0; m < head->n; m++)
        if (is_metric(head->f[m])) fprintf(out, ",%s", head->f[m]);
    for (size_t m = 0; m < head->n; m++)
        if (is_metric(head->f[m]) && has_ci(head, head->f[m]))
            fprintf(out, ",%s_ci_lo,%s_ci_hi", head->f[m], head->f[m]);
    fputc('\n', out);
}

int exp_sweep_write_csv(const exp_sweep *sw, const char *jobs_dir, FILE *out,
                        size_t *incomplete, char *err, size_t errlen)
{
    uint32_t R = sw->reps;
    csv_table *reps = calloc(R, sizeof *reps);
    if (!reps) abort();
    csv_row head = {0, NULL};   /* the column set, from the first complete point */
    size_t missing = 0;
    int rc = 0;
    for (size_t p = 1; p <= sw->n_points && rc == 0; p++) {
        uint32_t r = 0;
        while (r < R && job_done(jobs_dir, p, r)) r++;
        if (r < R) { missing++; continue; }
        for (r = 0; r < R && rc == 0; r++) {
            char *f = job_path(jobs_dir, p, r, "results.csv");
            if (csv_read(f, &reps[r]) != 0 || csv_col(&reps[r].head, "pub_qos") < 0 ||
                csv_col(&reps[r].head, "sub_qos") < 0)
                rc = fail(err, errlen, "%s: cannot read, or lacks the pub_qos and sub_qos columns", f);
            free(f);
        }
        if (rc == 0 && head.n == 0) {
            head.f = calloc(reps[0].head.n, sizeof *head.f);
            if (!head.f) abort();
            for (size_t i = 0; i < reps[0].head.n; i++) head.f[head.n++] = xstrdup(reps[0].head.f[i]);
            put_header(sw, &head, out);
        }
        if (rc == 0) write_point(sw, p, reps, &head, out);
        for (r = 0; r < R; r++) csv_table_free(&reps[r]);
    }
    if (rc == 0 && head.n == 0) put_header(sw, &head, out);
    csv_row_free(&head);
    free(reps);
    if (incomplete) *incomplete = missing;
    return rc;
}

/* ---- figures ----------------------------------------------------------- */

/* The directory of the gnuplot scripts: $MQTTSIM_PLOTS, else <exe dir>/../plots,
 * else ./plots. Returns a malloc'd path, or NULL when none holds them. */
static char *plots_dir(void)
{
    const char *env = getenv("MQTTSIM_PLOTS");
    if (env && *env) return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        char *d = xprintf("%s/../plots", exe);
        char *probe = xprintf("%s/delivery.gp", d);
        bool ok = is_file(probe);
        free(probe);
        if (ok) return d;
        free(d);
    }
    if (is_file("plots/delivery.gp")) return xstrdup("plots");
    return NULL;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path) return false;
    char *copy = xstrdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *f = xprintf("%s/%s", *d ? d : ".", prog);
        found = access(f, X_OK) == 0;
        free(f);
    }
    free(copy);
    return found;
}

/* gnuplot's single-quoted strings cannot hold a quote: replace it. */
static char *gp_quote(const char *s)
{
    char *q = xstrdup(s);
    for (char *c = q; *c; c++) if (*c == '\'') *c = '"';
    return q;
}

/* The x axis of the sweep figures: the first vary key whose values are all
 * numbers (so a loss sweep crossed with a categorical key plots against loss,
 * one line per category), else the first key (plotted as categories). */
static size_t x_key(const exp_sweep *sw)
{
    for (size_t k = 0; k < sw->n_keys; k++) {
        size_t v = 0;
        while (v < sw->n_vals[k]) {
            cJSON *j = cJSON_Parse(sw->vals[k][v]);
            bool num = cJSON_IsNumber(j);
            cJSON_Delete(j);
            if (!num) break;
            v++;
        }
        if (v == sw->n_vals[k]) return k;
    }
    return 0;
}

/* Draws the requested figures into out_dir (fig-NAME.png/.svg) when gnuplot
 * and the scripts are available; otherwise prints the commands that would.
 * Returns 0, or 1 when a figure failed. */
static int draw_figures(const exp_sweep *sw, const char *out_dir)
{
    if (!sw->figures) return 0;
    char *dir = plots_dir();
    bool can = dir && on_path("gnuplot");
    const char *shown = dir ? dir : "plots";
    if (!can)
        fprintf(stderr, "mqttsim: %s; to draw the figures later, run:\n",
                dir ? "gnuplot is not on PATH" : "the gnuplot scripts (plots/) were not found (set MQTTSIM_PLOTS)");
    int status = 0;
    char *label = point_label(sw, sw->cdf_point);
    for (size_t i = 0; i < N_FIGURES; i++) {
        if (!(sw->figures & (1u << i))) continue;
        bool cdf = !strcmp(FIGURES[i], "cdf");
        char *csv = xprintf("%s/%s", out_dir, cdf ? "latency_cdf.csv" : "sweep.csv");
        char *outp = xprintf("%s/fig-%s", out_dir, FIGURES[i]);
        char *script = xprintf("%s/%s.gp", shown, FIGURES[i]);
        char *qc = gp_quote(csv), *qo = gp_quote(outp), *qx = gp_quote(sw->keys[x_key(sw)]), *ql = gp_quote(label);
        char *expr = cdf ? xprintf("csv='%s'; out='%s'; point='%s, replication 0'", qc, qo, ql)
                         : xprintf("csv='%s'; out='%s'; x='%s'", qc, qo, qx);
        if (!can) {
            fprintf(stderr, "  gnuplot -e \"%s\" %s\n", expr, script);
        } else if (cdf && !is_file(csv)) {
            fprintf(stderr, "mqttsim: figure cdf: %s is missing (point %zu, replication 0 did not finish)\n", csv, sw->cdf_point);
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
                fprintf(stderr, "mqttsim: figure %s failed: gnuplot -e \"%s\" %s\n", FIGURES[i], expr, script);
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

/* Writes OUT/sweep.csv and OUT/latency_cdf.csv from OUT/jobs. Returns 0, or 1
 * on an error (reported). *incomplete receives the points lacking a job. */
static int finish(const exp_sweep *sw, const char *out_dir, size_t *incomplete)
{
    char *jobs = xprintf("%s/jobs", out_dir);
    char *csvp = xprintf("%s/sweep.csv", out_dir);
    char err[ERRLEN];
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) abort();
    int rc = exp_sweep_write_csv(sw, jobs, mem, incomplete, err, sizeof err);
    fclose(mem);
    if (rc) {
        fprintf(stderr, "mqttsim: %s\n", err);
        rc = 1;
    } else if (write_atomic(csvp, buf, len) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", csvp, strerror(errno));
        rc = 1;
    }
    free(buf);
    char *cdf_src = job_path(jobs, sw->cdf_point, 0, "latency_cdf.csv");
    if (rc == 0 && job_done(jobs, sw->cdf_point, 0) && is_file(cdf_src)) {
        char *dst = xprintf("%s/latency_cdf.csv", out_dir);
        char *text = read_text(cdf_src, &len);
        if (!text || write_atomic(dst, text, len) != 0) {
            fprintf(stderr, "mqttsim: cannot copy %s to %s\n", cdf_src, dst);
            rc = 1;
        }
        free(text);
        free(dst);
    }
    free(cdf_src);
    free(csvp);
    free(jobs);
    return rc;
}

/* ---- running ----------------------------------------------------------- */

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
 * point's config no longer loads). mask: the signal mask to restore. */
static void run_child(const exp_sweep *sw, size_t p, uint32_t r, const char *tmp, const char *final,
                      const sigset_t *mask)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    close(wake_fd[0]);
    close(wake_fd[1]);
    char *log = xprintf("%s/stderr.log", tmp);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) { dup2(fd, 2); close(fd); }
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) { dup2(devnull, 1); close(devnull); }
    char err[ERRLEN];
    exp_config cfg;
    int rc;
    if (load_point(sw, p, &cfg, err, sizeof err) != 0) {
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
        char *kept = xprintf("%s/stderr.log", final);
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
    char *name = job_name(p, r);
    char *tmp = xprintf("%s/.tmp-%s", jobs_dir, name);
    char *final = xprintf("%s/%s", jobs_dir, name);
    free(name);
    rm_tree(tmp);
    /* A directory at final without results.csv is an incomplete job (its
     * results.csv deleted by hand, say): the rename onto it would fail on
     * every run. The caller runs only such jobs; a complete one is kept. */
    if (!job_done(jobs_dir, p, r)) rm_tree(final);
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
    pid_t pid = fork();
    if (pid == 0) run_child(sw, p, r, tmp, final, &prev);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    free(final);
    if (pid < 0) {
        fprintf(stderr, "mqttsim: fork: %s\n", strerror(errno));
        rm_tree(tmp);
        free(tmp);
        return -1;
    }
    *slot = (running_job){pid, p, r, tmp};
    return 0;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 359999) { snprintf(buf, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void draw_progress(size_t done, size_t total, size_t pts_done, size_t pts_total,
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
    fprintf(stderr, "\r[%s] %zu/%zu jobs, %zu/%zu points, %s elapsed, ETA %s\033[K",
            bar, done, total, pts_done, pts_total, el, eta);
    fflush(stderr);
}

/* Takes an fcntl lock on OUT/.lock so that two sweeps never write one directory. */
static int lock_out(const char *out_dir)
{
    char *p = xprintf("%s/.lock", out_dir);
    int fd = open(p, O_RDWR | O_CREAT, 0666);
    free(p);
    if (fd < 0) return -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) { close(fd); return -2; }
    return fd;
}

/* Writes OUT/sweep.json, or checks that it matches. Returns 0 or 2 (reported). */
static int record_sweep(const exp_sweep *sw, const char *path, const char *out_dir)
{
    char *rec = xprintf("%s/sweep.json", out_dir);
    char *jobs = xprintf("%s/jobs", out_dir);
    int rc = 0;
    char *old = read_text(rec, NULL);
    if (old) {
        /* The record is kept as first written, even when this sweep file
         * words the same sweep differently. */
        if (!same_sweep(old, sw->resolved)) {
            fprintf(stderr, "mqttsim: %s holds the results of a different sweep: %s differs from %s "
                    "(resolved); choose another --out, or delete %s to start afresh\n", out_dir, rec, path, out_dir);
            rc = 2;
        }
    } else if (is_dir(jobs)) {
        fprintf(stderr, "mqttsim: %s has job results but no sweep.json; choose another --out\n", out_dir);
        rc = 2;
    } else if (write_atomic(rec, sw->resolved, strlen(sw->resolved)) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", rec, strerror(errno));
        rc = 2;
    }
    free(old);
    free(jobs);
    free(rec);
    return rc;
}

/* Removes job directories left half-written by a run that was killed outright. */
static void remove_stale_tmp(const char *jobs)
{
    DIR *d = opendir(jobs);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        char *p = xprintf("%s/%s", jobs, e->d_name);
        rm_tree(p);
        free(p);
    }
    closedir(d);
}

static void report_failure(const exp_sweep *sw, const running_job *j, int st)
{
    char *label = point_label(sw, j->p);
    char why[64];
    if (WIFEXITED(st)) snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
    else snprintf(why, sizeof why, "killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    fprintf(stderr, "mqttsim: job p%04zu-r%02u failed (%s): point %zu (%s), replication %u\n",
            j->p, (unsigned)j->r, why, j->p, label, (unsigned)j->r);
    char *log = xprintf("%s/stderr.log", j->tmp);
    char *text = read_text(log, NULL);
    if (text && *text) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "    %s\n", line);
    }
    free(text);
    free(log);
    free(label);
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
    char *out = out_dir ? xstrdup(out_dir) : xprintf("results/%s", sw->name);
    char *jobs_dir = xprintf("%s/jobs", out);
    int status = 0, lock = -1;
    running_job *run = NULL;
    size_t *todo = NULL;
    if (mkdir_p(out) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", out, strerror(errno));
        status = 2;
        goto done;
    }
    if ((lock = lock_out(out)) < 0) {
        fprintf(stderr, lock == -2 ? "mqttsim: another sweep is writing to %s\n"
                                   : "mqttsim: cannot lock %s\n", out);
        lock = -1;
        status = 2;
        goto done;
    }
    if ((status = record_sweep(sw, path, out)) != 0) goto done;
    if (mkdir_p(jobs_dir) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", jobs_dir, strerror(errno));
        status = 2;
        goto done;
    }
    remove_stale_tmp(jobs_dir);

    /* The job list: in grid order, this shard's points only, finished jobs skipped. */
    uint32_t R = sw->reps;
    size_t total = 0, skipped = 0, n_todo = 0, pts_total = 0;
    todo = malloc(sw->n_points * R * sizeof *todo);
    size_t *left_in_point = calloc(sw->n_points + 1, sizeof *left_in_point);
    if (!todo || !left_in_point) abort();
    for (size_t p = 1; p <= sw->n_points; p++) {
        if (shard_n > 0 && exp_sweep_shard_of(p, shard_n) != shard_i) continue;
        pts_total++;
        for (uint32_t r = 0; r < R; r++) {
            total++;
            if (job_done(jobs_dir, p, r)) { skipped++; continue; }
            todo[n_todo++] = p * R + r;   /* decoded below */
            left_in_point[p]++;
        }
    }
    size_t pts_done = 0;
    for (size_t p = 1; p <= sw->n_points; p++)
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
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP}, old_int, old_term, old_chld;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGCHLD, &sa, &old_chld);

    bool tty = isatty(2);
    double t0 = now_s(), last_draw = -1;
    size_t next = 0, n_running = 0, ran = 0, failed = 0;
    bool killed = false;
    for (;;) {
        while (!stop_signal && n_running < (size_t)jobs && next < n_todo) {
            size_t p = todo[next] / R;
            uint32_t r = (uint32_t)(todo[next] % R);
            next++;
            size_t slot = 0;
            while (run[slot].pid) slot++;
            if (start_job(sw, jobs_dir, p, r, &run[slot]) != 0) { failed++; continue; }
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
            if (!stopped) {
                if (--left_in_point[j->p] == 0) pts_done++;
            }
            rm_tree(j->tmp);   /* a failed or killed job's leftovers; gone after a rename */
            free(j->tmp);
            memset(j, 0, sizeof *j);
            n_running--;
        }
        double t = now_s();
        if (tty && (t - last_draw >= 0.2 || n_running == 0)) {
            draw_progress(skipped + ran + failed, total, pts_done, pts_total, t - t0, ran + failed,
                          n_todo - (ran + failed));
            last_draw = t;
        }
    }
    if (tty) {
        draw_progress(skipped + ran + failed, total, pts_done, pts_total, now_s() - t0, ran + failed, 0);
        fputc('\n', stderr);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    close(wake_fd[0]);
    close(wake_fd[1]);
    wake_fd[0] = wake_fd[1] = -1;
    free(left_in_point);

    if (stop_signal) {
        char cmd[64] = "";
        if (shard_n > 0) snprintf(cmd, sizeof cmd, " --shard %d/%d", shard_i, shard_n);
        fprintf(stderr, "mqttsim: interrupted: %zu of %zu jobs are finished and kept in %s; "
                "to resume, run again: mqttsim sweep %s%s --out %s\n",
                skipped + ran, total, jobs_dir, path, cmd, out);
        status = 130;
        goto done;
    }
    size_t incomplete = 0;
    int frc = finish(sw, out, &incomplete);
    double secs = now_s() - t0;
    if (!tty)
        fprintf(stderr, "mqttsim: sweep %s: %zu jobs (%zu run, %zu already done, %zu failed) in %.1f s\n",
                sw->name, total, ran, skipped, failed, secs);
    if (failed) {
        fprintf(stderr, "mqttsim: %zu job(s) failed; sweep.csv leaves out their points. "
                "Run the same command again to retry them.\n", failed);
        status = 1;
    }
    if (frc) status = 1;
    if (frc == 0) printf("results: %s/sweep.csv\n", out);
    if (shard_n > 0) {
        if (frc == 0 && sw->figures)
            printf("shard %d/%d done; merge the shard directories (mqttsim merge DIR... --out DIR) to get the full sweep.csv and the figures\n",
                   shard_i, shard_n);
    } else if (frc == 0 && incomplete == 0) {
        if (draw_figures(sw, out)) status = 1;
    }
done:
    if (lock >= 0) close(lock);
    free(run);
    free(todo);
    free(jobs_dir);
    free(out);
    exp_sweep_free(sw);
    return status;
}

int exp_cmd_check_sweep(const char *path)
{
    char err[ERRLEN];
    exp_sweep *sw = exp_sweep_load(path, true, err, sizeof err);
    if (!sw) {
        fprintf(stderr, "mqttsim: %s\n", err);
        return 2;
    }
    printf("%s: sweep \"%s\" is valid\n", path, sw->name);
    printf("  points: %zu (", sw->n_points);
    for (size_t k = 0; k < sw->n_keys; k++)
        printf("%s%s: %zu value%s", k ? " x " : "", sw->keys[k], sw->n_vals[k], sw->n_vals[k] == 1 ? "" : "s");
    printf(")\n  replications: %u\n  jobs: %zu\n", (unsigned)sw->reps, sw->n_points * sw->reps);
    printf("  figures:");
    if (!sw->figures) printf(" none");
    for (size_t i = 0; i < N_FIGURES; i++)
        if (sw->figures & (1u << i)) printf(" %s", FIGURES[i]);
    printf("\n  output: results/%s (default)\n", sw->name);
    exp_sweep_free(sw);
    return 0;
}

/* ---- merge ------------------------------------------------------------- */

/* Copies a finished job directory into jobs_dir through a temporary name,
 * replacing an incomplete one (a directory without results.csv) there; the
 * caller copies only jobs that jobs_dir lacks. */
static int copy_job(const char *from, const char *jobs_dir, const char *name)
{
    char *tmp = xprintf("%s/.tmp-%s", jobs_dir, name);
    char *final = xprintf("%s/%s", jobs_dir, name);
    char *final_csv = xprintf("%s/results.csv", final);
    rm_tree(tmp);
    if (!is_file(final_csv)) rm_tree(final);
    free(final_csv);
    int rc = mkdir(tmp, 0777);
    DIR *d = rc == 0 ? opendir(from) : NULL;
    if (!d) rc = -1;
    struct dirent *e;
    while (d && rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *src = xprintf("%s/%s", from, e->d_name), *dst = xprintf("%s/%s", tmp, e->d_name);
        if (is_file(src)) rc = copy_file(src, dst);
        free(src);
        free(dst);
    }
    if (d) closedir(d);
    if (rc == 0) rc = rename(tmp, final);
    if (rc) rm_tree(tmp);
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
    char *rec = xprintf("%s/sweep.json", dirs[0]);
    char *ref = read_text(rec, NULL);
    if (!ref) {
        fprintf(stderr, "mqttsim: merge: cannot read %s: is %s the output of a sweep?\n", rec, dirs[0]);
        free(rec);
        return 2;
    }
    int status = 0;
    for (int i = 1; i < n && status == 0; i++) {
        char *p = xprintf("%s/sweep.json", dirs[i]);
        char *t = read_text(p, NULL);
        if (!t) {
            fprintf(stderr, "mqttsim: merge: cannot read %s: is %s the output of a sweep?\n", p, dirs[i]);
            status = 2;
        } else if (!same_sweep(t, ref)) {
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
    /* sweep.json is replayed as written; its "name" is already explicit. */
    sw->resolved = ref;

    char *jobs_dir = xprintf("%s/jobs", out_dir);
    int lock = -1;
    if (mkdir_p(jobs_dir) != 0) {
        fprintf(stderr, "mqttsim: cannot create %s: %s\n", jobs_dir, strerror(errno));
        status = 2;
        goto done;
    }
    if ((lock = lock_out(out_dir)) < 0) {
        fprintf(stderr, "mqttsim: %s is locked by a running sweep, or cannot be locked\n", out_dir);
        lock = -1;
        status = 2;
        goto done;
    }
    char *own = xprintf("%s/sweep.json", out_dir);
    char *mine = read_text(own, NULL);
    if (mine && !same_sweep(mine, ref)) {
        fprintf(stderr, "mqttsim: merge: %s holds a different sweep (%s differs from %s/sweep.json)\n", out_dir, own, dirs[0]);
        status = 2;
    } else if (!mine && write_atomic(own, ref, strlen(ref)) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", own, strerror(errno));
        status = 2;
    }
    free(mine);
    free(own);
    if (status) goto done;
    remove_stale_tmp(jobs_dir);

    size_t missing = 0, copied = 0;
    for (size_t p = 1; p <= sw->n_points; p++) {
        for (uint32_t r = 0; r < sw->reps; r++) {
            if (job_done(jobs_dir, p, r)) continue;
            char *name = job_name(p, r);
            int found = -1;
            for (int i = 0; i < n && found < 0; i++) {
                char *src = xprintf("%s/jobs/%s", dirs[i], name);
                char *csv = xprintf("%s/results.csv", src);
                if (is_file(csv)) found = i;
                free(csv);
                if (found >= 0 && copy_job(src, jobs_dir, name) != 0) {
                    fprintf(stderr, "mqttsim: merge: cannot copy %s into %s\n", src, jobs_dir);
                    status = 1;
                }
                free(src);
            }
            if (found >= 0) copied++;
            else {
                if (missing < 20) {
                    char *label = point_label(sw, p);
                    fprintf(stderr, "mqttsim: merge: missing job %s: point %zu (%s), replication %u\n",
                            name, p, label, (unsigned)r);
                    free(label);
                }
                missing++;
            }
            free(name);
        }
    }
    size_t incomplete = 0;
    if (finish(sw, out_dir, &incomplete)) status = 1;
    if (missing) {
        fprintf(stderr, "mqttsim: merge: %zu of %zu jobs are missing; sweep.csv leaves out %zu point(s). "
                "To run just the missing jobs: mqttsim sweep %s/sweep.json --out %s\n",
                missing, sw->n_points * sw->reps, incomplete, out_dir, out_dir);
        status = 1;
    } else if (status == 0) {
        printf("results: %s/sweep.csv (%zu jobs copied)\n", out_dir, copied);
        if (draw_figures(sw, out_dir)) status = 1;
    }
done:
    if (lock >= 0) close(lock);
    free(jobs_dir);
    exp_sweep_free(sw);
    return status;
}
