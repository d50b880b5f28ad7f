/* Experiment config loader: JSON text and --set overrides in, validated plain C structs out. */
#include "experiments/config.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "models/topic.h"

/* ---------------------------------------------------------------- schema -- */

/* The shape of a config, for unknown-key checks, did-you-mean and --set
 * paths. A node is a leaf, an object (children: its keys, NULL-terminated) or
 * an array (children: one entry, the element). The loss and delay objects list
 * the keys of every model; which of them fit the chosen model is checked
 * after link merging. */
typedef enum { S_LEAF, S_OBJECT, S_ARRAY } schema_kind;

typedef struct schema {
    const char *key;
    schema_kind kind;
    const struct schema *children;
} schema;

static const schema S_LOSS[] = {
    {"model", S_LEAF, NULL}, {"p", S_LEAF, NULL}, {"p_gb", S_LEAF, NULL},
    {"p_bg", S_LEAF, NULL}, {"loss_good", S_LEAF, NULL}, {"loss_bad", S_LEAF, NULL},
    {NULL, S_LEAF, NULL}};
static const schema S_DELAY[] = {
    {"dist", S_LEAF, NULL}, {"ms", S_LEAF, NULL}, {"min_ms", S_LEAF, NULL},
    {"max_ms", S_LEAF, NULL}, {"mean_ms", S_LEAF, NULL}, {"sd_ms", S_LEAF, NULL},
    {"scale_ms", S_LEAF, NULL}, {"shape", S_LEAF, NULL}, {NULL, S_LEAF, NULL}};
static const schema S_DIR[] = {
    {"loss", S_OBJECT, S_LOSS}, {"delay", S_OBJECT, S_DELAY},
    {"bandwidth_bps", S_LEAF, NULL}, {"reorder", S_LEAF, NULL}, {NULL, S_LEAF, NULL}};
static const schema S_LINK[] = {
    {"loss", S_OBJECT, S_LOSS}, {"delay", S_OBJECT, S_DELAY},
    {"bandwidth_bps", S_LEAF, NULL}, {"reorder", S_LEAF, NULL},
    {"up", S_OBJECT, S_DIR}, {"down", S_OBJECT, S_DIR}, {NULL, S_LEAF, NULL}};
static const schema S_SUB[] = {
    {"filter", S_LEAF, NULL}, {"qos", S_LEAF, NULL}, {NULL, S_LEAF, NULL}};
static const schema S_SUB_ELEM[] = {{"*", S_OBJECT, S_SUB}};
static const schema S_CLIENT[] = {
    {"role", S_LEAF, NULL}, {"count", S_LEAF, NULL}, {"link", S_OBJECT, S_LINK},
    {"topic", S_LEAF, NULL}, {"qos", S_LEAF, NULL}, {"rate_hz", S_LEAF, NULL},
    {"arrival", S_LEAF, NULL}, {"payload_bytes", S_LEAF, NULL},
    {"retry_interval_ms", S_LEAF, NULL}, {"max_retries", S_LEAF, NULL},
    {"subscribe", S_ARRAY, S_SUB_ELEM}, {"qos2_method", S_LEAF, NULL},
    {NULL, S_LEAF, NULL}};
static const schema S_CLIENT_ELEM[] = {{"*", S_OBJECT, S_CLIENT}};
static const schema S_BROKER[] = {
    {"qos2_method", S_LEAF, NULL}, {"max_inflight", S_LEAF, NULL},
    {"max_queued", S_LEAF, NULL}, {"retry_interval_ms", S_LEAF, NULL},
    {"max_retries", S_LEAF, NULL}, {NULL, S_LEAF, NULL}};
static const schema S_TOP_KEYS[] = {
    {"name", S_LEAF, NULL}, {"seed", S_LEAF, NULL}, {"replications", S_LEAF, NULL},
    {"duration_s", S_LEAF, NULL}, {"drain_s", S_LEAF, NULL},
    {"mqtt_version", S_LEAF, NULL}, {"broker", S_OBJECT, S_BROKER},
    {"link", S_OBJECT, S_LINK}, {"clients", S_ARRAY, S_CLIENT_ELEM},
    {NULL, S_LEAF, NULL}};
static const schema S_TOP = {"", S_OBJECT, S_TOP_KEYS};

/* Keys a client of each role takes (the schema above is their union). */
static const char *const PUB_KEYS[] = {"role", "count", "link", "topic", "qos",
                                       "rate_hz", "arrival", "payload_bytes",
                                       "retry_interval_ms", "max_retries", NULL};
static const char *const SUB_KEYS[] = {"role", "count", "link", "subscribe",
                                       "qos2_method", NULL};

static const char *const LOSS_MODELS[] = {"none", "bernoulli", "gilbert_elliott", NULL};
enum { LP_P, LP_P_GB, LP_P_BG, LP_GOOD, LP_BAD, LP_N };
static const char *const LOSS_PARAMS[] = {"p", "p_gb", "p_bg", "loss_good", "loss_bad", NULL};
/* Per model (indexed by sim_loss_kind): the parameters it takes, and of those
 * the ones without a default. */
static const unsigned LOSS_TAKES[] = {
    0, 1u << LP_P, (1u << LP_P_GB) | (1u << LP_P_BG) | (1u << LP_GOOD) | (1u << LP_BAD)};
static const unsigned LOSS_NEEDS[] = {0, 1u << LP_P, (1u << LP_P_GB) | (1u << LP_P_BG)};

static const char *const DISTS[] = {"constant", "uniform", "exponential", "normal",
                                    "lognormal", "pareto", NULL};
enum { DP_MS, DP_MIN, DP_MAX, DP_MEAN, DP_SD, DP_SCALE, DP_SHAPE, DP_N };
static const char *const DELAY_PARAMS[] = {"ms", "min_ms", "max_ms", "mean_ms",
                                           "sd_ms", "scale_ms", "shape", NULL};
/* Per dist (indexed by sim_dist_kind): the parameters giving sim_dist a and b
 * (-1: unused). Every parameter a dist takes is required. */
static const int DIST_A[] = {DP_MS, DP_MIN, DP_MEAN, DP_MEAN, DP_MEAN, DP_SCALE};
static const int DIST_B[] = {-1, DP_MAX, -1, DP_SD, DP_SD, DP_SHAPE};

/* The name tables are indexed by the sim enums. */
_Static_assert(SIM_LOSS_NONE == 0 && SIM_LOSS_BERNOULLI == 1 && SIM_LOSS_GILBERT_ELLIOTT == 2,
               "LOSS_MODELS order");
_Static_assert(SIM_DIST_CONSTANT == 0 && SIM_DIST_UNIFORM == 1 && SIM_DIST_EXPONENTIAL == 2 &&
                   SIM_DIST_NORMAL == 3 && SIM_DIST_LOGNORMAL == 4 && SIM_DIST_PARETO == 5,
               "DISTS order");
_Static_assert(MQ_QOS2_A == 0 && MQ_QOS2_B == 1, "QOS2_METHODS order");
_Static_assert(EXP_PUBLISHER == 0 && EXP_SUBSCRIBER == 1 && EXP_PERIODIC == 0 &&
                   EXP_POISSON == 1, "ROLES and ARRIVALS order");

