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
#include "experiments/keys.h"
#include "models/topic.h"
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
    layer top[2];              /* the top-level link per direction, merged over the defaults */
} ctx;

/* Where stored values go. */
typedef struct {
    exp_config *cfg;
    exp_client *cl;
    exp_sub *sub;
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

/* ---------------------------------------------------------------- values -- */

/* The nanoseconds of a MS or S key's value, rounded as the simulator's hosts
 * round (sim_from_ms). Exact for every value the ranges allow. */
static int64_t to_ns(const exp_key *k, double d)
{
    return sim_from_ms(k->type == EXP_K_S ? d * 1000.0 : d);
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

/* The checks of a STRING key. */
static int read_string(ctx *c, const exp_key *k, const cJSON *v, const loc *at, const char **out)
{
    bool ok = cJSON_IsString(v);
    if (ok) {
        const char *s = v->valuestring;
        size_t len = strlen(s);
        switch (k->code) {
        case EXP_CODE_NAME:
            ok = name_ok(s);
            break;
        case EXP_CODE_TOPIC:
            ok = mq_topic_name_valid(s, len) && len <= 65535;
            break;
        case EXP_CODE_FILTER:
            ok = mq_topic_filter_valid(s, len) && len <= 65535;
            break;
        default:
            assert(!"a STRING key without its check");
        }
    }
    if (!ok)
        return expected(c, v, at, k->what);
    *out = v->valuestring;
    return 0;
}

/* Reads v (present) as key k wants it. */
static int read_value(ctx *c, const exp_key *k, const cJSON *v, const loc *at, val *out)
{
    int rc;
    bool lo_open = (k->flags & EXP_F_LO_OPEN) != 0;
    switch (k->type) {
    case EXP_K_INT:
        return read_int(c, v, at, (int64_t)k->lo, (int64_t)k->hi, k->what, &out->i);
    case EXP_K_NUM:
        return read_num(c, v, at, k->lo, lo_open, k->hi, k->what, &out->d);
    case EXP_K_MS:
    case EXP_K_S:
        if ((rc = read_num(c, v, at, k->lo, lo_open, k->hi, k->what, &out->d)))
            return rc;
        out->i = to_ns(k, out->d);
        return 0;
    case EXP_K_BOOL:
        return read_bool(c, v, at, &out->b);
    case EXP_K_ENUM:
        return read_enum(c, v, at, k->names, k->what, &out->e);
    case EXP_K_STRING:
        return read_string(c, k, v, at, &out->s);
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
    default: assert(!"no field"); break;
    }
    if (k->flags & EXP_F_NS_TOO)
        *(int64_t *)(base + k->off_ns) = v->i;
    if ((k->flags & EXP_F_HAS) && given)
        *(bool *)(base + k->off_has) = true;
    return 0;
}

/* The default of struct key k, for the struct d names. */
static val default_value(const ctx *c, const exp_key *k, const dest *d)
{
    val v = {0};
    if (k->inherit) {
        const exp_key *from = exp_key_find(k->inherit);
        assert(from && from->ctype == k->ctype);
        return load_field(from, base_of(from, d));
    }
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
    case EXP_K_STRING:
        assert(k->code == EXP_CODE_NAME);
        v.s = c->default_name;
        break;
    default: assert(!"not a leaf"); break;
    }
    return v;
}

/* ---------------------------------------------------------------- links -- */

static void default_link(layer *p)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < exp_n_keys; i++) {
        const exp_key *k = &exp_keys[i];
        if (k->at != EXP_AT_LINK || (k->flags & EXP_F_NODEF))
            continue;
        slot *s = &p->s[k->slot];
        s->set = true;
        s->at.origin = s->obj_at.origin = "default";
        s->v.i = (int64_t)k->def;
        s->v.d = k->def;
        s->v.b = k->def != 0;
        s->v.e = (int)k->def;
    }
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
    for (int i = 0; i < EXP_LS_N; i++)
        if (src->s[i].set)
            dst->s[i] = src->s[i];
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
static int finish_link(ctx *c, const layer *p, sim_link_params *out)
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
    out->loss.kind = (sim_loss_kind)model->v.e;
    out->loss.p = p->s[EXP_LS_P].v.d;
    out->loss.p_gb = p->s[EXP_LS_P_GB].v.d;
    out->loss.p_bg = p->s[EXP_LS_P_BG].v.d;
    out->loss.loss_good = p->s[EXP_LS_LOSS_GOOD].set ? p->s[EXP_LS_LOSS_GOOD].v.d : 0.0;
    out->loss.loss_bad = p->s[EXP_LS_LOSS_BAD].set ? p->s[EXP_LS_LOSS_BAD].v.d : 1.0;

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
    return 0;
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
            default_link(&p);
        }
        merge_link(&p, &base);
        merge_link(&p, &dirs[i]);
        sim_link_params *out = d->cl ? (i ? &d->cl->down : &d->cl->up)
                                     : (i ? &d->cfg->link_down : &d->cfg->link_up);
        if ((rc = finish_link(c, &p, out)))
            return rc;
        if (!d->cl)
            c->top[i] = p;
    }
    return 0;
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
    if ((rc = read_value(c, role, r, &l, &rv)))
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
    if (npub == 0 || nsub == 0)
        return fail(c, at, "expected at least one publisher and one subscriber, got %zu "
                    "publisher%s and %zu subscriber%s", npub, npub == 1 ? "" : "s", nsub,
                    nsub == 1 ? "" : "s");
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
        return parse_object(c, k, v, at, d);
    case EXP_K_ARRAY:
        if (k->code == EXP_CODE_CLIENTS)
            return parse_clients(c, k, v, at, d);
        assert(k->code == EXP_CODE_SUBSCRIBE);
        return parse_subscribe(c, k, v, at, d);
    default:
        break;
    }
    if (k->at == EXP_AT_LINK) {
        if (!v)
            return 0;
        if ((rc = read_value(c, k, v, at, &x)))
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
        x = default_value(c, k, d);
        return store_field(k, d, &x, false);
    }
    if ((rc = read_value(c, k, v, at, &x)))
        return rc;
    return store_field(k, d, &x, true);
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

