/* Experiment config loader: JSON text and --set overrides in, validated plain C structs out. */
#include "experiments/config.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "experiments/keys.h"
#include "models/codec.h"
#include "models/topic.h"
#include "models/utf8.h"
#include "sim/time.h"

/*
 * Every key's type, range, default and place come from the table in keys.c;
 * this file walks the JSON along it. What the table cannot say is code here:
 * the clients and their roles, link and tcp layering, a loss model's or delay
 * dist's parameters, and the rules that tie keys together.
 */

#define MAX_NAME 200
#define OOM 1

/* Per loss model (indexed by sim_loss_kind): the parameters it takes, and of
 * those the ones without a default, as bits over the loss slots (slot -
 * EXP_LS_LOSS_FIRST). */
#define LB(s) (1u << ((s) - EXP_LS_LOSS_FIRST))
static const unsigned LOSS_TAKES[] = {
    0, LB(EXP_LS_P),
    LB(EXP_LS_P_GB) | LB(EXP_LS_P_BG) | LB(EXP_LS_LOSS_GOOD) | LB(EXP_LS_LOSS_BAD)};
static const unsigned LOSS_NEEDS[] = {0, LB(EXP_LS_P), LB(EXP_LS_P_GB) | LB(EXP_LS_P_BG)};
/* Per dist (indexed by sim_dist_kind): the slots giving sim_dist a and b (-1:
 * unused). Every parameter a dist takes is required. */
static const int DIST_A[] = {EXP_LS_MS, EXP_LS_MIN_MS, EXP_LS_MEAN_MS, EXP_LS_MEAN_MS,
                             EXP_LS_MEAN_MS, EXP_LS_SCALE_MS};
static const int DIST_B[] = {-1, EXP_LS_MAX_MS, -1, EXP_LS_SD_MS, EXP_LS_SD_MS, EXP_LS_SHAPE};

/* ------------------------------------------------------------- messages -- */

#define PATHMAX 256

/* Where a value sits: the origin that put it there (the file, "--set" or
 * "default") and its key path. */
typedef struct {
    const char *origin;
    char path[PATHMAX];
} loc;

/* A value read from JSON (or a default), before it is stored. */
typedef struct {
    int64_t i;          /* INT; MS and S: nanoseconds */
    double d;           /* NUM, MS, S: the number as given */
    bool b;
    int e;              /* ENUM: the index */
    const char *s;      /* STRING: points into the JSON (or the default name) */
    exp_sched sched;    /* SCHEDULE: its windows belong to the load's arena */
} val;

/* One key of a layer (link or tcp): whether this layer sets it, where, and
 * (for a loss model or dist) where the object naming it is. */
typedef struct {
    bool set;
    loc at, obj_at;
    val v;
} slot;

#define N_SLOTS ((int)EXP_LS_N > (int)EXP_TS_N ? (int)EXP_LS_N : (int)EXP_TS_N)
typedef struct {
    slot s[N_SLOTS];
} layer;

typedef struct {
    const char *origin;        /* the file, for messages */
    char *err;
    size_t errlen;
    const cJSON **set_items;   /* nodes placed by --set: errors inside them name "--set" */
    size_t n_set, cap_set;
    const char *default_name;  /* "name" when absent */
    const cJSON *root;         /* the config, --sets applied */
    exp_config *cfg;           /* what is being filled */
    layer top[2];              /* the top-level link per direction, merged over the defaults */
    layer tcp_top;             /* the top-level tcp, merged over the defaults */
    void **arena;              /* allocations that live as long as the load */
    size_t n_arena, cap_arena;
    char *warnings;            /* "warning: ...\n" lines */
    size_t warnings_len;
    char pending[400];         /* keys set that are not simulated yet, "a, b" */
    size_t n_pending;
} ctx;

/* Where stored values go. */
typedef struct {
    exp_config *cfg;
    exp_client *cl;
    exp_sub *sub;
    exp_tcp *tcp;
    layer *lay;
} dest;

static const char SET_ORIGIN[] = "--set";

/* Writes "origin: path: message" to the error buffer. Returns 2. */
static int fail(ctx *c, const loc *at, const char *fmt, ...)
{
    char msg[1024];
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

/* A number for messages: the shortest of %.15g and %.17g that reads back as d. */
static void fmt_num(double d, char *buf, size_t n)
{
    if (isfinite(d) && d == floor(d) && fabs(d) < 1e17)
        snprintf(buf, n, "%.0f", d);
    else if (snprintf(buf, n, "%.15g", d) > 0 && strtod(buf, NULL) != d)
        snprintf(buf, n, "%.17g", d);
}

/* A short description of a JSON value for "got ..." in messages. */
static void describe(const cJSON *v, char *buf, size_t n)
{
    if (!v)
        snprintf(buf, n, "nothing");
    else if (cJSON_IsNumber(v)) {
        fmt_num(v->valuedouble, buf, n);
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

/* ---------------------------------------------------------------- keys -- */

typedef struct {
    const exp_key *k[EXP_KEY_MAX_CHILDREN];
    size_t n;
    /* Their names, NULL-terminated, for messages. */
    const char *names[EXP_KEY_MAX_CHILDREN + 1];
} kids;

/* The keys of node (NULL: the top level) whose flags include any of
 * `role` (0: every key). */
static void kids_of(const exp_key *node, unsigned role, kids *out)
{
    const exp_key *all[EXP_KEY_MAX_CHILDREN];
    size_t n = exp_key_children(node, all, EXP_KEY_MAX_CHILDREN);
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (role && !(all[i]->flags & role))
            continue;
        out->k[out->n] = all[i];
        out->names[out->n++] = exp_key_name(all[i]);
    }
    out->names[out->n] = NULL;
}

static const exp_key *kid_named(const kids *ks, const char *name)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->names[i], name) == 0)
            return ks->k[i];
    return NULL;
}

/* The link row that fills `slot`. */
static const exp_key *link_row(int slot)
{
    for (size_t i = 0; i < exp_n_keys; i++)
        if (exp_keys[i].at == EXP_AT_LINK && exp_keys[i].slot == slot)
            return &exp_keys[i];
    assert(!"no link row for the slot");
    return NULL;
}