static const char *const QOS2_METHODS[] = {"A", "B", NULL};
static const char *const ROLES[] = {"publisher", "subscriber", NULL};
static const char *const ARRIVALS[] = {"periodic", "poisson", NULL};

/* Upper bounds that keep every derived nanosecond count inside int64. */
#define MAX_SECONDS 1e9
#define MAX_MS 1e9
#define MAX_COUNT 1000000
#define MAX_PAYLOAD 268435000
#define MAX_NAME 200

/* ------------------------------------------------------------- messages -- */

#define PATHMAX 256

/* Where a value sits: the origin that put it there (the file, "--set" or
 * "default") and its key path. */
typedef struct {
    const char *origin;
    char path[PATHMAX];
} loc;

typedef struct {
    const char *origin;        /* the file, for messages */
    char *err;
    size_t errlen;
    const cJSON **set_items;   /* nodes placed by --set: errors inside them name "--set" */
    size_t n_set, cap_set;
} ctx;

static const char SET_ORIGIN[] = "--set";

/* Writes "origin: path: message" to the error buffer. Returns 2. */
static int fail(ctx *c, const loc *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen) {
        if (!at->origin)
            snprintf(c->err, c->errlen, "%s%s%s", at->path, at->path[0] ? ": " : "", msg);
        else if (at->path[0])
            snprintf(c->err, c->errlen, "%s: %s: %s", at->origin, at->path, msg);
        else
            snprintf(c->err, c->errlen, "%s: %s", at->origin, msg);
    }
    return 2;
}

/* A short description of a JSON value for "got ..." in messages. */
static void describe(const cJSON *v, char *buf, size_t n)
{
    if (!v)
        snprintf(buf, n, "nothing");
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* The shortest of %.15g and %.17g that reads back as d. */
        if (isfinite(d) && d == floor(d) && fabs(d) < 1e17)
            snprintf(buf, n, "%.0f", d);
        else if (snprintf(buf, n, "%.15g", d) > 0 && strtod(buf, NULL) != d)
            snprintf(buf, n, "%.17g", d);
    } else if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        snprintf(buf, n, "\"%.40s%s\"", v->valuestring, len > 40 ? "..." : "");
    } else if (cJSON_IsTrue(v))
        snprintf(buf, n, "true");
    else if (cJSON_IsFalse(v))
        snprintf(buf, n, "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, n, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, n, "an array");
    else if (cJSON_IsObject(v))
        snprintf(buf, n, "an object");
    else
        snprintf(buf, n, "an invalid value");
}

static int expected(ctx *c, const cJSON *v, const loc *at, const char *what)
{
    char got[96];
    describe(v, got, sizeof got);
    return fail(c, at, "expected %s, got %s", what, got);
}

/* Optimal-string-alignment distance (edits plus adjacent swaps), ignoring
 * ASCII case. Words longer than 63 bytes count as far from everything.
 * O(|a| |b|). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return INT_MAX;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = a[i - 1] | ((a[i - 1] >= 'A' && a[i - 1] <= 'Z') ? 32 : 0);
            int cb = b[j - 1] | ((b[j - 1] >= 'A' && b[j - 1] <= 'Z') ? 32 : 0);
            int cost = ca != cb;
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The candidate closest to word, if close enough to be a likely typo: at most
 * a third of the shorter word's length in edits (one edit for a word of 3
 * bytes or more, so "mss" finds "ms"), so a word under 3 bytes matches only
 * when it differs in case alone ("a" for "A", not "C" for "A"); failing that,
 * the only candidate starting with word (of 3 bytes or more). */
static const char *closest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    int bestd = INT_MAX;
    for (size_t i = 0; cands[i]; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    if (!best)
        return NULL;
    size_t lw = strlen(word), lc = strlen(best);
    int limit = (int)((lw < lc ? lw : lc) / 3);
    if (limit < 1 && lw >= 3)
        limit = 1;
    if (bestd <= limit)
        return best;
    /* Else a unique candidate that the word begins ("mean" for "mean_ms"). */
    const char *prefixed = NULL;
    for (size_t i = 0; lw >= 3 && cands[i]; i++) {
        if (strncmp(cands[i], word, lw) == 0) {
            if (prefixed)
                return NULL;
            prefixed = cands[i];
        }
    }
    return prefixed;
}

/* "a, b, c" into buf. */
static void join(const char *const *names, const char *quote, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s%s%s", i ? ", " : "", quote,
                         names[i], quote);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The keys of a schema object's children, as a NULL-terminated list in buf
 * (16 entries, more than any object has). */
static const char *const *keys_of(const schema *children, const char **buf)
{
    size_t k = 0;
    for (const schema *s = children; s->key; s++) {
        assert(k + 1 < 16);
        buf[k++] = s->key;
    }
    buf[k] = NULL;
    return buf;
}

/* ---------------------------------------------------------------- paths -- */

static bool is_set_item(const ctx *c, const cJSON *item)
{
    for (size_t i = 0; i < c->n_set; i++)
        if (c->set_items[i] == item)
            return true;
    return false;
}

/* The loc of member `key` (item: its node, or NULL when absent) of the object at `at`. */
static void child_loc(const ctx *c, const loc *at, const char *key, const cJSON *item, loc *out)
{
    out->origin = item && is_set_item(c, item) ? SET_ORIGIN : at->origin;
    /* A path too long for the buffer (only a user's absurd key can make one)
     * is cut short: it is only ever shown in messages. */
    int w = snprintf(out->path, sizeof out->path, "%s%s%s", at->path, at->path[0] ? "." : "",
                     key);
    if (w < 0)
        out->path[0] = '\0';
}

static void index_loc(const ctx *c, const loc *at, size_t i, const cJSON *item, loc *out)
{
    char key[24];
    snprintf(key, sizeof key, "%zu", i);
    child_loc(c, at, key, item, out);
}

/* ------------------------------------------------------- typed readers -- */

static cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool in_list(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

/* Checks that obj (at `at`) is an object whose keys are all in `keys`, none
 * twice. `wider` (may be NULL) lists keys valid elsewhere at this place, which
 * get `wider_why` as their explanation instead of "unknown key". */
static int check_keys(ctx *c, const cJSON *obj, const loc *at, const char *const *keys,
                      const char *const *wider, const char *wider_why)
{
    if (!cJSON_IsObject(obj))
        return expected(c, obj, at, "an object");
    for (const cJSON *it = obj->child; it; it = it->next) {
        loc l;
        child_loc(c, at, it->string, it, &l);
        if (!in_list(it->string, keys)) {
            if (wider && in_list(it->string, wider))
                return fail(c, &l, "%s", wider_why);
            const char *near = closest(it->string, keys);
            if (near)
                return fail(c, &l, "unknown key; did you mean '%s'?", near);
            char all[400];
            join(keys, "", all, sizeof all);
            return fail(c, &l, "unknown key; expected one of: %s", all);
        }
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return fail(c, &l, "duplicate key");
    }
    return 0;
}

static int read_int(ctx *c, const cJSON *v, const loc *at, int64_t lo, int64_t hi,
                    const char *what, int64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && d >= (double)lo && d <= (double)hi) {
            *out = (int64_t)d;
            return 0;
        }
    }
    return expected(c, v, at, what);
}

