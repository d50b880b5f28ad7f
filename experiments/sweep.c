/* The sweep file: its grid of points, the config of each point, and the identity of a sweep. */
#include "experiments/sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/config.h"
#include "experiments/fsutil.h"
#include "experiments/str.h"

#define ERRLEN 1024

const char *const exp_sweep_figure_names[EXP_FIG__COUNT] = {"delivery", "duplicates", "latency", "wire", "cdf",
                                                           "transport", "faults"};


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
    /* With "cases", key 0 is "case": value c is case c's label (a JSON
     * string), and case_sets[c][0..case_nsets[c]) its "path=value" settings. */
    bool has_cases;
    size_t *case_nsets;
    char ***case_sets;
    size_t max_sets;    /* the most settings of one case */
    size_t n_points;
    unsigned figures;   /* bit i: exp_sweep_figure_names[i] */
    size_t cdf_point;
    char *resolved;
};

/* ---- parsing ---------------------------------------------------------- */

void exp_sweep_free(exp_sweep *sw)
{
    if (!sw) return;
    for (size_t c = 0; sw->case_sets && c < sw->n_vals[0]; c++) {
        for (size_t i = 0; sw->case_sets[c] && i < sw->case_nsets[c]; i++) free(sw->case_sets[c][i]);
        free(sw->case_sets[c]);
    }
    free(sw->case_sets);
    free(sw->case_nsets);
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
size_t exp_sweep_n_values(const exp_sweep *sw, size_t key) { return sw->n_vals[key]; }
const char *exp_sweep_key_value(const exp_sweep *sw, size_t key, size_t v) { return sw->vals[key][v]; }
unsigned exp_sweep_figures(const exp_sweep *sw) { return sw->figures; }

static size_t value_index(const exp_sweep *sw, size_t p, size_t key);

/* Mixed-radix decoding of the grid: the last key varies fastest. */
const char *exp_sweep_value(const exp_sweep *sw, size_t p, size_t key)
{
    return sw->vals[key][value_index(sw, p, key)];
}

int exp_sweep_shard_of(size_t p, int shard_n)
{
    return (int)((p - 1) % (size_t)shard_n) + 1;
}

char *exp_sweep_point_label(const exp_sweep *sw, size_t p)
{
    char *s = exp_strdup("");
    for (size_t k = 0; k < sw->n_keys; k++) {
        char *t = exp_strf("%s%s%s=%s", s, k ? ", " : "", sw->keys[k], exp_sweep_value(sw, p, k));
        free(s);
        s = t;
    }
    return s;
}

/* The index of point p's value of key k (p >= 1). */
static size_t value_index(const exp_sweep *sw, size_t p, size_t key)
{
    size_t i = p - 1;
    for (size_t k = sw->n_keys; k-- > key + 1;) i /= sw->n_vals[k];
    return i % sw->n_vals[key];
}

/* The --set strings for point p: the sweep's overrides, then the point's
 * values (its case's settings, then the vary keys'). Returns the count; the
 * strings are malloc'd into sets[] (room for n_keys + max_sets + 2). */
static size_t point_sets(const exp_sweep *sw, size_t p, char **sets)
{
    size_t n = 0;
    if (sw->seed_set) sets[n++] = exp_strdup(sw->seed_set);
    if (sw->reps_given) sets[n++] = exp_strf("replications=%u", (unsigned)sw->reps);
    for (size_t k = 0; p && k < sw->n_keys; k++) {
        if (k == 0 && sw->has_cases) {
            size_t c = value_index(sw, p, 0);
            for (size_t i = 0; i < sw->case_nsets[c]; i++) sets[n++] = exp_strdup(sw->case_sets[c][i]);
        } else {
            sets[n++] = exp_strf("%s=%s", sw->keys[k], exp_sweep_value(sw, p, k));
        }
    }
    return n;
}

static void free_sets(char **sets, size_t n)
{
    for (size_t i = 0; i < n; i++) free(sets[i]);
}

int exp_sweep_load_point(const exp_sweep *sw, size_t p, exp_config *cfg, char *err, size_t errlen)
{
    char **sets = calloc(sw->n_keys + sw->max_sets + 2, sizeof *sets);
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
 * no longer reach it. An experiment without "name" gets exp_name, the name the
 * loader gave it (after the base file or the sweep file): inlined, it would
 * otherwise be named after sweep.json, and its jobs would differ from the
 * sweep's. Returns NULL when the base file cannot be read or parsed. */
static char *resolve(const exp_sweep *sw, const cJSON *root, const char *exp_name)
{
    cJSON *exp = NULL;
    if (sw->exp_text) {
        exp = cJSON_Parse(sw->exp_text);
    } else {
        char *text = exp_fs_read(sw->base_path, NULL);
        if (text) exp = cJSON_Parse(text);
        free(text);
    }
    if (!cJSON_IsObject(exp)) {
        cJSON_Delete(exp);
        return NULL;
    }
    if (!cJSON_GetObjectItemCaseSensitive(exp, "name") && exp_name)
        cJSON_AddStringToObject(exp, "name", exp_name);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "name", sw->name);
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (seed) cJSON_AddItemToObject(out, "seed", cJSON_Duplicate(seed, 1));
    cJSON_AddNumberToObject(out, "replications", sw->reps);
    cJSON_AddItemToObject(out, "experiment", exp);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    if (cases) cJSON_AddItemToObject(out, "cases", cJSON_Duplicate(cases, 1));
    const cJSON *vary = cJSON_GetObjectItemCaseSensitive(root, "vary");
    if (vary) cJSON_AddItemToObject(out, "vary", cJSON_Duplicate(vary, 1));
    cJSON *figs = cJSON_CreateArray();
    for (size_t i = 0; i < EXP_FIG__COUNT; i++)
        if (sw->figures & (1u << i)) cJSON_AddItemToArray(figs, cJSON_CreateString(exp_sweep_figure_names[i]));
    cJSON_AddItemToObject(out, "figures", figs);
    const cJSON *cdf = cJSON_GetObjectItemCaseSensitive(root, "cdf_point");
    if (cdf) cJSON_AddItemToObject(out, "cdf_point", cJSON_Duplicate(cdf, 1));
    char *text = cJSON_Print(out);
    cJSON_Delete(out);
    char *withnl = exp_strf("%s\n", text);
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
                rc = exp_errf(err, errlen, "%s: vary: key \"%s\" appears twice", sw->origin, sw->keys[a]);
            else if (!strcmp(norm[a], norm[b]))
                rc = exp_errf(err, errlen, "%s: vary: keys \"%s\" and \"%s\" name the same config key",
                          sw->origin, sw->keys[a], sw->keys[b]);
            else if (path_covers(norm[a], norm[b]) || path_covers(norm[b], norm[a])) {
                bool a_outer = path_covers(norm[a], norm[b]);
                rc = exp_errf(err, errlen, "%s: vary: keys \"%s\" and \"%s\" overlap: \"%s\" contains \"%s\"; "
                          "vary a key or the keys inside it, not both", sw->origin, sw->keys[a], sw->keys[b],
                          sw->keys[a_outer ? a : b], sw->keys[a_outer ? b : a]);
            }
        }
    }
    for (size_t k = 0; k < sw->n_keys; k++) free(norm[k]);
    free(norm);
    return rc;
}