static const char *slot_name(int slot)
{
    return exp_key_name(link_row(slot));
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
            char all[1024];
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

static int missing(ctx *c, const loc *at, const char *what)
{
    return fail(c, at, "required key missing; expected %s", what);
}

/* Adds "warning: origin: path: message" to the load's warnings. Returns 0 or OOM. */
static int warn(ctx *c, const loc *at, const char *fmt, ...)
{
    char msg[600], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int w = snprintf(line, sizeof line, "warning: %s: %s%s%s\n", at->origin, at->path,
                     at->path[0] ? ": " : "", msg);
    size_t len = w < 0 ? 0 : (size_t)w >= sizeof line ? sizeof line - 1 : (size_t)w;
    char *p = realloc(c->warnings, c->warnings_len + len + 1);
    if (!p)
        return OOM;
    memcpy(p + c->warnings_len, line, len + 1);
    c->warnings = p;
    c->warnings_len += len;
    return 0;
}

/* n bytes that live until the load ends (NULL when out of memory). */
static void *arena_alloc(ctx *c, size_t n)
{
    if (c->n_arena == c->cap_arena) {
        size_t cap = c->cap_arena ? 2 * c->cap_arena : 16;
        void **a = realloc(c->arena, cap * sizeof *a);
        if (!a)
            return NULL;
        c->arena = a;
        c->cap_arena = cap;
    }
    void *p = malloc(n ? n : 1);
    if (p)
        c->arena[c->n_arena++] = p;
    return p;
}

/* Notes that the config sets a key that is not simulated yet (at `at`). */
static void note_pending(ctx *c, const loc *at)
{
    size_t used = strlen(c->pending);
    if (c->n_pending < 6)
        snprintf(c->pending + used, sizeof c->pending - used, "%s%s", used ? ", " : "", at->path);
    c->n_pending++;
}

/* ---------------------------------------------------------------- values -- */

/* The nanoseconds of a MS or S key's value, rounded as the simulator's hosts
 * round (sim_from_ms). Exact for every value the ranges allow. */
static int64_t to_ns(const exp_key *k, double d)
{
    return sim_from_ms(k->type == EXP_K_S ? d * 1000.0 : d);
}

/* A time in seconds (or milliseconds) in [0, 1e9] (lo_open: (0, 1e9]),
 * with its nanoseconds; a positive time must be at least 1 ns once rounded,
 * since the clock counts whole nanoseconds. */
static int read_time(ctx *c, const cJSON *v, const loc *at, bool seconds, bool lo_open,
                     const char *what, double *d, int64_t *ns)
{
    int rc = read_num(c, v, at, 0, lo_open, 1e9, what, d);
    if (rc)
        return rc;
    *ns = sim_from_ms(seconds ? *d * 1000.0 : *d);
    if (lo_open && *ns < 1) {
        char got[40];
        fmt_num(*d, got, sizeof got);
        return fail(c, at, "expected %s, got %s, which rounds to 0 ns (the clock counts whole "
                    "nanoseconds: the least is %s)", what, got, seconds ? "1e-09" : "1e-06");
    }
    return 0;
}

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

/* Whether s is a valid topic name (or filter). */
static bool topic_ok(const exp_key *k, const char *s, size_t len)
{
    return len <= 65535 && (k->code == EXP_CODE_TOPIC ? mq_topic_name_valid(s, len)
                                                       : mq_topic_filter_valid(s, len));
}

/* Refuses s[0..len), the topic or filter v (or, with index >= 0, the
 * expansion of pattern v for that client), saying what is wrong with it:
 * its length, its UTF-8, or its wildcards. Returns 0 if it is valid. */
static int check_topic(ctx *c, const exp_key *k, const cJSON *v, const loc *at, const char *s,
                       size_t len, int64_t index)
{
    const char *noun = k->code == EXP_CODE_TOPIC ? "a topic name" : "a topic filter";
    char who[64] = "";
    if (index >= 0)
        snprintf(who, sizeof who, " for client %" PRId64 " of the group", index);
    if (len > 65535)
        return fail(c, at, "expected %s of at most 65535 bytes, got one of %zu bytes%s", noun,
                    len, who);
    if (!mq_utf8_valid(s, len))
        return fail(c, at, "expected %s in well-formed UTF-8, got %zu bytes that are not%s",
                    noun, len, who);
    if (topic_ok(k, s, len))
        return 0;
    if (index < 0)
        return expected(c, v, at, k->what);
    char got[96];
    describe(v, got, sizeof got);
    return fail(c, at, "expected %s, got %s, which%s is not one", k->what, got, who);
}

/* A topic or filter (k), which in a group of `count` clients may be a
 * pattern: every client's expansion must be valid. The expansion is checked
 * for the first index and the last, the longest: digits add no level, no
 * wildcard and no invalid byte, so any other index is valid if those are. */
static int read_topic(ctx *c, const exp_key *k, const cJSON *v, const loc *at, uint32_t count)
{
    const char *s = v->valuestring;
    if (!strchr(s, '{') && !strchr(s, '}'))
        return check_topic(c, k, v, at, s, strlen(s), -1);
    if (exp_config_expand(s, 0, NULL, 0) < 0) {
        char got[96];
        describe(v, got, sizeof got);
        return fail(c, at, "expected %s, in which braces may only hold {i} (the client's index "
                    "in its group), or be doubled ({{, }}) for a brace itself, got %s",
                    k->code == EXP_CODE_TOPIC ? "a topic name" : "a topic filter", got);
    }
    uint32_t idx[2] = {0, count ? count - 1 : 0};
    for (int i = 0; i < 2; i++) {
        int n = exp_config_expand(s, idx[i], NULL, 0);
        char *buf = malloc((size_t)n + 1);
        if (!buf)
            return OOM;
        exp_config_expand(s, idx[i], buf, (size_t)n + 1);
        int rc = check_topic(c, k, v, at, buf, (size_t)n, idx[i]);
        free(buf);
        if (rc)
            return rc;
    }
    return 0;
}

/* The checks of a STRING key (a topic's or filter's: `count` clients share it). */
static int read_string(ctx *c, const exp_key *k, const cJSON *v, const loc *at, uint32_t count,
                       const char **out)
{
    int rc;
    if (!cJSON_IsString(v))
        return expected(c, v, at, k->what);
    switch (k->code) {
    case EXP_CODE_NAME:
        if (!name_ok(v->valuestring))
            return expected(c, v, at, k->what);
        break;
    case EXP_CODE_TOPIC:
    case EXP_CODE_FILTER:
        if ((rc = read_topic(c, k, v, at, count)))
            return rc;
        break;
    default:
        assert(!"a STRING key without its check");
    }
    *out = v->valuestring;
    return 0;
}

static const char S_FROM0[] = "a number of seconds from 0 to 1e9";
static const char S_POSITIVE[] = "a number of seconds > 0 and <= 1e9";

static int by_start(const void *a, const void *b)
{
    const exp_window *x = a, *y = b;
    if (x->at_ns != y->at_ns)
        return x->at_ns < y->at_ns ? -1 : 1;
    return 0;
}

static int read_value(ctx *c, const exp_key *k, const cJSON *v, const loc *at, const dest *d,
                      val *out);

/* The least count of nanoseconds >= ns that some number of seconds converts
 * to (as the loader converts them, sim_from_ms). Every count up to about
 * 4.5e15 ns (52 days) is one; above, doubles are sparser than nanoseconds,
 * so a merged outage window (a difference of two converted times) may fall
 * between them and could not be written in the resolved config (found by
 * the config fuzzer: an assertion in num_ns). At most a few hundred ns more. */
static int64_t seconds_ns(int64_t ns)
{
    double d = (double)ns / 1e9;
    for (int i = 0; i < 64; i++, d = nextafter(d, INFINITY)) {
        int64_t got = sim_from_ms(d * 1000.0);
        if (got >= ns)
            return got;
    }
    return ns; /* not reached: doubles near 1e9 s are 119 ns apart */
}

/* A schedule (k): [], a list of entries, or the object of its random form.
 * Entries are sorted by time; with EXP_F_MERGE overlapping windows merge,
 * otherwise overlapping ones are an error. An entry after the run's end is
 * a warning. The windows go to the arena. */
static int read_schedule(ctx *c, const exp_key *k, const cJSON *v, const loc *at, val *out)
{
    int rc;
    exp_sched *sc = &out->sched;
    memset(sc, 0, sizeof *sc);
    bool pairs = k->names[1] != NULL;
    if (cJSON_IsObject(v)) {
        kids ks;
        kids_of(k, 0, &ks);
        if ((rc = check_keys(c, v, at, ks.names, NULL, NULL)))
            return rc;
        for (size_t i = 0; i < ks.n; i++) {
            loc l;
            const cJSON *x = opt(c, v, at, ks.names[i], &l);
            if (!x)
                return missing(c, &l, ks.k[i]->missing);
            val r;
            if ((rc = read_value(c, ks.k[i], x, &l, NULL, &r)))
                return rc;
            *(i == 0 ? &sc->mtbf_ns : &sc->down_ns) = r.i;
        }
        return 0;
    }
    if (!cJSON_IsArray(v))
        return expected(c, v, at, k->what);
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n == 0)
        return 0;
    /* Each window with its place in the list, for messages after sorting. */
    exp_window *w = arena_alloc(c, n * sizeof *w);
    exp_window *orig = arena_alloc(c, n * sizeof *orig);
    if (!w || !orig)
        return OOM;
    bool lo_open = (k->flags & EXP_F_LO_OPEN) != 0;
    int64_t end = c->cfg->duration_ns + c->cfg->drain_ns;
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        loc el, f0, f1;
        index_loc(c, at, i, e, &el);
        double t, len = 0;
        int64_t t_ns, len_ns = 0;
        if (pairs) {
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2) {
                char what[80];
                snprintf(what, sizeof what, "a pair [%s, %s]", k->names[0], k->names[1]);
                return expected(c, e, &el, what);
            }
            index_loc(c, &el, 0, e->child, &f0);
            index_loc(c, &el, 1, e->child->next, &f1);
            if ((rc = read_time(c, e->child, &f0, true, false, S_FROM0, &t, &t_ns)) ||
                (rc = read_time(c, e->child->next, &f1, true, lo_open,
                                lo_open ? S_POSITIVE : S_FROM0, &len, &len_ns)))
                return rc;
        } else if ((rc = read_time(c, e, &el, true, false, S_FROM0, &t, &t_ns))) {
            return rc;
        }
        w[i].at_ns = t_ns;
        w[i].len_ns = len_ns;
        orig[i] = w[i];
        if (w[i].at_ns > end && (rc = warn(c, &el, "at %g s, after the run's end (duration_s + "
                                           "drain_s = %g s): it never happens", t,
                                           (double)end / 1e9)))
            return rc;
    }
    qsort(w, n, sizeof *w, by_start);
    size_t m = 0;
    for (i = 0; i < n; i++) {
        int64_t prev_end = m > 0 ? w[m - 1].at_ns + w[m - 1].len_ns : 0;
        bool merge = (k->flags & EXP_F_MERGE) != 0;
        /* Outages that touch are one outage; a restart may begin the moment
         * the one before has ended. */
        if (m > 0 && (w[i].at_ns < prev_end || (merge && w[i].at_ns == prev_end))) {
            if (merge) {
                int64_t e = w[i].at_ns + w[i].len_ns;
                if (e > w[m - 1].at_ns + w[m - 1].len_ns)
                    w[m - 1].len_ns = seconds_ns(e - w[m - 1].at_ns);
                /* The merged window is what the resolved config says: it must
                 * be a window a config may give (found by the config fuzzer:
                 * [0.5, 1e9] and [718, 1e9] wrote a 1000000717.5 s outage that
                 * did not load again). */
                if (w[m - 1].len_ns > (int64_t)1000000000000000000LL) {
                    char from[40], len[40];
                    fmt_num((double)w[m - 1].at_ns / 1e9, from, sizeof from);
                    fmt_num((double)w[m - 1].len_ns / 1e9, len, sizeof len);
                    return fail(c, at, "overlapping windows merge into one from %s s lasting "
                                "%s s, longer than the 1e9 s a window may last", from, len);
                }
                continue;
            }
            /* Name the two entries as the config lists them. */
            size_t a = 0, b = 0;
            for (size_t j = 0; j < n; j++) {
                if (orig[j].at_ns == w[m - 1].at_ns && orig[j].len_ns == w[m - 1].len_ns)
                    a = j;
                if (orig[j].at_ns == w[i].at_ns && orig[j].len_ns == w[i].len_ns)
                    b = j;
            }
            loc la, lb;
            index_loc(c, at, a, NULL, &la);
            index_loc(c, at, b, NULL, &lb);
            return fail(c, &lb, "starts at %g s, before %s (%g s + %g s) has ended: these "
                        "windows must not overlap", (double)w[i].at_ns / 1e9, la.path,
                        (double)w[m - 1].at_ns / 1e9, (double)w[m - 1].len_ns / 1e9);
        }
        w[m++] = w[i];
    }
    sc->n = m;
    sc->w = w;
    return 0;
}