/* A finite number in [lo, hi], or (lo_open) in (lo, hi]. */
static int read_num(ctx *c, const cJSON *v, const loc *at, double lo, bool lo_open,
                    double hi, const char *what, double *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && (lo_open ? d > lo : d >= lo) && d <= hi) {
            *out = d;
            return 0;
        }
    }
    return expected(c, v, at, what);
}

static int read_bool(ctx *c, const cJSON *v, const loc *at, bool *out)
{
    if (!cJSON_IsBool(v))
        return expected(c, v, at, "true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

/* One of names (NULL-terminated), as its index. */
static int read_enum(ctx *c, const cJSON *v, const loc *at, const char *const *names,
                     const char *what, int *out)
{
    char all[200];
    join(names, "\"", all, sizeof all);
    if (cJSON_IsString(v)) {
        for (int i = 0; names[i]; i++)
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = i;
                return 0;
            }
        const char *near = closest(v->valuestring, names);
        char got[96];
        describe(v, got, sizeof got);
        if (near)
            return fail(c, at, "expected %s (one of %s), got %s; did you mean \"%s\"?",
                        what, all, got, near);
        return fail(c, at, "expected %s (one of %s), got %s", what, all, got);
    }
    char want[300];
    snprintf(want, sizeof want, "%s (one of %s)", what, all);
    return expected(c, v, at, want);
}

/* The member key of obj (NULL when absent, or when obj is NULL); l is its
 * loc either way. */
static const cJSON *opt(ctx *c, const cJSON *obj, const loc *at, const char *key, loc *l)
{
    const cJSON *v = member(obj, key);
    child_loc(c, at, key, v, l);
    return v;
}

static int opt_int(ctx *c, const cJSON *obj, const loc *at, const char *key, int64_t lo,
                   int64_t hi, const char *what, int64_t def, int64_t *out)
{
    loc l;
    const cJSON *v = opt(c, obj, at, key, &l);
    if (!v) {
        *out = def;
        return 0;
    }
    return read_int(c, v, &l, lo, hi, what, out);
}

static int opt_num(ctx *c, const cJSON *obj, const loc *at, const char *key, double lo,
                   bool lo_open, double hi, const char *what, double def, double *out)
{
    loc l;
    const cJSON *v = opt(c, obj, at, key, &l);
    if (!v) {
        *out = def;
        return 0;
    }
    return read_num(c, v, &l, lo, lo_open, hi, what, out);
}

static int opt_enum(ctx *c, const cJSON *obj, const loc *at, const char *key,
                    const char *const *names, const char *what, int def, int *out)
{
    loc l;
    const cJSON *v = opt(c, obj, at, key, &l);
    if (!v) {
        *out = def;
        return 0;
    }
    return read_enum(c, v, &l, names, what, out);
}

static int missing(ctx *c, const loc *at, const char *what)
{
    return fail(c, at, "required key missing; expected %s", what);
}

/* ------------------------------------------------------------------ links -- */

typedef struct {
    bool set;
    double v;
    loc at;
} param;

/* One layer of link settings, with where each came from. */
typedef struct {
    bool has_loss;
    int loss;          /* sim_loss_kind */
    loc loss_at;       /* the loss object that named the model */
    loc model_at;      /* its "model" key */
    param lp[LP_N];
    bool has_dist;
    int dist;          /* sim_dist_kind */
    loc dist_at;       /* the delay object that named the dist */
    loc kind_at;       /* its "dist" key */
    param dp[DP_N];
    bool has_bw;
    uint64_t bw;
    bool has_reorder;
    bool reorder;
} link_part;

static const char P_WHAT[] = "a probability, a number from 0 to 1";
static const char MS_WHAT[] = "a number of milliseconds from 0 to 1e9";

/* The range of each delay parameter, whatever the dist. */
static int read_delay_param(ctx *c, int i, const cJSON *v, const loc *at, double *out)
{
    switch (i) {
    case DP_SCALE:
        return read_num(c, v, at, 0, true, MAX_MS, "a number of milliseconds > 0 and <= 1e9", out);
    case DP_SHAPE:
        return read_num(c, v, at, 0, true, 1e6, "a number > 0 and <= 1e6", out);
    default:
        return read_num(c, v, at, 0, false, MAX_MS, MS_WHAT, out);
    }
}

/* Parses the link object obj at `at` into *part; with dirs (a top-level or
 * client link) its "up" and "down" go to dirs[0] and dirs[1]. */
static int parse_link(ctx *c, const cJSON *obj, const loc *at, link_part *part,
                      link_part *dirs)
{
    const char *keys[16], *wider[16];
    int rc = check_keys(c, obj, at, keys_of(dirs ? S_LINK : S_DIR, keys),
                        dirs ? NULL : keys_of(S_LINK, wider),
                        "'up' and 'down' may only appear directly inside a link");
    if (rc)
        return rc;
    loc l, k;
    const cJSON *loss = opt(c, obj, at, "loss", &l);
    if (loss) {
        if ((rc = check_keys(c, loss, &l, keys_of(S_LOSS, keys), NULL, NULL)))
            return rc;
        part->loss_at = l;
        const cJSON *m = opt(c, loss, &l, "model", &k);
        if (m) {
            if ((rc = read_enum(c, m, &k, LOSS_MODELS, "a loss model", &part->loss)))
                return rc;
            part->has_loss = true;
            part->model_at = k;
        }
        for (int i = 0; i < LP_N; i++) {
            const cJSON *v = opt(c, loss, &l, LOSS_PARAMS[i], &k);
            if (!v)
                continue;
            if ((rc = read_num(c, v, &k, 0, false, 1, P_WHAT, &part->lp[i].v)))
                return rc;
            part->lp[i].set = true;
            part->lp[i].at = k;
        }
    }
    const cJSON *delay = opt(c, obj, at, "delay", &l);
    if (delay) {
        if ((rc = check_keys(c, delay, &l, keys_of(S_DELAY, keys), NULL, NULL)))
            return rc;
        part->dist_at = l;
        const cJSON *d = opt(c, delay, &l, "dist", &k);
        if (d) {
            if ((rc = read_enum(c, d, &k, DISTS, "a delay distribution", &part->dist)))
                return rc;
            part->has_dist = true;
            part->kind_at = k;
        }
        for (int i = 0; i < DP_N; i++) {
            const cJSON *v = opt(c, delay, &l, DELAY_PARAMS[i], &k);
            if (!v)
                continue;
            if ((rc = read_delay_param(c, i, v, &k, &part->dp[i].v)))
                return rc;
            part->dp[i].set = true;
            part->dp[i].at = k;
        }
    }
    const cJSON *bw = opt(c, obj, at, "bandwidth_bps", &l);
    if (bw) {
        int64_t x;
        if ((rc = read_int(c, bw, &l, 0, (int64_t)EXP_SEED_MAX,
                           "an integer number of bits per second >= 0 (0: unlimited)", &x)))
            return rc;
        part->has_bw = true;
        part->bw = (uint64_t)x;
    }
    const cJSON *ro = opt(c, obj, at, "reorder", &l);
    if (ro) {
        if ((rc = read_bool(c, ro, &l, &part->reorder)))
            return rc;
        part->has_reorder = true;
    }
    if (dirs) {
        static const char *const names[2] = {"up", "down"};
        for (int d = 0; d < 2; d++) {
            const cJSON *sub = opt(c, obj, at, names[d], &l);
            if (sub && (rc = parse_link(c, sub, &l, &dirs[d], NULL)))
                return rc;
        }
    }
    return 0;
}

/* Lays src over dst (see config.h: a different model replaces the object). */
static void merge_link(link_part *dst, const link_part *src)
{
    if (src->has_loss && src->loss != dst->loss) {
        for (int i = 0; i < LP_N; i++)
            dst->lp[i].set = false;
    }
    if (src->has_loss) {
        dst->has_loss = true;
        dst->loss = src->loss;
        dst->loss_at = src->loss_at;
        dst->model_at = src->model_at;
    }
    for (int i = 0; i < LP_N; i++)
        if (src->lp[i].set)
            dst->lp[i] = src->lp[i];
    if (src->has_dist && src->dist != dst->dist) {
        for (int i = 0; i < DP_N; i++)
            dst->dp[i].set = false;
    }
    if (src->has_dist) {
        dst->has_dist = true;
        dst->dist = src->dist;
        dst->dist_at = src->dist_at;
        dst->kind_at = src->kind_at;
    }
    for (int i = 0; i < DP_N; i++)
        if (src->dp[i].set)
            dst->dp[i] = src->dp[i];
    if (src->has_bw) {
        dst->has_bw = true;
        dst->bw = src->bw;
    }
    if (src->has_reorder) {
        dst->has_reorder = true;
        dst->reorder = src->reorder;
    }
}

static void default_link(link_part *p)
{
    memset(p, 0, sizeof *p);
    p->has_loss = true;
    p->loss = SIM_LOSS_NONE;
    p->loss_at.origin = "default";
    p->model_at.origin = "default";
    p->has_dist = true;
    p->dist = SIM_DIST_CONSTANT;
    p->dist_at.origin = "default";
    p->kind_at.origin = "default";
    p->dp[DP_MS].set = true;
    p->dp[DP_MS].v = 0;
    p->dp[DP_MS].at.origin = "default";
    p->has_bw = true;
    p->has_reorder = true;
}

/* "the model is the default" or "the model is set at link.loss.model". */
static void model_source(const loc *at, const char *what, char *buf, size_t n)
{
    if (strcmp(at->origin, "default") == 0)
        snprintf(buf, n, "%s is the default", what);
    else
        snprintf(buf, n, "%s is set at %s%s", what, at->path,
                 at->origin == SET_ORIGIN ? " by --set" : "");
}

/* Checks a fully merged link against its models and fills *out. */
static int finish_link(ctx *c, const link_part *p, sim_link_params *out)
{
    char src[PATHMAX + 40];
    memset(out, 0, sizeof *out);
    for (int i = 0; i < LP_N; i++) {
        if (p->lp[i].set && !(LOSS_TAKES[p->loss] & (1u << i))) {
            model_source(&p->model_at, "the model", src, sizeof src);
            return fail(c, &p->lp[i].at,
                        "loss model \"%s\" has no parameter \"%s\" (%s; set \"model\" too)",
                        LOSS_MODELS[p->loss], LOSS_PARAMS[i], src);
        }
        if (!p->lp[i].set && (LOSS_NEEDS[p->loss] & (1u << i)))
            return fail(c, &p->loss_at, "loss model \"%s\" needs \"%s\"",
                        LOSS_MODELS[p->loss], LOSS_PARAMS[i]);
    }
    out->loss.kind = (sim_loss_kind)p->loss;
    out->loss.p = p->lp[LP_P].v;
    out->loss.p_gb = p->lp[LP_P_GB].v;
    out->loss.p_bg = p->lp[LP_P_BG].v;
    out->loss.loss_good = p->lp[LP_GOOD].set ? p->lp[LP_GOOD].v : 0.0;
    out->loss.loss_bad = p->lp[LP_BAD].set ? p->lp[LP_BAD].v : 1.0;

    int a = DIST_A[p->dist], b = DIST_B[p->dist];
    for (int i = 0; i < DP_N; i++) {
        bool takes = i == a || i == b;
        if (p->dp[i].set && !takes) {
            model_source(&p->kind_at, "the dist", src, sizeof src);
            return fail(c, &p->dp[i].at,
                        "delay dist \"%s\" has no parameter \"%s\" (%s; set \"dist\" too)",
                        DISTS[p->dist], DELAY_PARAMS[i], src);
        }
        if (!p->dp[i].set && takes)
            return fail(c, &p->dist_at, "delay dist \"%s\" needs \"%s\"", DISTS[p->dist],
                        DELAY_PARAMS[i]);
    }
    if (p->dist == SIM_DIST_UNIFORM && p->dp[DP_MIN].v > p->dp[DP_MAX].v)
        return fail(c, &p->dp[DP_MAX].at, "expected a number >= min_ms (%g), got %g",
                    p->dp[DP_MIN].v, p->dp[DP_MAX].v);
    if (p->dist == SIM_DIST_LOGNORMAL && !(p->dp[DP_MEAN].v > 0))
        return fail(c, &p->dp[DP_MEAN].at,
                    "expected a number > 0 for a lognormal delay, got %g", p->dp[DP_MEAN].v);
    out->delay.kind = (sim_dist_kind)p->dist;
    out->delay.a = p->dp[a].v;
    out->delay.b = b >= 0 ? p->dp[b].v : 0.0;
    out->bandwidth_bps = p->bw;
    out->reorder = p->reorder;
    return 0;
}

/* ------------------------------------------------------------ clients -- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

#define OOM 1

static int parse_subscriber(ctx *c, const cJSON *obj, const loc *at, const exp_config *cfg,
                            exp_client *cl)
{
    loc l, e, k;
    int rc;
    const cJSON *subs = opt(c, obj, at, "subscribe", &l);
    if (!subs)
        return missing(c, &l, "an array of 1 to 16 {\"filter\", \"qos\"} objects");
    int n = cJSON_IsArray(subs) ? cJSON_GetArraySize(subs) : 0;
    if (!cJSON_IsArray(subs) || n < 1 || n > EXP_MAX_SUBS)
        return cJSON_IsArray(subs)
                   ? fail(c, &l, "expected an array of 1 to %d subscriptions, got %d",
                          EXP_MAX_SUBS, n)
                   : expected(c, subs, &l, "an array of 1 to 16 {\"filter\", \"qos\"} objects");
    size_t i = 0;
    for (const cJSON *s = subs->child; s; s = s->next, i++) {
        index_loc(c, &l, i, s, &e);
        const char *keys[16];
        if ((rc = check_keys(c, s, &e, keys_of(S_SUB, keys), NULL, NULL)))
            return rc;
        const cJSON *f = opt(c, s, &e, "filter", &k);
        if (!f)
            return missing(c, &k, "a topic filter string");
        if (!cJSON_IsString(f) || !mq_topic_filter_valid(f->valuestring, strlen(f->valuestring)) ||
            strlen(f->valuestring) > 65535)
            return expected(c, f, &k,
                            "a topic filter (non-empty; '+' alone in its level; '#' alone "
                            "in the last level)");
        const cJSON *q = opt(c, s, &e, "qos", &k);
        if (!q)
            return missing(c, &k, "an integer 0, 1 or 2");
        int64_t qos;
        if ((rc = read_int(c, q, &k, 0, 2, "an integer 0, 1 or 2", &qos)))
            return rc;
        cl->subs[i].qos = (uint8_t)qos;
        if (!(cl->subs[i].filter = dup_str(f->valuestring)))
            return OOM;
        cl->n_subs = i + 1;
    }
    int m;
    const cJSON *qm = opt(c, obj, at, "qos2_method", &l);
    if (qm) {
        if ((rc = read_enum(c, qm, &l, QOS2_METHODS, "a QoS 2 method", &m)))
            return rc;
        cl->has_qos2_method = true;
        cl->qos2_method = (mq_qos2_method)m;
    } else {
        cl->qos2_method = cfg->qos2_method;
    }
    cl->retry_interval_ms = cfg->retry_interval_ms;
    cl->max_retries = cfg->max_retries;
    return 0;
}

static int parse_publisher(ctx *c, const cJSON *obj, const loc *at, const exp_config *cfg,
                           exp_client *cl)
{
    loc l;
    int rc, e;
    int64_t x;
    const cJSON *t = opt(c, obj, at, "topic", &l);
    if (!t)
        return missing(c, &l, "a topic name string");
    if (!cJSON_IsString(t) || !mq_topic_name_valid(t->valuestring, strlen(t->valuestring)) ||
        strlen(t->valuestring) > 65535)
        return expected(c, t, &l, "a topic name (a non-empty string without '+' or '#')");
    if (!(cl->topic = dup_str(t->valuestring)))
        return OOM;
    if ((rc = opt_int(c, obj, at, "qos", 0, 2, "an integer 0, 1 or 2", 0, &x)))
        return rc;
    cl->qos = (uint8_t)x;
    if ((rc = opt_num(c, obj, at, "rate_hz", 0, true, 1e9,
                      "a rate in messages per second > 0 and <= 1e9", 10, &cl->rate_hz)))
        return rc;
    if ((rc = opt_enum(c, obj, at, "arrival", ARRIVALS, "an arrival process", EXP_PERIODIC, &e)))
        return rc;
    cl->arrival = (exp_arrival)e;
    if ((rc = opt_int(c, obj, at, "payload_bytes", 0, MAX_PAYLOAD,
                      "an integer number of bytes from 0 to 268435000", 32, &x)))
        return rc;
    cl->payload_bytes = (uint32_t)x;
    if ((rc = opt_num(c, obj, at, "retry_interval_ms", 0, true, MAX_MS,
                      "a number of milliseconds > 0 and <= 1e9", cfg->retry_interval_ms,
                      &cl->retry_interval_ms)))
        return rc;
    if ((rc = opt_int(c, obj, at, "max_retries", -1, INT32_MAX,
                      "an integer >= -1 (-1: unlimited)", cfg->max_retries, &x)))
        return rc;
    cl->max_retries = (int32_t)x;
    cl->qos2_method = cfg->qos2_method;
    return 0;
}

/* Parses clients[i] (obj at `at`), resolving its link over the top-level one. */
static int parse_client(ctx *c, const cJSON *obj, const loc *at, const link_part top[2],
                        const exp_config *cfg, exp_client *cl)
{
    loc l;
    int rc, role;
    if (!cJSON_IsObject(obj))
        return expected(c, obj, at, "a client object");
    const cJSON *r = opt(c, obj, at, "role", &l);
    if (!r) {
        /* A misspelt "role" is better reported as such than as missing. */
        const char *keys[16];
        if ((rc = check_keys(c, obj, at, keys_of(S_CLIENT, keys), NULL, NULL)))
            return rc;
        return missing(c, &l, "\"publisher\" or \"subscriber\"");
    }
    if ((rc = read_enum(c, r, &l, ROLES, "a role", &role)))
        return rc;
    cl->role = (exp_role)role;
    if (role == EXP_PUBLISHER)
        rc = check_keys(c, obj, at, PUB_KEYS, SUB_KEYS, "not a publisher key (it is for subscribers)");
    else
        rc = check_keys(c, obj, at, SUB_KEYS, PUB_KEYS, "not a subscriber key (it is for publishers)");
    if (rc)
        return rc;
    int64_t x;
    if ((rc = opt_int(c, obj, at, "count", 1, MAX_COUNT, "an integer from 1 to 1000000", 1, &x)))
        return rc;
    cl->count = (uint32_t)x;

    link_part base = {0}, dirs[2] = {{0}, {0}};
    const cJSON *lk = opt(c, obj, at, "link", &l);
    if (lk && (rc = parse_link(c, lk, &l, &base, dirs)))
        return rc;
    sim_link_params *outs[2] = {&cl->up, &cl->down};
    for (int d = 0; d < 2; d++) {
        link_part p = top[d];
        merge_link(&p, &base);
        merge_link(&p, &dirs[d]);
        if ((rc = finish_link(c, &p, outs[d])))
            return rc;
    }
    return role == EXP_PUBLISHER ? parse_publisher(c, obj, at, cfg, cl)
                                 : parse_subscriber(c, obj, at, cfg, cl);
}

/* --------------------------------------------------------- resolved JSON -- */

/* A JSON number that reads back as exactly d: cJSON's own printing may drop
 * the last digits (it accepts a relative error), which would change a seed. */
static cJSON *num(double d)
{
    char buf[40];
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
        snprintf(buf, sizeof buf, "%.0f", d);
    else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
    }
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, sizeof buf, "0");
    return cJSON_CreateRaw(buf);
}