/* What the writer works from. */
typedef struct {
    const exp_config *cfg;
    const exp_client *cl;
    const exp_sub *sub;
    bool all;                 /* pending keys too */
} wctx;

static cJSON *leaf_json(const exp_key *k, const val *v)
{
    switch (k->type) {
    case EXP_K_INT:
        return num((double)v->i);
    case EXP_K_NUM:
    case EXP_K_MS:
    case EXP_K_S:
        return num(v->d);
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
    if ((k->flags & EXP_F_PENDING) && !w->all) {
        *skip = true;
        return NULL;
    }
    switch (k->type) {
    case EXP_K_OBJECT: {
        if (k->code == EXP_CODE_LINK)
            return cl ? link_pair_json(&cl->up, &cl->down)
                      : link_pair_json(&w->cfg->link_up, &w->cfg->link_down);
        cJSON *o = cJSON_CreateObject();
        if (o && !write_members(o, k, w)) {
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
                                                : (const char *)w->sub;
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
static int build(ctx *c, const cJSON *root, const char *default_name, exp_config *cfg)
{
    loc at = {c->origin, ""};
    c->default_name = default_name;
    dest d = {.cfg = cfg};
    int rc = parse_object(c, NULL, root, &at, &d);
    if (rc)
        return rc;
    if (!(cfg->json = resolved_json(cfg, false)))
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

static bool is_leaf(const exp_key *k)
{
    return k->type != EXP_K_OBJECT && k->type != EXP_K_ARRAY;
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
    const exp_key *node = NULL; /* the top level */
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
        const exp_key *next;
        size_t index = 0;
        bool in_object = !node || node->type == EXP_K_OBJECT;
        if (in_object) {
            kids ks;
            kids_of(node, 0, &ks);
            next = kid_named(&ks, seg);
            if (!next) {
                rc = unknown_seg(c, &at, &ks, seg);
                goto out;
            }
        } else {
            assert(node->type == EXP_K_ARRAY);
            if (!parse_index(seg, &index)) {
                loc l;
                child_loc(c, &at, seg, NULL, &l);
                rc = fail(c, &l, "expected an array index (0, 1, ...)");
                goto out;
            }
            next = exp_key_element(node);
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
                    if (next->type != EXP_K_OBJECT) {
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
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
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