/* Reads v (present) as key k wants it; d (may be NULL outside clients) is
 * where it goes. */
static int read_value(ctx *c, const exp_key *k, const cJSON *v, const loc *at, const dest *d,
                      val *out)
{
    int rc;
    bool lo_open = (k->flags & EXP_F_LO_OPEN) != 0;
    switch (k->type) {
    case EXP_K_INT:
        return read_int(c, v, at, (int64_t)k->lo, (int64_t)k->hi, k->what, &out->i);
    case EXP_K_NUM:
        if ((rc = read_num(c, v, at, k->lo, lo_open, k->hi, k->what, &out->d)))
            return rc;
        if (k->code == EXP_CODE_RATE && out->d < EXP_MIN_RATE_HZ) {
            char got[40];
            fmt_num(out->d, got, sizeof got);
            return fail(c, at, "expected %s, got %s, below the least rate whose period the "
                        "clock holds, 1e-08 (one message in 3.2 years)", k->what, got);
        }
        return 0;
    case EXP_K_MS:
    case EXP_K_S:
        assert(k->lo == 0 && k->hi == 1e9);
        return read_time(c, v, at, k->type == EXP_K_S, lo_open, k->what, &out->d, &out->i);
    case EXP_K_BOOL:
        return read_bool(c, v, at, &out->b);
    case EXP_K_ENUM:
        return read_enum(c, v, at, k->names, k->what, &out->e);
    case EXP_K_STRING:
        return read_string(c, k, v, at, d && d->cl ? d->cl->count : 1, &out->s);
    case EXP_K_SCHEDULE:
        return read_schedule(c, k, v, at, out);
    default:
        assert(!"not a leaf");
        return 2;
    }
}

static char *base_of(const exp_key *k, const dest *d)
{
    switch (k->at) {
    case EXP_AT_CONFIG:
        return (char *)d->cfg;
    case EXP_AT_CLIENT:
        return (char *)d->cl;
    case EXP_AT_SUB:
        return (char *)d->sub;
    case EXP_AT_TCP:
        return (char *)d->tcp;
    default:
        assert(!"not a struct key");
        return NULL;
    }
}

/* The value stored for k at base (the inverse of store_field). */
static val load_field(const exp_key *k, const char *base)
{
    val v = {0};
    const char *p = base + k->off;
    switch (k->ctype) {
    case EXP_C_U8: v.i = *(const uint8_t *)p; break;
    case EXP_C_U16: v.i = *(const uint16_t *)p; break;
    case EXP_C_U32: v.i = *(const uint32_t *)p; break;
    case EXP_C_I32: v.i = *(const int32_t *)p; break;
    case EXP_C_U64: v.i = (int64_t)*(const uint64_t *)p; break;
    case EXP_C_DOUBLE:
        v.d = *(const double *)p;
        if (k->flags & EXP_F_NS_TOO)
            v.i = *(const int64_t *)(base + k->off_ns);
        break;
    case EXP_C_NS: v.i = *(const int64_t *)p; break;
    case EXP_C_BOOL: v.b = *(const bool *)p; break;
    case EXP_C_ENUM: v.e = *(const int *)p; break;
    case EXP_C_STR: v.s = *(char *const *)p; break;
    case EXP_C_SCHED: v.sched = *(const exp_sched *)p; break;
    default: assert(!"no field"); break;
    }
    return v;
}

static bool same_value(const exp_key *k, const val *a, const val *b)
{
    switch (k->ctype) {
    case EXP_C_DOUBLE: return a->d == b->d;
    case EXP_C_BOOL: return a->b == b->b;
    case EXP_C_ENUM: return a->e == b->e;
    case EXP_C_STR: return strcmp(a->s, b->s) == 0;
    default: return a->i == b->i;
    }
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* A deep copy of src (whose windows may be the arena's) into *dst, which owns
 * its windows. Returns 0 or OOM. */
static int copy_sched(exp_sched *dst, const exp_sched *src)
{
    *dst = *src;
    dst->w = NULL;
    if (!src->n)
        return 0;
    if (!(dst->w = malloc(src->n * sizeof *dst->w)))
        return OOM;
    memcpy(dst->w, src->w, src->n * sizeof *dst->w);
    return 0;
}

/* Stores v for k in the struct d names; `given`: it came from the config
 * rather than a default. Returns 0 or OOM. */
static int store_field(const exp_key *k, const dest *d, const val *v, bool given)
{
    char *base = base_of(k, d);
    char *p = base + k->off;
    switch (k->ctype) {
    case EXP_C_U8: *(uint8_t *)p = (uint8_t)v->i; break;
    case EXP_C_U16: *(uint16_t *)p = (uint16_t)v->i; break;
    case EXP_C_U32: *(uint32_t *)p = (uint32_t)v->i; break;
    case EXP_C_I32: *(int32_t *)p = (int32_t)v->i; break;
    case EXP_C_U64: *(uint64_t *)p = (uint64_t)v->i; break;
    case EXP_C_DOUBLE: *(double *)p = v->d; break;
    case EXP_C_NS: *(int64_t *)p = v->i; break;
    case EXP_C_BOOL: *(bool *)p = v->b; break;
    case EXP_C_ENUM: *(int *)p = v->e; break;
    case EXP_C_STR:
        if (!(*(char **)p = dup_str(v->s)))
            return OOM;
        break;
    case EXP_C_SCHED:
        if (copy_sched((exp_sched *)p, &v->sched))
            return OOM;
        break;
    default: assert(!"no field"); break;
    }
    if (k->flags & EXP_F_NS_TOO)
        *(int64_t *)(base + k->off_ns) = v->i;
    if ((k->flags & EXP_F_HAS) && given)
        *(bool *)(base + k->off_has) = true;
    return 0;
}

/* The table's default of key k (not an inherited one, nor the name). */
static val row_default(const exp_key *k)
{
    val v = {0};
    switch (k->type) {
    case EXP_K_INT: v.i = (int64_t)k->def; break;
    case EXP_K_NUM: v.d = k->def; break;
    case EXP_K_MS:
    case EXP_K_S:
        v.d = k->def;
        v.i = to_ns(k, k->def);
        break;
    case EXP_K_BOOL: v.b = k->def != 0; break;
    case EXP_K_ENUM: v.e = (int)k->def; break;
    case EXP_K_SCHEDULE: break;
    default: assert(!"no default"); break;
    }
    return v;
}

/* The default of struct key k, for the struct d names. */
static val default_value(const ctx *c, const exp_key *k, const dest *d)
{
    if (k->inherit) {
        const exp_key *from = exp_key_find(k->inherit);
        assert(from && from->ctype == k->ctype);
        return load_field(from, base_of(from, d));
    }
    if (k->type == EXP_K_STRING) {
        assert(k->code == EXP_CODE_NAME);
        val v = {0};
        v.s = c->default_name;
        return v;
    }
    return row_default(k);
}

/* ---------------------------------------------------------------- links -- */

/* The defaults layer of a link (at EXP_AT_LINK) or tcp (EXP_AT_TCP). */
static void default_layer(layer *p, exp_key_at at)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < exp_n_keys; i++) {
        const exp_key *k = &exp_keys[i];
        if (k->at != at || (k->flags & EXP_F_NODEF))
            continue;
        slot *s = &p->s[k->slot];
        s->set = true;
        s->at.origin = s->obj_at.origin = "default";
        s->v = row_default(k);
    }
}

/* Lays src over dst key by key. */
static void merge_layer(layer *dst, const layer *src)
{
    for (int i = 0; i < N_SLOTS; i++)
        if (src->s[i].set)
            dst->s[i] = src->s[i];
}

/* Lays src over dst, key by key, except that a layer naming a different loss
 * model (or delay dist) replaces the whole loss (or delay) object, so no
 * parameter of the old model leaks into the new one. */