/* Not cJSON_Compare, which takes numbers within a relative DBL_EPSILON as
 * equal and so would call the seeds 9007199254740990 and ...991 one sweep. */
bool exp_sweep_json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b || (a->type & 0xff) != (b->type & 0xff)) return false;
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a)) return !strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!exp_sweep_json_equal(x, y)) return false;
        return !x && !y;
    }
    if (cJSON_IsObject(a)) {
        /* Both ways round, so that a repeated name cannot hide a difference. */
        for (const cJSON *x = a->child; x; x = x->next)
            if (!exp_sweep_json_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string))) return false;
        for (const cJSON *y = b->child; y; y = y->next)
            if (!exp_sweep_json_equal(y, cJSON_GetObjectItemCaseSensitive(a, y->string))) return false;
        return true;
    }
    return true;   /* null, true, false: the type is the value */
}

/* Whether JSON text equals the parsed value want, as json_equal. */
static bool json_text_equals(const char *text, const cJSON *want)
{
    cJSON *v = cJSON_Parse(text);
    bool eq = exp_sweep_json_equal(v, want);
    cJSON_Delete(v);
    return eq;
}

/* Whether two "vary" objects make the same grid: the same keys (as paths) in
 * the same order, since the order numbers the points, with equal value lists. */
static bool same_vary(const cJSON *a, const cJSON *b)
{
    if (!a && !b) return true;  /* a sweep of cases alone */
    if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) return false;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next) {
        char *nx = norm_path(x->string), *ny = norm_path(y->string);
        bool eq = !strcmp(nx, ny) && exp_sweep_json_equal(x, y);
        free(nx);
        free(ny);
        if (!eq) return false;
    }
    return !x && !y;
}