/* Adds item (which may be NULL after a failed allocation) to o under key.
 * Returns false, having freed item, when it could not. */
static bool add(cJSON *o, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(o, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

static cJSON *link_json(const sim_link_params *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *loss = cJSON_CreateObject(), *delay = cJSON_CreateObject();
    bool ok = add(o, "loss", loss);
    ok &= add(o, "delay", delay);
    if (ok) {
        ok &= add(loss, "model", cJSON_CreateString(LOSS_MODELS[p->loss.kind]));
        if (p->loss.kind == SIM_LOSS_BERNOULLI)
            ok &= add(loss, "p", num(p->loss.p));
        if (p->loss.kind == SIM_LOSS_GILBERT_ELLIOTT) {
            ok &= add(loss, "p_gb", num(p->loss.p_gb));
            ok &= add(loss, "p_bg", num(p->loss.p_bg));
            ok &= add(loss, "loss_good", num(p->loss.loss_good));
            ok &= add(loss, "loss_bad", num(p->loss.loss_bad));
        }
        ok &= add(delay, "dist", cJSON_CreateString(DISTS[p->delay.kind]));
        ok &= add(delay, DELAY_PARAMS[DIST_A[p->delay.kind]], num(p->delay.a));
        if (DIST_B[p->delay.kind] >= 0)
            ok &= add(delay, DELAY_PARAMS[DIST_B[p->delay.kind]], num(p->delay.b));
    }
    ok &= add(o, "bandwidth_bps", num((double)p->bandwidth_bps));
    ok &= add(o, "reorder", cJSON_CreateBool(p->reorder));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool same_link(const sim_link_params *a, const sim_link_params *b)
{
    return a->loss.kind == b->loss.kind && a->loss.p == b->loss.p &&
           a->loss.p_gb == b->loss.p_gb && a->loss.p_bg == b->loss.p_bg &&
           a->loss.loss_good == b->loss.loss_good && a->loss.loss_bad == b->loss.loss_bad &&
           a->delay.kind == b->delay.kind && a->delay.a == b->delay.a &&
           a->delay.b == b->delay.b && a->bandwidth_bps == b->bandwidth_bps &&
           a->reorder == b->reorder;
}

/* A link in the form the loader reads back to the same values: flat when both
 * directions agree, else {"up": ..., "down": ...}. */
static cJSON *link_pair_json(const sim_link_params *up, const sim_link_params *down)
{
    if (same_link(up, down))
        return link_json(up);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add(o, "up", link_json(up));
    ok &= add(o, "down", link_json(down));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The resolved config as compact JSON text (cJSON-allocated), or NULL when out of memory. */
static char *resolved_json(const exp_config *cfg, const sim_link_params top[2])
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = true;
    ok &= add(o, "name", cJSON_CreateString(cfg->name));
    ok &= add(o, "seed", num((double)cfg->seed));
    ok &= add(o, "replications", num(cfg->replications));
    ok &= add(o, "duration_s", num(cfg->duration_s));
    ok &= add(o, "drain_s", num(cfg->drain_s));
    ok &= add(o, "mqtt_version", num(cfg->mqtt_version));
    cJSON *b = cJSON_CreateObject();
    if (add(o, "broker", b)) {
        ok &= add(b, "qos2_method", cJSON_CreateString(QOS2_METHODS[cfg->qos2_method]));
        ok &= add(b, "max_inflight", num(cfg->max_inflight));
        ok &= add(b, "max_queued", num(cfg->max_queued));
        ok &= add(b, "retry_interval_ms", num(cfg->retry_interval_ms));
        ok &= add(b, "max_retries", num(cfg->max_retries));
    } else
        ok = false;
    ok &= add(o, "link", link_pair_json(&top[0], &top[1]));
    cJSON *arr = cJSON_CreateArray();
    if (!add(o, "clients", arr))
        ok = false;
    for (size_t i = 0; ok && i < cfg->n_clients; i++) {
        const exp_client *cl = &cfg->clients[i];
        cJSON *co = cJSON_CreateObject();
        if (!co) {
            ok = false;
            break;
        }
        cJSON_AddItemToArray(arr, co);
        ok &= add(co, "role", cJSON_CreateString(ROLES[cl->role]));
        ok &= add(co, "count", num(cl->count));
        if (cl->role == EXP_PUBLISHER) {
            ok &= add(co, "topic", cJSON_CreateString(cl->topic));
            ok &= add(co, "qos", num(cl->qos));
            ok &= add(co, "rate_hz", num(cl->rate_hz));
            ok &= add(co, "arrival", cJSON_CreateString(ARRIVALS[cl->arrival]));
            ok &= add(co, "payload_bytes", num(cl->payload_bytes));
            ok &= add(co, "retry_interval_ms", num(cl->retry_interval_ms));
            ok &= add(co, "max_retries", num(cl->max_retries));
        } else {
            cJSON *subs = cJSON_CreateArray();
            ok &= add(co, "subscribe", subs);
            for (size_t j = 0; ok && j < cl->n_subs; j++) {
                cJSON *s = cJSON_CreateObject();
                if (!s) {
                    ok = false;
                    break;
                }
                cJSON_AddItemToArray(subs, s);
                ok &= add(s, "filter", cJSON_CreateString(cl->subs[j].filter));
                ok &= add(s, "qos", num(cl->subs[j].qos));
            }
            ok &= add(co, "qos2_method", cJSON_CreateString(QOS2_METHODS[cl->qos2_method]));
        }
        ok &= add(co, "link", link_pair_json(&cl->up, &cl->down));
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* ------------------------------------------------------------ top level -- */

/* A name is used as a directory name (results/<name>). */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Validates root into cfg; default_name is used when "name" is absent. */
static int build(ctx *c, const cJSON *root, const char *default_name, exp_config *cfg)
{
    loc at = {c->origin, ""}, l;
    int rc, e;
    int64_t x;
    const char *keys[16];
    if ((rc = check_keys(c, root, &at, keys_of(S_TOP_KEYS, keys), NULL, NULL)))
        return rc;

    const cJSON *nm = opt(c, root, &at, "name", &l);
    const char *name = default_name;
    if (nm) {
        if (!cJSON_IsString(nm) || !name_ok(nm->valuestring))
            return expected(c, nm, &l,
                            "a name: a non-empty string of at most 200 bytes, without '/' "
                            "or control characters, not \".\" or \"..\"");
        name = nm->valuestring;
    }
    if (!(cfg->name = dup_str(name)))
        return OOM;
    if ((rc = opt_int(c, root, &at, "seed", 0, (int64_t)EXP_SEED_MAX,
                      "an integer seed from 0 to 9007199254740991", 1, &x)))
        return rc;
    cfg->seed = (uint64_t)x;
    if ((rc = opt_int(c, root, &at, "replications", 1, MAX_COUNT,
                      "an integer from 1 to 1000000", 1, &x)))
        return rc;
    cfg->replications = (uint32_t)x;
    if ((rc = opt_num(c, root, &at, "duration_s", 0, true, MAX_SECONDS,
                      "a number of seconds > 0 and <= 1e9", 10, &cfg->duration_s)))
        return rc;
    if ((rc = opt_num(c, root, &at, "drain_s", 0, false, MAX_SECONDS,
                      "a number of seconds from 0 to 1e9", 60, &cfg->drain_s)))
        return rc;
    const cJSON *mv = opt(c, root, &at, "mqtt_version", &l);
    cfg->mqtt_version = MQ_V311;
    if (mv) {
        if (!cJSON_IsNumber(mv) || (mv->valuedouble != 4 && mv->valuedouble != 5))
            return expected(c, mv, &l, "4 (MQTT 3.1.1) or 5 (MQTT 5.0)");
        cfg->mqtt_version = (uint8_t)mv->valuedouble;
    }

    loc bl;
    const cJSON *broker = opt(c, root, &at, "broker", &bl);
    const cJSON *br = broker; /* NULL: every member absent */
    if (broker && (rc = check_keys(c, broker, &bl, keys_of(S_BROKER, keys), NULL, NULL)))
        return rc;
    if ((rc = opt_enum(c, br, &bl, "qos2_method", QOS2_METHODS, "a QoS 2 method", MQ_QOS2_A, &e)))
        return rc;
    cfg->qos2_method = (mq_qos2_method)e;
    if ((rc = opt_int(c, br, &bl, "max_inflight", 0, 65535,
                      "an integer from 0 to 65535 (0: unlimited)", 20, &x)))
        return rc;
    cfg->max_inflight = (uint32_t)x;
    if ((rc = opt_int(c, br, &bl, "max_queued", 0, UINT32_MAX,
                      "an integer from 0 to 4294967295 (0: unlimited)", 1000, &x)))
        return rc;
    cfg->max_queued = (uint32_t)x;
    if ((rc = opt_num(c, br, &bl, "retry_interval_ms", 0, true, MAX_MS,
                      "a number of milliseconds > 0 and <= 1e9", 200, &cfg->retry_interval_ms)))
        return rc;
    if ((rc = opt_int(c, br, &bl, "max_retries", -1, INT32_MAX,
                      "an integer >= -1 (-1: unlimited)", -1, &x)))
        return rc;
    cfg->max_retries = (int32_t)x;

    /* The top-level link, resolved per direction over the defaults. */
    link_part top[2], tbase = {0}, tdirs[2] = {{0}, {0}};
    const cJSON *lk = opt(c, root, &at, "link", &l);
    if (lk && (rc = parse_link(c, lk, &l, &tbase, tdirs)))
        return rc;
    sim_link_params top_params[2];
    for (int d = 0; d < 2; d++) {
        default_link(&top[d]);
        merge_link(&top[d], &tbase);
        merge_link(&top[d], &tdirs[d]);
        if ((rc = finish_link(c, &top[d], &top_params[d])))
            return rc;
    }

    loc cl_at;
    const cJSON *clients = opt(c, root, &at, "clients", &cl_at);
    if (!clients)
        return missing(c, &cl_at, "an array of client objects (publishers and subscribers)");
    if (!cJSON_IsArray(clients) || cJSON_GetArraySize(clients) == 0)
        return expected(c, clients, &cl_at,
                        "a non-empty array of client objects (publishers and subscribers)");
    size_t n = (size_t)cJSON_GetArraySize(clients);
    if (!(cfg->clients = calloc(n, sizeof *cfg->clients)))
        return OOM;
    cfg->n_clients = n;
    size_t i = 0, npub = 0, nsub = 0;
    for (const cJSON *it = clients->child; it; it = it->next, i++) {
        index_loc(c, &cl_at, i, it, &l);
        if ((rc = parse_client(c, it, &l, top, cfg, &cfg->clients[i])))
            return rc;
        if (cfg->clients[i].role == EXP_PUBLISHER)
            npub++;
        else
            nsub++;
    }
    if (npub == 0 || nsub == 0)
        return fail(c, &cl_at, "expected at least one publisher and one subscriber, got %zu "
                    "publisher%s and %zu subscriber%s", npub, npub == 1 ? "" : "s", nsub,
                    nsub == 1 ? "" : "s");
    if (!(cfg->json = resolved_json(cfg, top_params)))
        return OOM;
    return 0;
}

/* ----------------------------------------------------------------- --set -- */

static int remember_set(ctx *c, const cJSON *item)
{
    if (c->n_set == c->cap_set) {
        size_t cap = c->cap_set ? 2 * c->cap_set : 8;
        const cJSON **p = realloc(c->set_items, cap * sizeof *p);
        if (!p)
            return OOM;
        c->set_items = p;
        c->cap_set = cap;
    }
    c->set_items[c->n_set++] = item;
    return 0;
}

static bool subtree_has(const cJSON *tree, const cJSON *node)
{
    if (tree == node)
        return true;
    for (const cJSON *ch = tree->child; ch; ch = ch->next)
        if (subtree_has(ch, node))
            return true;
    return false;
}

/* Forgets the remembered --set nodes inside tree, which is about to be
 * replaced (and freed), so that no freed node stays in the list. O(sets x
 * tree size). */
static void forget_set_items(ctx *c, const cJSON *tree)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n_set; i++)
        if (!subtree_has(tree, c->set_items[i]))
            c->set_items[k++] = c->set_items[i];
    c->n_set = k;
}

/* Parses a decimal array index; false if seg is not one. */
static bool parse_index(const char *seg, size_t *out)
{
    if (!*seg || strlen(seg) > 9)
        return false;
    for (const char *p = seg; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    *out = (size_t)strtoul(seg, NULL, 10);
    return true;
}

/* Finds the schema child named seg of an object node, or NULL. */
static const schema *schema_child(const schema *node, const char *seg)
{
    for (const schema *s = node->children; s->key; s++)
        if (strcmp(s->key, seg) == 0)
            return s;
    return NULL;
}

/* Reports seg as an unknown key under the object node at `at`. */
static int unknown_seg(ctx *c, const loc *at, const schema *node, const char *seg)
{
    const char *keys[16];
    keys_of(node->children, keys);
    loc l;
    child_loc(c, at, seg, NULL, &l);
    const char *near = closest(seg, keys);
    if (near)
        return fail(c, &l, "unknown key; did you mean '%s'?", near);
    char all[400];
    join(keys, "", all, sizeof all);
    return fail(c, &l, "unknown key; expected one of: %s", all);
}

/* Walks key_path down the schema; with root, also down the JSON, creating
 * missing objects on the way and putting value at the end. On success the
 * value belongs to root (or, without root, is untouched). */
static int walk_path(ctx *c, const char *key_path, cJSON *root, cJSON *value)
{
    loc at = {c->origin, ""};
    size_t len = strlen(key_path);
    if (len == 0)
        return fail(c, &at, "empty key path");
    char *buf = dup_str(key_path);
    if (!buf)
        return OOM;
    const schema *node = &S_TOP;
    cJSON *json = root;
    int rc = 0;
    char *seg = buf;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot)
            *dot = '\0';
        bool last = dot == NULL;
        if (!*seg) {
            loc whole = {c->origin, ""};
            snprintf(whole.path, sizeof whole.path, "%.200s", key_path);
            rc = fail(c, &whole, "empty key in the path");
            goto out;
        }
        const schema *next;
        size_t index = 0;
        if (node->kind == S_OBJECT) {
            next = schema_child(node, seg);
            if (!next) {
                rc = unknown_seg(c, &at, node, seg);
                goto out;
            }
        } else if (node->kind == S_ARRAY) {
            if (!parse_index(seg, &index)) {
                loc l;
                child_loc(c, &at, seg, NULL, &l);
                rc = fail(c, &l, "expected an array index (0, 1, ...)");
                goto out;
            }
            next = node->children;
        } else {
            /* Unreachable: a leaf is never walked into (below). */
            assert(!"walked into a schema leaf");
            rc = 2;
            goto out;
        }
        loc here;
        child_loc(c, &at, seg, NULL, &here);
        if (!last && next->kind == S_LEAF) {
            loc l;
            child_loc(c, &here, dot + 1, NULL, &l);
            rc = fail(c, &l, "%s takes a value, it has no keys", here.path);
            goto out;
        }
        if (json) {
            cJSON *child;
            if (node->kind == S_OBJECT) {
                if (!cJSON_IsObject(json)) {
                    char got[96];
                    describe(json, got, sizeof got);
                    rc = fail(c, &here, "cannot set inside %s, which is %s, not an object",
                              at.path[0] ? at.path : "the config", got);
                    goto out;
                }
                child = member(json, seg);
                if (last) {
                    if (child)
                        forget_set_items(c, child);
                    bool ok = child ? cJSON_ReplaceItemInObjectCaseSensitive(json, seg, value)
                                    : cJSON_AddItemToObject(json, seg, value);
                    if (!ok) {
                        rc = OOM;
                        goto out;
                    }
                    value = NULL;
                } else if (!child) {
                    if (next->kind != S_OBJECT) {
                        rc = fail(c, &here, "no such element (the config has no %s)", here.path);
                        goto out;
                    }
                    if (!(child = cJSON_CreateObject())) {
                        rc = OOM;
                        goto out;
                    }
                    if (!cJSON_AddItemToObject(json, seg, child)) {
                        cJSON_Delete(child);
                        rc = OOM;
                        goto out;
                    }
                    if ((rc = remember_set(c, child)))
                        goto out;
                }
            } else {
                if (!cJSON_IsArray(json)) {
                    char got[96];
                    describe(json, got, sizeof got);
                    rc = fail(c, &here, "cannot set inside %s, which is %s, not an array",
                              at.path, got);
                    goto out;
                }
                int size = cJSON_GetArraySize(json);
                if (index >= (size_t)size) {
                    rc = fail(c, &here, "no such element (%s has %d)", at.path, size);
                    goto out;
                }
                child = cJSON_GetArrayItem(json, (int)index);
                if (last) {
                    forget_set_items(c, child);
                    if (!cJSON_ReplaceItemViaPointer(json, child, value)) {
                        rc = OOM;
                        goto out;
                    }
                    value = NULL;
                }
            }
            json = child;
        }
        at = here;
        if (last)
            break;
        node = next;
        seg = dot + 1;
    }
out:
    free(buf);
    if (value && root)
        cJSON_Delete(value);
    return rc;
}

/* Applies one "key.path=value" to root. */
static int apply_set(ctx *c, cJSON *root, const char *spec)
{
    loc at = {SET_ORIGIN, ""};
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec)
        return fail(c, &at, "expected key.path=value, got '%s'", spec);
    char *path = malloc((size_t)(eq - spec) + 1);
    if (!path)
        return OOM;
    memcpy(path, spec, (size_t)(eq - spec));
    path[eq - spec] = '\0';
    /* JSON where it parses (numbers, true, null, objects, quoted strings),
     * otherwise the text itself as a string. */
    cJSON *value = cJSON_ParseWithOpts(eq + 1, NULL, 1);
    if (!value)
        value = cJSON_CreateString(eq + 1);
    int rc = OOM;
    if (value) {
        int r = remember_set(c, value);
        if (r) {
            cJSON_Delete(value);
            rc = r;
        } else {
            const char *saved = c->origin;
            c->origin = SET_ORIGIN;
            rc = walk_path(c, path, root, value);
            c->origin = saved;
        }
    }
    free(path);
    return rc;
}

/* ----------------------------------------------------------------- loading -- */

/* "file:line:col: ..." for a JSON syntax error at pos. */
static int syntax_error(ctx *c, const char *text, const char *pos)
{
    size_t line = 1, col = 1;
    for (const char *p = text; p < pos && *p; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    const char *q = pos;
    while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
        q++;
    char near[24];
    size_t k = 0;
    if (*q) {
        while (q[k] && q[k] != '\n' && q[k] != '\r' && k + 1 < sizeof near) {
            near[k] = q[k];
            k++;
        }
    } else {
        /* At the end: cJSON stops there both for a cut-off file and, at
         * times, one past a bad last character; the text before tells. */
        const char *e = q;
        while (e > text && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        const char *b = e;
        while (b > text && b[-1] != '\n' && b[-1] != '\r' && (size_t)(e - b) + 1 < sizeof near)
            b--;
        k = (size_t)(e - b);
        memcpy(near, b, k);
    }
    near[k] = '\0';
    if (c->err && c->errlen) {
        if (*q)
            snprintf(c->err, c->errlen, "%s:%zu:%zu: invalid JSON near '%s'", c->origin, line,
                     col, near);
        else
            snprintf(c->err, c->errlen, "%s:%zu:%zu: invalid JSON at the end of the file, "
                     "after '%s'", c->origin, line, col, near);
    }
    return 2;
}

/* The default name: origin's base name without ".json". */
static void base_name(const char *origin, char *buf, size_t n)
{
    const char *b = origin ? strrchr(origin, '/') : NULL;
    b = b ? b + 1 : origin;
    if (!b || !*b) {
        snprintf(buf, n, "experiment");
        return;
    }
    size_t len = strlen(b);
    if (len > 5 && strcmp(b + len - 5, ".json") == 0)
        len -= 5;
    if (len >= n)
        len = n - 1;
    memcpy(buf, b, len);
    buf[len] = '\0';
}

int exp_config_load_text(const char *text, const char *origin, const char *base_dir,
                         char *const *sets, size_t nsets, exp_config *cfg, char *err,
                         size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (err && errlen)
        err[0] = '\0';
    ctx c = {origin ? origin : "<config>", err, errlen, NULL, 0, 0};
    loc top = {c.origin, ""};
    int rc;

    const char *end = NULL;
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!*p)
        return fail(&c, &top, "empty file; expected a JSON object");
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root)
        return syntax_error(&c, text, end ? end : text);
    if (!cJSON_IsObject(root)) {
        rc = expected(&c, root, &top, "a JSON object at the top level");
        goto out;
    }
    for (size_t i = 0; i < nsets; i++)
        if ((rc = apply_set(&c, root, sets[i])))
            goto out;
    char name[MAX_NAME + 1];
    base_name(origin, name, sizeof name);
    if ((rc = build(&c, root, name, cfg)))
        goto out;
    if (!(cfg->origin = dup_str(c.origin)) || !(cfg->base_dir = dup_str(base_dir ? base_dir : ".")))
        rc = OOM;
out:
    if (rc == OOM && err && errlen)
        snprintf(err, errlen, "%s: out of memory", c.origin);
    if (rc)
        exp_config_free(cfg);
    free(c.set_items);
    cJSON_Delete(root);
    return rc;
}

/* Reads a whole file into a NUL-terminated buffer; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                buf = NULL;
                errno = e;
            }
            break;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

int exp_config_load(const char *path, char *const *sets, size_t nsets, exp_config *cfg,
                    char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    size_t len = 0;
    errno = 0;
    char *text = read_file(path, &len);
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
        return 2;
    }
    if (strlen(text) != len) {
        if (err && errlen)
            snprintf(err, errlen, "%s: contains a NUL byte; expected JSON text", path);
        free(text);
        return 2;
    }
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = dup_str(".");
    else if (slash == path)
        dir = dup_str("/");
    else {
        dir = malloc((size_t)(slash - path) + 1);
        if (dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    int rc;
    if (!dir) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", path);
        rc = OOM;
    } else {
        rc = exp_config_load_text(text, path, dir, sets, nsets, cfg, err, errlen);
    }
    free(dir);
    free(text);
    return rc;
}

void exp_config_free(exp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; cfg->clients && i < cfg->n_clients; i++) {
        exp_client *cl = &cfg->clients[i];
        free(cl->topic);
        for (size_t j = 0; j < EXP_MAX_SUBS; j++)
            free(cl->subs[j].filter);
    }
    free(cfg->clients);
    free(cfg->name);
    cJSON_free(cfg->json);
    free(cfg->origin);
    free(cfg->base_dir);
    memset(cfg, 0, sizeof *cfg);
}

int exp_config_check_path(const char *key_path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    /* No origin: messages read "link.los: unknown key; ..." and the caller
     * names the file. */
    ctx c = {NULL, err, errlen, NULL, 0, 0};
    int rc = walk_path(&c, key_path, NULL, NULL);
    if (rc == OOM && err && errlen)
        snprintf(err, errlen, "out of memory");
    return rc ? 2 : 0;
}

bool exp_config_is_sweep_file(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return false;
    cJSON *root = cJSON_Parse(text);
    bool sweep = cJSON_IsObject(root) && member(root, "vary") != NULL;
    cJSON_Delete(root);
    free(text);
    return sweep;
}