static void merge_link(layer *dst, const layer *src)
{
    static const int groups[2][3] = {{EXP_LS_MODEL, EXP_LS_LOSS_FIRST, EXP_LS_LOSS_N},
                                     {EXP_LS_DIST, EXP_LS_DELAY_FIRST, EXP_LS_DELAY_N}};
    for (int g = 0; g < 2; g++) {
        const slot *m = &src->s[groups[g][0]];
        if (m->set && m->v.e != dst->s[groups[g][0]].v.e)
            for (int i = 0; i < groups[g][2]; i++)
                dst->s[groups[g][1] + i].set = false;
    }
    merge_layer(dst, src);
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

/* Checks a fully merged link against its models and fills *out and *outages. */
static int finish_link(ctx *c, const layer *p, sim_link_params *out, exp_sched *outages)
{
    char src[PATHMAX + 40];
    memset(out, 0, sizeof *out);
    const slot *model = &p->s[EXP_LS_MODEL], *dist = &p->s[EXP_LS_DIST];
    const char *model_name = link_row(EXP_LS_MODEL)->names[model->v.e];
    const char *dist_name = link_row(EXP_LS_DIST)->names[dist->v.e];
    for (int i = 0; i < EXP_LS_LOSS_N; i++) {
        const slot *s = &p->s[EXP_LS_LOSS_FIRST + i];
        if (s->set && !(LOSS_TAKES[model->v.e] & (1u << i))) {
            model_source(&model->at, "the model", src, sizeof src);
            return fail(c, &s->at,
                        "loss model \"%s\" has no parameter \"%s\" (%s; set \"model\" too)",
                        model_name, slot_name(EXP_LS_LOSS_FIRST + i), src);
        }
        if (!s->set && (LOSS_NEEDS[model->v.e] & (1u << i)))
            return fail(c, &model->obj_at, "loss model \"%s\" needs \"%s\"", model_name,
                        slot_name(EXP_LS_LOSS_FIRST + i));
    }
    /* Only what the model takes: a value a lower layer gave the model it
     * replaced must not linger (the resolved config would not reload to
     * itself). Gilbert-Elliott's loss_good and loss_bad default to 0 and 1. */
    double lp[EXP_LS_LOSS_N];
    for (int i = 0; i < EXP_LS_LOSS_N; i++) {
        const slot *s = &p->s[EXP_LS_LOSS_FIRST + i];
        lp[i] = s->set ? s->v.d : 0.0;
    }
    bool ge = model->v.e == SIM_LOSS_GILBERT_ELLIOTT;
    out->loss.kind = (sim_loss_kind)model->v.e;
    out->loss.p = lp[EXP_LS_P - EXP_LS_LOSS_FIRST];
    out->loss.p_gb = lp[EXP_LS_P_GB - EXP_LS_LOSS_FIRST];
    out->loss.p_bg = lp[EXP_LS_P_BG - EXP_LS_LOSS_FIRST];
    out->loss.loss_good = lp[EXP_LS_LOSS_GOOD - EXP_LS_LOSS_FIRST];
    out->loss.loss_bad = ge && !p->s[EXP_LS_LOSS_BAD].set ? 1.0 : lp[EXP_LS_LOSS_BAD - EXP_LS_LOSS_FIRST];

    int a = DIST_A[dist->v.e], b = DIST_B[dist->v.e];
    for (int i = EXP_LS_DELAY_FIRST; i < EXP_LS_DELAY_FIRST + EXP_LS_DELAY_N; i++) {
        const slot *s = &p->s[i];
        bool takes = i == a || i == b;
        if (s->set && !takes) {
            model_source(&dist->at, "the dist", src, sizeof src);
            return fail(c, &s->at,
                        "delay dist \"%s\" has no parameter \"%s\" (%s; set \"dist\" too)",
                        dist_name, slot_name(i), src);
        }
        if (!s->set && takes)
            return fail(c, &dist->obj_at, "delay dist \"%s\" needs \"%s\"", dist_name,
                        slot_name(i));
    }
    const slot *mn = &p->s[EXP_LS_MIN_MS], *mx = &p->s[EXP_LS_MAX_MS];
    if (dist->v.e == SIM_DIST_UNIFORM && mn->v.d > mx->v.d)
        return fail(c, &mx->at, "expected a number >= min_ms (%g), got %g", mn->v.d, mx->v.d);
    const slot *mean = &p->s[EXP_LS_MEAN_MS];
    if (dist->v.e == SIM_DIST_LOGNORMAL && !(mean->v.d > 0))
        return fail(c, &mean->at, "expected a number > 0 for a lognormal delay, got %g",
                    mean->v.d);
    out->delay.kind = (sim_dist_kind)dist->v.e;
    out->delay.a = p->s[a].v.d;
    out->delay.b = b >= 0 ? p->s[b].v.d : 0.0;
    out->bandwidth_bps = (uint64_t)p->s[EXP_LS_BANDWIDTH].v.i;
    out->reorder = p->s[EXP_LS_REORDER].v.b;
    return copy_sched(outages, &p->s[EXP_LS_OUTAGES].v.sched);
}

/* ------------------------------------------------------------- objects -- */

static int parse_member(ctx *c, const exp_key *k, const cJSON *v, const loc *at,
                        const loc *parent_at, dest *d);

/* Parses object obj (at `at`; NULL: absent, every key takes its default)
 * with the keys of node. */
static int parse_object(ctx *c, const exp_key *node, const cJSON *obj, const loc *at, dest *d)
{
    kids ks;
    kids_of(node, 0, &ks);
    int rc;
    if (obj && (rc = check_keys(c, obj, at, ks.names, NULL, NULL)))
        return rc;
    for (size_t i = 0; i < ks.n; i++) {
        loc l;
        const cJSON *v = opt(c, obj, at, ks.names[i], &l);
        if ((rc = parse_member(c, ks.k[i], v, &l, at, d)))
            return rc;
    }
    return 0;
}

/* Parses the link object obj (`node`: a link, or with EXP_F_DIR a direction)
 * into *base; a link's "up" and "down" go to dirs[0] and dirs[1]. */
static int parse_link_node(ctx *c, const exp_key *node, const cJSON *obj, const loc *at,
                           layer *base, layer *dirs)
{
    kids ks, wide;
    kids_of(node, 0, &ks);
    int rc;
    if (obj) {
        bool dir = (node->flags & EXP_F_DIR) != 0;
        if (dir)
            kids_of(exp_key_find(node->mount), 0, &wide);
        if ((rc = check_keys(c, obj, at, ks.names, dir ? wide.names : NULL,
                             "'up' and 'down' may only appear directly inside a link")))
            return rc;
    }
    dest ld = {.lay = base};
    for (size_t i = 0; i < ks.n; i++) {
        loc l;
        const cJSON *v = opt(c, obj, at, ks.names[i], &l);
        if (ks.k[i]->flags & EXP_F_TOP_LINK) {
            int d = strcmp(ks.names[i], "down") == 0;
            if (v && (rc = parse_link_node(c, ks.k[i], v, &l, &dirs[d], NULL)))
                return rc;
            continue;
        }
        if ((rc = parse_member(c, ks.k[i], v, &l, at, &ld)))
            return rc;
    }
    return 0;
}

/* A link key (the top-level one, or a client's): parses it, merges it over
 * the layers below and resolves each direction. */
static int parse_link(ctx *c, const exp_key *k, const cJSON *v, const loc *at, dest *d)
{
    layer base, dirs[2];
    memset(&base, 0, sizeof base);
    memset(dirs, 0, sizeof dirs);
    int rc = parse_link_node(c, k, v, at, &base, dirs);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++) {
        layer p;
        if (d->cl) {
            p = c->top[i];
        } else {
            default_layer(&p, EXP_AT_LINK);
        }
        merge_link(&p, &base);
        merge_link(&p, &dirs[i]);
        sim_link_params *out = d->cl ? (i ? &d->cl->down : &d->cl->up)
                                     : (i ? &d->cfg->link_down : &d->cfg->link_up);
        exp_sched *outages = d->cl ? (i ? &d->cl->down_outages : &d->cl->up_outages)
                                   : (i ? &d->cfg->link_down_outages : &d->cfg->link_up_outages);
        if ((rc = finish_link(c, &p, out, outages)))
            return rc;
        if (!d->cl)
            c->top[i] = p;
    }
    return 0;
}

/* "tcp.rto_max_ms (100)", or "the default rto_max_ms (120000)", for a
 * message about a key that another one bounds. */
static void bound_text(const loc *at, const char *name, double v, char *buf, size_t n)
{
    char num[40];
    fmt_num(v, num, sizeof num);
    if (!at->origin || strcmp(at->origin, "default") == 0)
        snprintf(buf, n, "the default %s (%s)", name, num);
    else
        snprintf(buf, n, "%s (%s%s)", at->path, num, at->origin == SET_ORIGIN ? ", by --set" : "");
}

/* Refuses lo > hi, two keys where the first may not exceed the second,
 * naming both; the message sits at whichever the config set (lo if both). */
static int check_order(ctx *c, const loc *lo_at, const char *lo_name, double lo,
                       const loc *hi_at, const char *hi_name, double hi)
{
    char other[PATHMAX + 60], got[40];
    if (lo <= hi)
        return 0;
    if (strcmp(lo_at->origin, "default") != 0) {
        bound_text(hi_at, hi_name, hi, other, sizeof other);
        fmt_num(lo, got, sizeof got);
        return fail(c, lo_at, "expected at most %s, got %s", other, got);
    }
    bound_text(lo_at, lo_name, lo, other, sizeof other);
    fmt_num(hi, got, sizeof got);
    return fail(c, hi_at, "expected at least %s, got %s", other, got);
}

/* A tcp key (the top-level one, or a client's): parses it into a layer,
 * merges it over the defaults (or the top-level tcp) and fills exp_tcp. */
static int parse_tcp(ctx *c, const exp_key *k, const cJSON *v, const loc *at, dest *d)
{
    layer base, p;
    memset(&base, 0, sizeof base);
    dest td = {.cfg = d->cfg, .cl = d->cl, .lay = &base};
    int rc = parse_object(c, k, v, at, &td);
    if (rc)
        return rc;
    if (d->cl)
        p = c->tcp_top;
    else
        default_layer(&p, EXP_AT_TCP);
    merge_layer(&p, &base);
    if (!d->cl)
        c->tcp_top = p;
    const slot *mn = &p.s[EXP_TS_RTO_MIN], *mx = &p.s[EXP_TS_RTO_MAX];
    if ((rc = check_order(c, &mn->at, "rto_min_ms", mn->v.d, &mx->at, "rto_max_ms", mx->v.d)))
        return rc;
    dest out = {.tcp = d->cl ? &d->cl->tcp : &d->cfg->tcp};
    for (size_t i = 0; i < exp_n_keys; i++)
        if (exp_keys[i].at == EXP_AT_TCP)
            store_field(&exp_keys[i], &out, &p.s[exp_keys[i].slot].v, false);
    return 0;
}