char *exp_sweep_point_config(const exp_sweep *sw, size_t p)
{
    char err[ERRLEN];
    exp_config cfg;
    if (exp_sweep_load_point(sw, p, &cfg, err, sizeof err) != 0) return NULL;
    char *json = exp_strdup(cfg.json);
    exp_config_free(&cfg);
    return json;
}

/* The JSON is compared parsed, not as text (json_equal), except that vary's
 * key order matters. */
bool exp_sweep_same(const char *a_text, const char *b_text)
{
    cJSON *a = cJSON_Parse(a_text), *b = cJSON_Parse(b_text);
    bool same = cJSON_IsObject(a) && cJSON_IsObject(b);
    if (same) {
        cJSON_DeleteItemFromObjectCaseSensitive(a, "figures");
        cJSON_DeleteItemFromObjectCaseSensitive(b, "figures");
        cJSON *va = cJSON_DetachItemFromObjectCaseSensitive(a, "vary");
        cJSON *vb = cJSON_DetachItemFromObjectCaseSensitive(b, "vary");
        same = same_vary(va, vb) && exp_sweep_json_equal(a, b);
        cJSON_Delete(va);
        cJSON_Delete(vb);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

/* Reads "vary" into the grid: keys in order, each with its values as compact
 * JSON. A key that is not a config key (with validate), an empty or repeated
 * value list entry, or overlapping keys are errors. Cost: O(values^2) JSON
 * comparisons per key, to find a value given twice. */
/* The normalised key path of a "path=value" setting; malloc'd. */
static char *set_path(const char *set)
{
    char *path = strndup(set, strcspn(set, "="));
    if (!path) abort();
    char *n = norm_path(path);
    free(path);
    return n;
}

/* Reads "cases" into grid key 0, "case": each case's label as its value and
 * its "set" as --set strings. A case needs a unique non-empty label; a
 * setting's path must be a config key (with validate) and appear once in the
 * case. Cost: O(cases^2) label comparisons. */
static int parse_cases(exp_sweep *sw, const cJSON *cases, bool validate, char *err, size_t errlen)
{
    if (!cJSON_IsArray(cases) || !cases->child)
        return exp_errf(err, errlen, "%s: \"cases\": expected a non-empty array of {\"case\": \"label\", "
                        "\"set\": {\"key.path\": value, ...}}", sw->origin);
    size_t n = (size_t)cJSON_GetArraySize(cases);
    sw->keys[0] = exp_strdup("case");
    sw->n_vals[0] = n;
    sw->vals[0] = calloc(n, sizeof(char *));
    sw->case_sets = calloc(n, sizeof *sw->case_sets);
    sw->case_nsets = calloc(n, sizeof *sw->case_nsets);
    if (!sw->vals[0] || !sw->case_sets || !sw->case_nsets) abort();
    sw->n_keys = 1;
    size_t c = 0;
    for (const cJSON *e = cases->child; e; e = e->next, c++) {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(e, "case");
        const cJSON *set = cJSON_GetObjectItemCaseSensitive(e, "set");
        if (!cJSON_IsObject(e) || !cJSON_IsString(label) || !*label->valuestring)
            return exp_errf(err, errlen, "%s: cases[%zu]: expected an object with a non-empty string "
                            "\"case\" (its label)", sw->origin, c);
        for (const cJSON *m = e->child; m; m = m->next)
            if (strcmp(m->string, "case") && strcmp(m->string, "set"))
                return exp_errf(err, errlen, "%s: cases[%zu]: unknown key \"%s\" (expected \"case\" and "
                                "\"set\")", sw->origin, c, m->string);
        if (set && !cJSON_IsObject(set))
            return exp_errf(err, errlen, "%s: cases[%zu].set: expected an object of \"key.path\": value",
                            sw->origin, c);
        for (size_t d = 0; d < c; d++) {
            cJSON *o = cJSON_Parse(sw->vals[0][d]);
            bool same = cJSON_IsString(o) && !strcmp(o->valuestring, label->valuestring);
            cJSON_Delete(o);
            if (same)
                return exp_errf(err, errlen, "%s: cases: label \"%s\" appears twice (cases %zu and %zu)",
                                sw->origin, label->valuestring, d, c);
        }
        char *s = cJSON_PrintUnformatted(label);
        sw->vals[0][c] = exp_strdup(s);
        cJSON_free(s);
        size_t ns = set ? (size_t)cJSON_GetArraySize(set) : 0;
        sw->case_sets[c] = calloc(ns + 1, sizeof(char *));
        if (!sw->case_sets[c]) abort();
        for (const cJSON *m = set ? set->child : NULL; m; m = m->next) {
            if (validate) {
                char cerr[ERRLEN];
                if (exp_config_check_path(m->string, cerr, sizeof cerr) != 0)
                    return exp_errf(err, errlen, "%s: cases[%zu] (\"%s\"): set: key \"%s\" is not a config "
                                    "key: %s", sw->origin, c, label->valuestring, m->string, cerr);
            }
            char *nm = norm_path(m->string);
            for (size_t i = 0; i < sw->case_nsets[c]; i++) {
                char *np = set_path(sw->case_sets[c][i]);
                bool clash = path_covers(np, nm) || path_covers(nm, np);
                if (clash) {
                    exp_errf(err, errlen, "%s: cases[%zu] (\"%s\"): set: keys \"%s\" and \"%s\" overlap",
                             sw->origin, c, label->valuestring, np, m->string);
                    free(np);
                    free(nm);
                    return -1;
                }
                free(np);
            }
            free(nm);
            char *v = cJSON_PrintUnformatted(m);
            sw->case_sets[c][sw->case_nsets[c]++] = exp_strf("%s=%s", m->string, v);
            cJSON_free(v);
        }
        if (sw->case_nsets[c] > sw->max_sets) sw->max_sets = sw->case_nsets[c];
    }
    sw->n_points = n;
    return 0;
}

/* A vary key that a case also sets would label sweep.csv rows with values
 * that never ran. Returns 0, or -1 naming the key and the case. */
static int check_case_overlap(const exp_sweep *sw, char *err, size_t errlen)
{
    for (size_t k = 1; k < sw->n_keys; k++) {
        char *nk = norm_path(sw->keys[k]);
        for (size_t c = 0; c < sw->n_vals[0]; c++) {
            for (size_t i = 0; i < sw->case_nsets[c]; i++) {
                char *np = set_path(sw->case_sets[c][i]);
                bool clash = path_covers(np, nk) || path_covers(nk, np);
                free(np);
                if (clash) {
                    int rc = exp_errf(err, errlen, "%s: vary key \"%s\" is also set by case %s; "
                                      "vary it or set it in the cases, not both", sw->origin, sw->keys[k],
                                      sw->vals[0][c]);
                    free(nk);
                    return rc;
                }
            }
        }
        free(nk);
    }
    return 0;
}

static int parse_vary(exp_sweep *sw, const cJSON *vary, const cJSON *cases, bool validate, char *err,
                      size_t errlen)
{
    if (!(cases && !vary) && (!cJSON_IsObject(vary) || !vary->child))
        return exp_errf(err, errlen, "%s: \"vary\": expected an object of \"key.path\": [values...], with at least one key", sw->origin);
    size_t n = (vary ? (size_t)cJSON_GetArraySize(vary) : 0) + (cases ? 1 : 0);
    sw->keys = calloc(n, sizeof *sw->keys);
    sw->vals = calloc(n, sizeof *sw->vals);
    sw->n_vals = calloc(n, sizeof *sw->n_vals);
    if (!sw->keys || !sw->vals || !sw->n_vals) abort();
    sw->n_points = 1;
    sw->has_cases = cases != NULL;
    int rc;
    if (cases && (rc = parse_cases(sw, cases, validate, err, errlen)) != 0) return rc;
    for (const cJSON *e = vary ? vary->child : NULL; e; e = e->next) {
        const char *key = e->string;
        if (cases && !strcmp(key, "case"))
            return exp_errf(err, errlen, "%s: vary: \"case\" names the cases; it cannot vary", sw->origin);
        if (!strcmp(key, "replications"))
            return exp_errf(err, errlen, "%s: vary: \"replications\" cannot vary; set the sweep's \"replications\"", sw->origin);
        if (validate) {
            char cerr[ERRLEN];
            if (exp_config_check_path(key, cerr, sizeof cerr) != 0)
                return exp_errf(err, errlen, "%s: vary: key \"%s\" is not a config key: %s", sw->origin, key, cerr);
        }
        if (!cJSON_IsArray(e) || !e->child)
            return exp_errf(err, errlen, "%s: vary.%s: expected a non-empty array of values", sw->origin, key);
        size_t k = sw->n_keys++;
        sw->keys[k] = exp_strdup(key);
        sw->n_vals[k] = (size_t)cJSON_GetArraySize(e);
        sw->vals[k] = calloc(sw->n_vals[k], sizeof(char *));
        if (!sw->vals[k]) abort();
        size_t v = 0;
        for (const cJSON *x = e->child; x; x = x->next) {
            /* Two equal values would make two points that run the same
             * jobs, and a sweep.csv with two rows for one point. */
            size_t w = 0;
            for (const cJSON *y = e->child; y != x && !exp_sweep_json_equal(x, y); y = y->next) w++;
            char *s = cJSON_PrintUnformatted(x);
            if (w < v) {
                exp_errf(err, errlen, "%s: vary.%s: value %s appears twice (values %zu and %zu); "
                         "expected different values", sw->origin, key, s, w + 1, v + 1);
                cJSON_free(s);
                return -1;
            }
            sw->vals[k][v++] = exp_strdup(s);
            cJSON_free(s);
        }
        if (sw->n_points > SIZE_MAX / 2 / sw->n_vals[k])
            return exp_errf(err, errlen, "%s: vary: the grid is too large", sw->origin);
        sw->n_points *= sw->n_vals[k];
    }
    if ((rc = check_overlap(sw, err, errlen)) != 0) return rc;
    return cases ? check_case_overlap(sw, err, errlen) : 0;
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
        return exp_errf(err, errlen, "%s: \"cdf_point\": expected an object {\"vary.key\": value}", sw->origin);
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
            rc = exp_errf(err, errlen, "%s: cdf_point: \"%s\" is not a vary key", sw->origin, e->string);
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
            rc = exp_errf(err, errlen, "%s: cdf_point: no point of the grid has these values", sw->origin);
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
    sw->origin = exp_strdup(origin);
    sw->dir = exp_strdup(base_dir && *base_dir ? base_dir : ".");
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    int rc = 0;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *c = text; at && c < at && *c; c++) line += *c == '\n';
        rc = exp_errf(err, errlen, "%s:%d: not valid JSON", origin, line);
        goto out;
    }
    if (!cJSON_IsObject(root)) { rc = exp_errf(err, errlen, "%s: expected a JSON object", origin); goto out; }
    static const char *const known[] = {"name", "seed", "base", "experiment", "cases", "vary",
                                        "replications", "figures", "cdf_point"};
    for (const cJSON *e = root->child; e; e = e->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], e->string)) i++;
        if (i == sizeof known / sizeof known[0]) {
            rc = exp_errf(err, errlen, "%s: unknown key \"%s\" (expected one of: name, seed, base, "
                      "experiment, cases, vary, replications, figures, cdf_point)", origin, e->string);
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
            rc = exp_errf(err, errlen, "%s: \"name\": expected a non-empty string without '/'", origin);
            goto out;
        }
        sw->name = exp_strdup(name->valuestring);
    }
    if (seed) {
        if (!is_uint(seed, 9007199254740992.0)) {
            rc = exp_errf(err, errlen, "%s: \"seed\": expected a non-negative integer", origin);
            goto out;
        }
        sw->seed_set = exp_strf("seed=%.0f", seed->valuedouble);
    }
    if (!!base == !!exp) {
        rc = exp_errf(err, errlen, "%s: expected exactly one of \"base\" (a config file) or \"experiment\" (an inline config)", origin);
        goto out;
    }
    if (base) {
        if (!cJSON_IsString(base) || !*base->valuestring) {
            rc = exp_errf(err, errlen, "%s: \"base\": expected a config file path", origin);
            goto out;
        }
        sw->base_path = base->valuestring[0] == '/' ? exp_strdup(base->valuestring)
                                                    : exp_strf("%s/%s", sw->dir, base->valuestring);
    } else {
        if (!cJSON_IsObject(exp)) {
            rc = exp_errf(err, errlen, "%s: \"experiment\": expected a config object", origin);
            goto out;
        }
        char *s = cJSON_PrintUnformatted(exp);
        sw->exp_text = exp_strdup(s);
        cJSON_free(s);
    }
    if (reps) {
        if (!is_uint(reps, 1e6) || reps->valuedouble < 1) {
            rc = exp_errf(err, errlen, "%s: \"replications\": expected an integer from 1 to 1000000", origin);
            goto out;
        }
        sw->reps = (uint32_t)reps->valuedouble;
        sw->reps_given = true;
    }
    if (figs) {
        if (!cJSON_IsArray(figs)) {
            rc = exp_errf(err, errlen, "%s: \"figures\": expected a list of names from: delivery, duplicates, latency, wire, cdf, transport, faults", origin);
            goto out;
        }
        for (const cJSON *f = figs->child; f; f = f->next) {
            size_t i = 0;
            while (cJSON_IsString(f) && i < EXP_FIG__COUNT && strcmp(exp_sweep_figure_names[i], f->valuestring)) i++;
            if (!cJSON_IsString(f) || i == EXP_FIG__COUNT) {
                char *s = cJSON_PrintUnformatted(f);
                rc = exp_errf(err, errlen, "%s: \"figures\": unknown figure %s (expected one of: delivery, duplicates, latency, wire, cdf, transport, faults)", origin, s);
                cJSON_free(s);
                goto out;
            }
            sw->figures |= 1u << i;
        }
    }
    if ((rc = parse_vary(sw, cJSON_GetObjectItemCaseSensitive(root, "vary"),
                         cJSON_GetObjectItemCaseSensitive(root, "cases"), validate, err, errlen)))
        goto out;
    if ((rc = parse_cdf_point(sw, cJSON_GetObjectItemCaseSensitive(root, "cdf_point"), err, errlen))) goto out;

    if (!sw->name) {
        /* No "name": the base name of the sweep file without .json. */
        const char *b = strrchr(origin, '/');
        b = b ? b + 1 : origin;
        size_t n = strlen(b);
        if (n > 5 && !strcmp(b + n - 5, ".json")) n -= 5;
        sw->name = n ? strndup(b, n) : exp_strdup("sweep");
        if (!sw->name) abort();
    }
    if (validate) {
        char cerr[ERRLEN];
        exp_config cfg;
        if (exp_sweep_load_point(sw, 0, &cfg, cerr, sizeof cerr) != 0) {
            rc = exp_errf(err, errlen, "%s: base experiment: %s", origin, cerr);
            goto out;
        }
        if (!sw->reps_given) sw->reps = cfg.replications ? cfg.replications : 1;
        sw->resolved = resolve(sw, root, cfg.name);
        exp_config_free(&cfg);
        if (!sw->resolved) {
            rc = exp_errf(err, errlen, "%s: cannot read the base experiment %s", origin, sw->base_path);
            goto out;
        }
        for (size_t p = 1; p <= sw->n_points; p++) {
            if (exp_sweep_load_point(sw, p, &cfg, cerr, sizeof cerr) != 0) {
                char *label = exp_sweep_point_label(sw, p);
                rc = exp_errf(err, errlen, "%s: point %zu of %zu (%s): %s", origin, p, sw->n_points, label, cerr);
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
    char *text = exp_fs_read(path, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *dir = exp_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir ? 1 : 0] = '\0';
    else strcpy(dir, ".");
    exp_sweep *sw = exp_sweep_parse(text, path, dir, validate, err, errlen);
    free(text);
    free(dir);
    return sw;
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
    for (size_t i = 0; i < EXP_FIG__COUNT; i++)
        if (sw->figures & (1u << i)) printf(" %s", exp_sweep_figure_names[i]);
    printf("\n  output: results/%s (default)\n", sw->name);
    exp_sweep_free(sw);
    return 0;
}