/* clients.N.reconnect: its keys, then initial_ms <= max_ms. */
static int parse_reconnect(ctx *c, const exp_key *k, const cJSON *v, const loc *at, dest *d)
{
    int rc = parse_object(c, k, v, at, d);
    if (rc)
        return rc;
    const char *names[2] = {"initial_ms", "max_ms"};
    loc l[2];
    double x[2];
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s.%s", k->path, names[i]);
        const exp_key *row = exp_key_find(path);
        const cJSON *m = opt(c, v, at, names[i], &l[i]);
        if (!m)
            l[i].origin = "default";
        x[i] = m ? m->valuedouble : row->def;
    }
    return check_order(c, &l[0], names[0], x[0], &l[1], names[1], x[1]);
}

/* MQTT's limit on a packet's Remaining Length (3.1.1 2.2.3, 5.0 1.5.5). */
#define MAX_REMAINING 268435455u

/* Refuses a publisher whose PUBLISH (its longest topic, its QoS, its payload)
 * the codec cannot encode: the run would fail at the first publish. */
static int check_packet(ctx *c, const cJSON *obj, const loc *at, const exp_config *cfg,
                        const exp_client *cl)
{
    int n = exp_config_expand(cl->topic, cl->count - 1, NULL, 0);
    assert(n >= 0 && n <= 65535);
    char *topic = malloc((size_t)n + 1);
    if (!topic)
        return OOM;
    exp_config_expand(cl->topic, cl->count - 1, topic, (size_t)n + 1);
    mq_packet pk = {.type = MQ_PUBLISH, .qos = cl->qos, .id = 1,
                    .topic = {topic, (uint16_t)n}, .payload_len = cl->payload_bytes};
    size_t size = mq_codec_size(&pk, cfg->mqtt_version);
    free(topic);
    if (size)
        return 0;
    /* Remaining Length: topic (2 + n), identifier at QoS > 0, 5.0 property length. */
    uint64_t fixed = 2u + (uint64_t)n + (cl->qos ? 2u : 0u) + (cfg->mqtt_version == 5 ? 1u : 0u);
    loc l;
    const cJSON *v = opt(c, obj, at, "payload_bytes", &l);
    (void)v;
    return fail(c, &l, "expected at most %" PRIu64 " bytes with this topic and QoS (MQTT's limit "
                "on a packet's Remaining Length is %u bytes), got %" PRIu32,
                MAX_REMAINING - fixed, MAX_REMAINING, cl->payload_bytes);
}

/* clients.N: role first, then the keys of that role. */
static int parse_client(ctx *c, const exp_key *el, const cJSON *obj, const loc *at,
                        exp_config *cfg, exp_client *cl)
{
    loc l;
    int rc;
    if (!cJSON_IsObject(obj))
        return expected(c, obj, at, el->what);
    kids all;
    kids_of(el, 0, &all);
    const exp_key *role = kid_named(&all, "role");
    const cJSON *r = opt(c, obj, at, "role", &l);
    if (!r) {
        /* A misspelt "role" is better reported as such than as missing. */
        if ((rc = check_keys(c, obj, at, all.names, NULL, NULL)))
            return rc;
        return missing(c, &l, role->missing);
    }
    val rv;
    if ((rc = read_value(c, role, r, &l, NULL, &rv)))
        return rc;
    dest d = {.cfg = cfg, .cl = cl};
    store_field(role, &d, &rv, true);
    bool pub = rv.e == EXP_PUBLISHER;
    unsigned mine = pub ? EXP_F_PUB : EXP_F_SUB, theirs = pub ? EXP_F_SUB : EXP_F_PUB;
    kids own, other;
    kids_of(el, mine, &own);
    kids_of(el, theirs, &other);
    if ((rc = check_keys(c, obj, at, own.names, other.names,
                         pub ? "not a publisher key (it is for subscribers)"
                             : "not a subscriber key (it is for publishers)")))
        return rc;
    for (size_t i = 0; i < all.n; i++) {
        const exp_key *k = all.k[i];
        if (k == role)
            continue;
        if (!(k->flags & mine)) {
            /* What the other role inherits is still filled in (a publisher's
             * qos2_method is the broker's), so hosts need not look it up. */
            if (k->inherit) {
                val v = default_value(c, k, &d);
                if (store_field(k, &d, &v, false))
                    return OOM;
            }
            continue;
        }
        const cJSON *v = opt(c, obj, at, exp_key_name(k), &l);
        if ((rc = parse_member(c, k, v, &l, at, &d)))
            return rc;
    }
    if (pub && (rc = check_packet(c, obj, at, cfg, cl)))
        return rc;
    /* A datagram client has no connection to reset, and no connection or
     * session to lose and rebuild after a crash: the model would have to
     * invent both, so it refuses instead. */
    static const char *const conn_faults[] = {"resets", "crashes"};
    for (int i = 0; i < 2 && cl->transport == EXP_DATAGRAM; i++) {
        const exp_sched *f = i ? &cl->crashes : &cl->resets;
        if (f->n || f->mtbf_ns) {
            opt(c, obj, at, conn_faults[i], &l);
            return fail(c, &l, "needs the stream transport (a datagram client has no "
                        "connection to %s); set \"transport\": \"stream\"",
                        i ? "lose and rebuild" : "reset");
        }
    }
    /* Retransmission follows the transport unless set (DESIGN.md). */
    exp_retransmit by_transport = cl->transport == EXP_STREAM ? EXP_RECONNECT : EXP_TIMER;
    cl->broker_retransmit = cfg->has_retransmit ? cfg->retransmit : by_transport;
    if (!cl->has_retransmit)
        cl->retransmit = cl->broker_retransmit;
    return 0;
}

static int parse_clients(ctx *c, const exp_key *k, const cJSON *arr, const loc *at, dest *d)
{
    if (!arr)
        return missing(c, at, k->missing);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < (int)k->lo)
        return expected(c, arr, at, k->what);
    exp_config *cfg = d->cfg;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (!(cfg->clients = calloc(n, sizeof *cfg->clients)))
        return OOM;
    cfg->n_clients = n;
    const exp_key *el = exp_key_element(k);
    size_t i = 0, npub = 0, nsub = 0;
    int rc;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        loc l;
        index_loc(c, at, i, it, &l);
        if ((rc = parse_client(c, el, it, &l, cfg, &cfg->clients[i])))
            return rc;
        if (cfg->clients[i].role == EXP_PUBLISHER)
            npub++;
        else
            nsub++;
    }
    for (i = 0; i < n && (cfg->restarts.n || cfg->restarts.mtbf_ns); i++)
        if (cfg->clients[i].transport == EXP_DATAGRAM) {
            loc top = {c->origin, ""}, bl, rl;
            const cJSON *b = member(c->root, "broker");
            child_loc(c, &top, "broker", b, &bl);
            child_loc(c, &bl, "restarts", b ? member(b, "restarts") : NULL, &rl);
            return fail(c, &rl, "needs every client on the stream transport (clients.%zu is on "
                        "datagram, which has no connection for a restart to close)", i);
        }
    if (npub == 0 || nsub == 0)
        return fail(c, at, "expected at least one publisher and one subscriber, got %zu "
                    "publisher%s and %zu subscriber%s", npub, npub == 1 ? "" : "s", nsub,
                    nsub == 1 ? "" : "s");
    uint64_t total = exp_config_clients(cfg);
    if (total > EXP_MAX_CLIENTS)
        return fail(c, at, "expected at most %d clients in all, got %" PRIu64, EXP_MAX_CLIENTS,
                    total);
    return 0;
}

static int parse_subscribe(ctx *c, const exp_key *k, const cJSON *v, const loc *at, dest *d)
{
    if (!v)
        return missing(c, at, k->missing);
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (!cJSON_IsArray(v) || n < (int)k->lo || n > (int)k->hi)
        return cJSON_IsArray(v) ? fail(c, at, "expected an array of %d to %d %s, got %d",
                                       (int)k->lo, (int)k->hi, k->noun, n)
                                : expected(c, v, at, k->what);
    const exp_key *el = exp_key_element(k);
    size_t i = 0;
    int rc;
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        loc e;
        index_loc(c, at, i, s, &e);
        dest sd = {.cfg = d->cfg, .cl = d->cl, .sub = &d->cl->subs[i]};
        if ((rc = parse_object(c, el, s, &e, &sd)))
            return rc;
        d->cl->n_subs = i + 1;
    }
    return 0;
}

/* Parses key k, whose value is v (NULL: absent) at `at`, inside the object at parent_at. */
static int parse_member(ctx *c, const exp_key *k, const cJSON *v, const loc *at,
                        const loc *parent_at, dest *d)
{
    int rc;
    val x;
    switch (k->type) {
    case EXP_K_OBJECT:
        if (k->code == EXP_CODE_LINK)
            return parse_link(c, k, v, at, d);
        if (k->code == EXP_CODE_TCP)
            return parse_tcp(c, k, v, at, d);
        if (k->code == EXP_CODE_RECONNECT)
            return parse_reconnect(c, k, v, at, d);
        return parse_object(c, k, v, at, d);
    case EXP_K_ARRAY:
        if (k->code == EXP_CODE_CLIENTS)
            return parse_clients(c, k, v, at, d);
        assert(k->code == EXP_CODE_SUBSCRIBE);
        return parse_subscribe(c, k, v, at, d);
    default:
        break;
    }
    if (v && (k->flags & EXP_F_PENDING))
        note_pending(c, at);
    if (v && k->code == EXP_CODE_V5_ONLY && d->cfg->mqtt_version != 5)
        return fail(c, at, "MQTT 5.0 only, and mqtt_version is %d%s: set mqtt_version to 5, "
                    "or leave this key out", d->cfg->mqtt_version,
                    member(c->root, "mqtt_version") ? "" : " (the default)");
    if (k->at == EXP_AT_LINK || k->at == EXP_AT_TCP) {
        if (!v)
            return 0;
        if ((rc = read_value(c, k, v, at, d, &x)))
            return rc;
        slot *s = &d->lay->s[k->slot];
        s->set = true;
        s->at = *at;
        s->obj_at = *parent_at;
        s->v = x;
        return 0;
    }
    if (!v) {
        if (k->flags & EXP_F_REQUIRED)
            return missing(c, at, k->missing);
        if (k->flags & EXP_F_NODEF)
            return 0;
        x = default_value(c, k, d);
        return store_field(k, d, &x, false);
    }
    if ((rc = read_value(c, k, v, at, d, &x)))
        return rc;
    if ((rc = store_field(k, d, &x, true)))
        return rc;
    if (k->code == EXP_CODE_TOPIC)
        d->cl->topic_pattern = strchr(x.s, '{') || strchr(x.s, '}');
    if (k->code == EXP_CODE_FILTER)
        d->sub->pattern = strchr(x.s, '{') || strchr(x.s, '}');
    return 0;
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

/* A number of seconds (or milliseconds) that loads back to exactly ns: the
 * shortest form of the nearest double that does (a config's seconds became
 * ns by rounding, so that double is within an ulp or two of ns / 1e9). */
static cJSON *num_ns(int64_t ns, bool seconds)
{
    double unit = seconds ? 1e9 : 1e6;
    double d = (double)ns / unit, up = d, down = d;
    for (int i = 0; i < 16; i++) {
        double cand = i % 2 ? (up = nextafter(up, INFINITY)) : i ? (down = nextafter(down, -INFINITY)) : d;
        if (sim_from_ms(seconds ? cand * 1000.0 : cand) == ns)
            return num(cand);
    }
    assert(!"no double converts back to these nanoseconds");
    return num(d);
}

/* Appends item (which may be NULL after a failed allocation) to arr.
 * Returns false, having freed item, when it could not. */
static bool push(cJSON *arr, cJSON *item)
{
    if (item && cJSON_AddItemToArray(arr, item))
        return true;
    cJSON_Delete(item);
    return false;
}

static cJSON *sched_json(const exp_key *k, const exp_sched *sc)
{
    if (sc->mtbf_ns > 0) {
        cJSON *o = cJSON_CreateObject();
        kids ks;
        kids_of(k, 0, &ks);
        bool ok = o != NULL;
        for (size_t i = 0; ok && i < ks.n; i++)
            ok = add(o, ks.names[i], num_ns(i == 0 ? sc->mtbf_ns : sc->down_ns, true));
        if (!ok) {
            cJSON_Delete(o);
            return NULL;
        }
        return o;
    }
    cJSON *arr = cJSON_CreateArray();
    bool pairs = k->names[1] != NULL;
    for (size_t i = 0; arr && i < sc->n; i++) {
        cJSON *e = pairs ? cJSON_CreateArray() : num_ns(sc->w[i].at_ns, true);
        if (pairs && e &&
            (!push(e, num_ns(sc->w[i].at_ns, true)) || !push(e, num_ns(sc->w[i].len_ns, true)))) {
            cJSON_Delete(e);
            e = NULL;
        }
        if (!push(arr, e)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static bool same_sched(const exp_sched *a, const exp_sched *b)
{
    if (a->n != b->n || a->mtbf_ns != b->mtbf_ns || a->down_ns != b->down_ns)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->w[i].at_ns != b->w[i].at_ns || a->w[i].len_ns != b->w[i].len_ns)
            return false;
    return true;
}

static cJSON *link_json(const sim_link_params *p, const exp_sched *outages, bool all)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *loss = cJSON_CreateObject(), *delay = cJSON_CreateObject();
    bool ok = add(o, "loss", loss);
    ok &= add(o, "delay", delay);
    if (ok) {
        const char *const *models = link_row(EXP_LS_MODEL)->names;
        const char *const *dists = link_row(EXP_LS_DIST)->names;
        const double lv[EXP_LS_LOSS_N] = {p->loss.p, p->loss.p_gb, p->loss.p_bg,
                                          p->loss.loss_good, p->loss.loss_bad};
        ok &= add(loss, "model", cJSON_CreateString(models[p->loss.kind]));
        for (int i = 0; i < EXP_LS_LOSS_N; i++)
            if (LOSS_TAKES[p->loss.kind] & (1u << i))
                ok &= add(loss, slot_name(EXP_LS_LOSS_FIRST + i), num(lv[i]));
        ok &= add(delay, "dist", cJSON_CreateString(dists[p->delay.kind]));
        ok &= add(delay, slot_name(DIST_A[p->delay.kind]), num(p->delay.a));
        if (DIST_B[p->delay.kind] >= 0)
            ok &= add(delay, slot_name(DIST_B[p->delay.kind]), num(p->delay.b));
    }
    ok &= add(o, slot_name(EXP_LS_BANDWIDTH), num((double)p->bandwidth_bps));
    ok &= add(o, slot_name(EXP_LS_REORDER), cJSON_CreateBool(p->reorder));
    const exp_key *ok_row = link_row(EXP_LS_OUTAGES);
    if (all || !(ok_row->flags & EXP_F_PENDING))
        ok &= add(o, exp_key_name(ok_row), sched_json(ok_row, outages));
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
 * directions agree, else {"up": ..., "down": ...}; outages with `all`. */
static cJSON *link_pair_json(const sim_link_params *up, const sim_link_params *down,
                             const exp_sched *up_out, const exp_sched *down_out, bool all)
{
    if (same_link(up, down) && (!all || same_sched(up_out, down_out)))
        return link_json(up, up_out, all);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add(o, "up", link_json(up, up_out, all));
    ok &= add(o, "down", link_json(down, down_out, all));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* What the writer works from. */
typedef struct {
    const exp_config *cfg;
    const exp_client *cl;
    const exp_sub *sub;
    const exp_tcp *tcp;
    bool all;                 /* pending keys too */
} wctx;

static cJSON *leaf_json(const exp_key *k, const val *v)
{
    switch (k->type) {
    case EXP_K_INT:
        return num((double)v->i);
    case EXP_K_NUM:
        return num(v->d);
    case EXP_K_MS:
    case EXP_K_S:
        return k->ctype == EXP_C_NS ? num_ns(v->i, k->type == EXP_K_S) : num(v->d);
    case EXP_K_SCHEDULE:
        return sched_json(k, &v->sched);
    case EXP_K_BOOL:
        return cJSON_CreateBool(v->b);
    case EXP_K_ENUM:
        return cJSON_CreateString(k->names[v->e]);
    case EXP_K_STRING:
        return cJSON_CreateString(v->s);
    default:
        assert(!"not a leaf");
        return NULL;
    }
}

static bool write_members(cJSON *o, const exp_key *node, const wctx *w);

/* The value of key k, or NULL with *skip when it is not written. */
static cJSON *member_json(const exp_key *k, const wctx *w, bool *skip)
{
    *skip = false;
    const exp_client *cl = w->cl;
    if (cl && (k->flags & (EXP_F_PUB | EXP_F_SUB))) {
        unsigned mine = cl->role == EXP_PUBLISHER ? EXP_F_PUB : EXP_F_SUB;
        if (!(k->flags & mine)) {
            *skip = true;
            return NULL;
        }
    }
    if (((k->flags & EXP_F_PENDING) && !w->all) ||
        (k->code == EXP_CODE_V5_ONLY && w->cfg->mqtt_version != 5)) {
        *skip = true;
        return NULL;
    }
    switch (k->type) {
    case EXP_K_OBJECT: {
        if (k->code == EXP_CODE_LINK)
            return cl ? link_pair_json(&cl->up, &cl->down, &cl->up_outages, &cl->down_outages,
                                       w->all)
                      : link_pair_json(&w->cfg->link_up, &w->cfg->link_down,
                                       &w->cfg->link_up_outages, &w->cfg->link_down_outages,
                                       w->all);
        wctx wo = *w;
        if (k->code == EXP_CODE_TCP)
            wo.tcp = cl ? &cl->tcp : &w->cfg->tcp;
        cJSON *o = cJSON_CreateObject();
        if (o && !write_members(o, k, &wo)) {
            cJSON_Delete(o);
            o = NULL;
        }
        return o;
    }
    case EXP_K_ARRAY: {
        cJSON *arr = cJSON_CreateArray();
        if (!arr)
            return NULL;
        const exp_key *el = exp_key_element(k);
        size_t n = k->code == EXP_CODE_CLIENTS ? w->cfg->n_clients : cl->n_subs;
        for (size_t i = 0; i < n; i++) {
            wctx we = *w;
            if (k->code == EXP_CODE_CLIENTS)
                we.cl = &w->cfg->clients[i];
            else
                we.sub = &cl->subs[i];
            cJSON *e = cJSON_CreateObject();
            if (e && !cJSON_AddItemToArray(arr, e)) {
                cJSON_Delete(e);
                e = NULL;
            }
            if (!e || !write_members(e, el, &we)) {
                cJSON_Delete(arr);
                return NULL;
            }
        }
        return arr;
    }
    default:
        break;
    }
    const char *base = k->at == EXP_AT_CONFIG ? (const char *)w->cfg
                       : k->at == EXP_AT_CLIENT ? (const char *)cl
                       : k->at == EXP_AT_TCP    ? (const char *)w->tcp
                                                : (const char *)w->sub;
    if ((k->flags & EXP_F_IF_GIVEN) && !*(const bool *)(base + k->off_has)) {
        *skip = true;
        return NULL;
    }
    val v = load_field(k, base);
    if (cl && cl->role == EXP_SUBSCRIBER && (k->flags & EXP_F_SUB_OWN)) {
        const exp_key *from = exp_key_find(k->inherit);
        val inherited = load_field(from, (const char *)w->cfg);
        if (same_value(k, &v, &inherited)) {
            *skip = true;
            return NULL;
        }
    }
    return leaf_json(k, &v);
}

/* Writes node's keys into o in table order (EXP_F_WRITE_LAST ones after the
 * rest). Returns false when out of memory. */
static bool write_members(cJSON *o, const exp_key *node, const wctx *w)
{
    kids ks;
    kids_of(node, 0, &ks);
    for (int last = 0; last < 2; last++) {
        for (size_t i = 0; i < ks.n; i++) {
            const exp_key *k = ks.k[i];
            if (((k->flags & EXP_F_WRITE_LAST) != 0) != last)
                continue;
            bool skip;
            cJSON *item = member_json(k, w, &skip);
            if (skip)
                continue;
            if (!add(o, ks.names[i], item))
                return false;
        }
    }
    return true;
}

/* The resolved config as compact JSON text (cJSON-allocated), or NULL when out of memory. */
static char *resolved_json(const exp_config *cfg, bool all)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    wctx w = {.cfg = cfg, .all = all};
    char *text = write_members(o, NULL, &w) ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* ------------------------------------------------------------ top level -- */

/* Validates root into cfg; default_name is used when "name" is absent. */
/* The most copies of one unacknowledged message (or CONNECT, SUBSCRIBE,
 * PUBREL) a timer may send within the mean round trip of its client's path:
 * each copy is held in memory for the whole trip, so far beyond it the run's
 * memory grows without bound (1e-6 ms against 10 ms each way took 2.7 GB in
 * 30 s). With up to 20 messages in flight per session, 10^5 copies are some
 * 400 MB; the host also fails any run that holds too many frames at once. */
#define MAX_COPIES_PER_RTT 1e5

/* The mean delay of d in ms (a Pareto's without a mean: its least). */
static double mean_delay_ms(const sim_dist *d)
{
    double m = sim_dist_mean(d);
    return isfinite(m) ? m : d->a;
}

/* Refuses a timer retry interval so far below a client's round trip that the
 * resends in flight would exhaust memory, naming the key that set it. */
static int check_resend_volume(ctx *c, const cJSON *root, const exp_config *cfg)
{
    const cJSON *clients = member(root, "clients");
    for (size_t i = 0; i < cfg->n_clients; i++) {
        const exp_client *cl = &cfg->clients[i];
        double rtt_ms = mean_delay_ms(&cl->up.delay) + mean_delay_ms(&cl->down.delay);
        for (int broker_side = 0; broker_side < 2; broker_side++) {
            exp_retransmit rule = broker_side ? cl->broker_retransmit : cl->retransmit;
            int64_t every = broker_side ? cfg->retry_interval_ns : cl->retry_interval_ns;
            double copies = rtt_ms * 1e6 / (double)every;
            if (rule != EXP_TIMER || every <= 0 || !(copies > MAX_COPIES_PER_RTT))
                continue;
            loc at = {c->origin, ""}, arr, cat, l;
            const cJSON *obj = cJSON_GetArrayItem(clients, (int)i);
            child_loc(c, &at, "clients", clients, &arr);
            index_loc(c, &arr, i, obj, &cat);
            char snum[40], least[40], rtt[40];
            if (!broker_side && member(obj, "retry_interval_ms")) {
                opt(c, obj, &cat, "retry_interval_ms", &l);
                fmt_num(cl->retry_interval_ms, snum, sizeof snum);
            } else {
                child_loc(c, &at, "broker", member(root, "broker"), &l);
                loc b = l;
                opt(c, member(root, "broker"), &b, "retry_interval_ms", &l);
                fmt_num(cfg->retry_interval_ms, snum, sizeof snum);
            }
            fmt_num(rtt_ms * 1e6 / MAX_COPIES_PER_RTT / 1e6, least, sizeof least);
            fmt_num(rtt_ms, rtt, sizeof rtt);
            return fail(c, &l, "%s ms resends an unacknowledged packet about %.3g times "
                        "within the %s ms mean round trip of %s's link (%s side), more than "
                        "the %.0f copies a run may hold in flight (each held in memory for "
                        "the whole trip, so memory would grow without bound); expected at "
                        "least %s ms for this link",
                        snum, copies, rtt, cat.path, broker_side ? "broker" : "client",
                        MAX_COPIES_PER_RTT, least);
        }
    }
    return 0;
}

/* The most random outage windows one link direction may draw in a run: each
 * is drawn when the link is next used, so far beyond it a run takes hours
 * (mtbf 1 ns and mttr 100 ns over 130 s are 1.3e9 windows, some 2 minutes). */
#define MAX_OUTAGE_DRAWS 1e8

/* Refuses random outages so short and frequent that drawing them would take
 * the run hours: over duration_s + drain_s + 60 s (the least setup limit). */
static int check_outage_draws(ctx *c, const cJSON *root, const exp_config *cfg)
{
    double horizon_s = cfg->duration_s + cfg->drain_s + 60;
    const cJSON *clients = member(root, "clients");
    for (size_t i = 0; i < cfg->n_clients; i++)
        for (int d = 0; d < 2; d++) {
            const exp_sched *o = d ? &cfg->clients[i].down_outages : &cfg->clients[i].up_outages;
            if (o->mtbf_ns <= 0)
                continue;
            double cycle_s = ((double)o->mtbf_ns + (double)o->down_ns) / 1e9;
            double draws = horizon_s / cycle_s;
            if (!(draws > MAX_OUTAGE_DRAWS))
                continue;
            loc at = {c->origin, ""}, arr, cat;
            child_loc(c, &at, "clients", clients, &arr);
            index_loc(c, &arr, i, cJSON_GetArrayItem(clients, (int)i), &cat);
            char cyc[40], least[40], hor[40];
            fmt_num(cycle_s, cyc, sizeof cyc);
            fmt_num(horizon_s / MAX_OUTAGE_DRAWS, least, sizeof least);
            fmt_num(horizon_s, hor, sizeof hor);
            return fail(c, &cat, "the random outages of its %s link (mtbf_s + mttr_s = %s s) "
                        "would draw about %.3g outage windows in a run of up to %s s "
                        "(duration_s + drain_s + 60 s of setup), more than the %.0e a run may "
                        "draw; expected mtbf_s + mttr_s of at least %s s",
                        d ? "down" : "up", cyc, draws, hor, MAX_OUTAGE_DRAWS, least);
        }
    return 0;
}

static int build(ctx *c, const cJSON *root, const char *default_name, exp_config *cfg)
{
    loc at = {c->origin, ""};
    c->default_name = default_name;
    c->root = root;
    c->cfg = cfg;
    if (member(root, "vary") || member(root, "cases"))
        return fail(c, &at, "a sweep file (it has a top-level \"%s\"), not an experiment "
                    "config", member(root, "vary") ? "vary" : "cases");
    dest d = {.cfg = cfg};
    int rc = parse_object(c, NULL, root, &at, &d);
    if (rc)
        return rc;
    if ((rc = check_resend_volume(c, root, cfg)) || (rc = check_outage_draws(c, root, cfg)))
        return rc;
    if (c->n_pending) {
        char more[40] = "";
        if (c->n_pending > 6)
            snprintf(more, sizeof more, " and %zu more", c->n_pending - 6);
        if ((rc = warn(c, &at, "not simulated yet, so these keys change nothing in this run: "
                       "%s%s", c->pending, more)))
            return rc;
    }
    if (!(cfg->json = resolved_json(cfg, false)))
        return OOM;
    if (c->warnings) {
        cfg->warnings = c->warnings;
        c->warnings = NULL;
    }
    return 0;
}

/* ------------------------------------------------------------- scanning -- */

/* The line and column (from 1) of pos in text. */
static void line_col(const char *text, const char *pos, size_t *line, size_t *col)
{
    *line = *col = 1;
    for (const char *p = text; p < pos && *p; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Walks JSON text, stopping at the first "\u0000" escape inside a string
 * (which cJSON turns into a C string cut short) or, when end is not NULL, at
 * the first bracket that opens a level deeper than cJSON's nesting limit
 * before end. Returns where it stopped (*deep tells which), or NULL. O(n). */
static const char *scan_json(const char *text, const char *end, bool *deep)
{
    int depth = 0;
    bool in_str = false;
    *deep = false;
    for (const char *p = text; *p && (!end || p < end); p++) {
        if (in_str) {
            if (*p == '\\') {
                if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
                    return p;
                if (p[1])
                    p++;
            } else if (*p == '"') {
                in_str = false;
            }
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '[' || *p == '{') {
            if (end && ++depth > CJSON_NESTING_LIMIT) {
                *deep = true;
                return p;
            }
        } else if (*p == ']' || *p == '}') {
            depth--;
        }
    }
    return NULL;
}

static const char NUL_MSG[] = "\\u0000 (U+0000) in a string: MQTT forbids it in topic names "
                              "and filters, and no key of a config takes it";

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

/* Reports seg as an unknown key under the object node at `at`. */
static int unknown_seg(ctx *c, const loc *at, const kids *ks, const char *seg)
{
    loc l;
    child_loc(c, at, seg, NULL, &l);
    const char *near = closest(seg, ks->names);
    if (near)
        return fail(c, &l, "unknown key; did you mean '%s'?", near);
    char all[1024];
    join(ks->names, "", all, sizeof all);
    return fail(c, &l, "unknown key; expected one of: %s", all);
}

/* A place in the key table for walking a path: a row, and inside a schedule
 * how deep (0: the schedule; 1: an entry; 2: a field of a [t, d] pair). */
typedef struct {
    const exp_key *k;   /* NULL: the top level */
    int depth;
} place;

static bool is_leaf(place p)
{
    if (!p.k)
        return false;
    if (p.k->type == EXP_K_SCHEDULE)
        return p.depth == 2 || (p.depth == 1 && !p.k->names[1]);
    return p.k->type != EXP_K_OBJECT && p.k->type != EXP_K_ARRAY;
}

/* Walks key_path down the key table; with root, also down the JSON, creating
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
    place node = {NULL, 0};
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
        place next = {NULL, 0};
        size_t index = 0;
        /* A schedule is an object (its random form) or an array (its entries). */
        bool in_object = !node.k || node.k->type == EXP_K_OBJECT ||
                         (node.k->type == EXP_K_SCHEDULE && node.depth == 0 &&
                          !parse_index(seg, &index));
        if (in_object) {
            kids ks;
            kids_of(node.k, 0, &ks);
            next.k = kid_named(&ks, seg);
            if (!next.k) {
                rc = unknown_seg(c, &at, &ks, seg);
                goto out;
            }
        } else {
            if (!parse_index(seg, &index)) {
                loc l;
                child_loc(c, &at, seg, NULL, &l);
                rc = fail(c, &l, "expected an array index (0, 1, ...)");
                goto out;
            }
            if (node.k->type == EXP_K_SCHEDULE) {
                next.k = node.k;
                next.depth = node.depth + 1;
            } else {
                assert(node.k->type == EXP_K_ARRAY);
                next.k = exp_key_element(node.k);
            }
        }
        loc here;
        child_loc(c, &at, seg, NULL, &here);
        if (!last && is_leaf(next)) {
            loc l;
            child_loc(c, &here, dot + 1, NULL, &l);
            rc = fail(c, &l, "%s takes a value, it has no keys", here.path);
            goto out;
        }
        if (json) {
            cJSON *child;
            if (in_object) {
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
                    size_t ignored;
                    bool object = next.k->type == EXP_K_OBJECT ||
                                  (next.k->type == EXP_K_SCHEDULE && next.depth == 0 &&
                                   !parse_index(dot + 1, &ignored) && !strchr(dot + 1, '.'));
                    if (!object) {
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
    bool deep;
    if (value && scan_json(eq + 1, NULL, &deep)) {
        cJSON_Delete(value);
        loc l = {SET_ORIGIN, ""};
        snprintf(l.path, sizeof l.path, "%s", path);
        free(path);
        return fail(c, &l, "%s", NUL_MSG);
    }
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
    size_t line, col;
    bool deep;
    const char *d = scan_json(text, pos + 1, &deep);
    if (d && deep) {
        line_col(text, d, &line, &col);
        if (c->err && c->errlen)
            snprintf(c->err, c->errlen, "%s:%zu:%zu: nested deeper than %d levels, the most a "
                     "config may nest", c->origin, line, col, CJSON_NESTING_LIMIT);
        return 2;
    }
    line_col(text, pos, &line, &col);
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
    /* The context holds the top-level link layers: too big for some stacks' taste. */
    ctx *c = calloc(1, sizeof *c);
    if (!c) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", origin ? origin : "<config>");
        return OOM;
    }
    c->origin = origin ? origin : "<config>";
    c->err = err;
    c->errlen = errlen;
    loc top = {c->origin, ""};
    int rc;

    const char *end = NULL;
    const char *p = text;
    cJSON *root = NULL;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    if (!*p) {
        rc = fail(c, &top, "empty file; expected a JSON object");
        goto out;
    }
    bool deep;
    const char *nul = scan_json(text, NULL, &deep);
    if (nul) {
        size_t line, col;
        line_col(text, nul, &line, &col);
        if (err && errlen)
            snprintf(err, errlen, "%s:%zu:%zu: %s", c->origin, line, col, NUL_MSG);
        rc = 2;
        goto out;
    }
    root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        rc = syntax_error(c, text, end ? end : text);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = expected(c, root, &top, "a JSON object at the top level");
        goto out;
    }
    for (size_t i = 0; i < nsets; i++)
        if ((rc = apply_set(c, root, sets[i])))
            goto out;
    char name[MAX_NAME + 1];
    base_name(origin, name, sizeof name);
    if ((rc = build(c, root, name, cfg)))
        goto out;
    if (!(cfg->origin = dup_str(c->origin)) ||
        !(cfg->base_dir = dup_str(base_dir ? base_dir : ".")))
        rc = OOM;
out:
    if (rc == OOM && err && errlen)
        snprintf(err, errlen, "%s: out of memory", c->origin);
    if (rc)
        exp_config_free(cfg);
    free(c->set_items);
    for (size_t i = 0; i < c->n_arena; i++)
        free(c->arena[i]);
    free(c->arena);
    free(c->warnings);
    free(c);
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
        free(cl->up_outages.w);
        free(cl->down_outages.w);
        free(cl->resets.w);
        free(cl->crashes.w);
    }
    free(cfg->clients);
    free(cfg->name);
    free(cfg->restarts.w);
    free(cfg->link_up_outages.w);
    free(cfg->link_down_outages.w);
    free(cfg->warnings);
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
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
    int rc = walk_path(&c, key_path, NULL, NULL);
    if (rc == OOM && err && errlen)
        snprintf(err, errlen, "out of memory");
    return rc ? 2 : 0;
}

char *exp_config_json(const exp_config *cfg, bool all)
{
    char *text = resolved_json(cfg, all);
    char *copy = text ? dup_str(text) : NULL;
    cJSON_free(text);
    return copy;
}

int exp_config_expand(const char *pattern, uint32_t index, char *buf, size_t cap)
{
    return mq_topic_expand(pattern, index, buf, cap);
}

uint64_t exp_config_clients(const exp_config *cfg)
{
    uint64_t n = 0;
    for (size_t i = 0; i < cfg->n_clients; i++)
        n += cfg->clients[i].count;
    return n;
}

/* Whether some client of pub's group publishes on a topic that a filter of
 * some client of sub's group matches: 1, 0, or -1 when the groups' patterns
 * give more pairs than the tries cover. */
static int entries_match(const exp_client *pub, const exp_client *sub)
{
    uint32_t np = pub->topic_pattern ? pub->count : 1;
    int verdict = 0;
    for (size_t f = 0; f < sub->n_subs; f++) {
        const exp_sub *es = &sub->subs[f];
        uint32_t ns = es->pattern ? sub->count : 1;
        if (np > EXP_MATCH_TRIES || ns > EXP_MATCH_TRIES)
            verdict = -1;
        char topic[65536], filter[65536];
        for (uint32_t i = 0; i < np && i < EXP_MATCH_TRIES; i++) {
            int tl = exp_config_expand(pub->topic, i, topic, sizeof topic);
            for (uint32_t j = 0; j < ns && j < EXP_MATCH_TRIES; j++) {
                int fl = exp_config_expand(es->filter, j, filter, sizeof filter);
                if (mq_topic_match(filter, (size_t)fl, topic, (size_t)tl))
                    return 1;
            }
        }
    }
    return verdict;
}

int exp_config_match(const exp_config *cfg)
{
    int verdict = 0;
    for (size_t p = 0; p < cfg->n_clients; p++) {
        if (cfg->clients[p].role != EXP_PUBLISHER)
            continue;
        for (size_t s = 0; s < cfg->n_clients; s++) {
            if (cfg->clients[s].role != EXP_SUBSCRIBER)
                continue;
            int m = entries_match(&cfg->clients[p], &cfg->clients[s]);
            if (m == 1)
                return 1;
            if (m < 0)
                verdict = -1;
        }
    }
    return verdict;
}

double exp_config_expected_messages(const exp_config *cfg)
{
    double n = 0;
    for (size_t i = 0; i < cfg->n_clients; i++)
        if (cfg->clients[i].role == EXP_PUBLISHER)
            n += (double)cfg->clients[i].count * cfg->clients[i].rate_hz * cfg->duration_s;
    return n;
}

bool exp_config_parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    cJSON *v = cJSON_ParseWithOpts(text, NULL, 1);
    bool ok = false;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && d >= (double)lo && d <= (double)hi) {
            *out = (int64_t)d;
            ok = true;
        }
    }
    cJSON_Delete(v);
    return ok;
}

bool exp_config_is_sweep_file(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return false;
    cJSON *root = cJSON_Parse(text);
    bool sweep = cJSON_IsObject(root) && (member(root, "vary") || member(root, "cases"));
    cJSON_Delete(root);
    free(text);
    return sweep;
}
