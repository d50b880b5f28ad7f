/* Fuzz harness for the config loader: configs shaped by the key table, their values at and past the edges. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "experiments/config.h"
#include "experiments/keys.h"
#include "experiments/run.h"

/*
 * Raw-byte mutation of JSON text almost never yields a config the loader
 * accepts, so the bytes here do not spell JSON: they steer a generator that
 * walks the key table (experiments/keys.c), choosing which keys to give and
 * what each holds: its default, its bounds, just past them, 0, 1e-300, 1e308,
 * a random magnitude, a wrong type, a deep nest, strings near their length
 * limits, unicode and invalid UTF-8, unknown keys; then up to three `--set`
 * overrides of table paths with values drawn the same way. A byte past the
 * input's end reads as 0, which always picks the plainest choice, so short
 * inputs make small, mostly valid configs.
 *
 * The loader must answer 0, 1 or 2 with a message. When it accepts:
 *  - the resolved config (with and without the keys not simulated yet)
 *    loads again and resolves to the same text, and cfg->json is it;
 *  - a run of it, bounded here (publishing at most 0.5 s and 10 messages,
 *    draining at most 2 s, at most 3 clients an entry, 2e5 scheduler
 *    events; none when random outages come more often than every 100 us,
 *    whose drawing is slow), ends without a crash, an assertion or undefined behaviour (the
 *    libFuzzer build has the sanitizers), either succeeds with no message
 *    record left alive, or fails for a reason a run may honestly fail for
 *    (setup not completed within its limit, the event budget, the bound on
 *    frames held on the links): never an accounting or engine error.
 */

size_t fuzz_config_accepted, fuzz_config_ran;

typedef struct {
    const uint8_t *d;
    size_t n, pos;
} src;

static unsigned byte(src *s)
{
    return s->pos < s->n ? s->d[s->pos++] : 0;
}

/* A choice in [0, n), n <= 65536. */
static unsigned pick(src *s, unsigned n)
{
    unsigned v = byte(s);
    if (n > 256)
        v = v << 8 | byte(s);
    return v % n;
}

/* A string of n copies of c (with a trailing NUL), for limits of length. */
static char *repeat(char c, size_t n)
{
    char *t = malloc(n + 1);
    FUZZ_CHECK(t);
    memset(t, c, n);
    t[n] = '\0';
    return t;
}

static cJSON *make_string(src *s, int code)
{
    static const char *const names[] = {"f", "a-b", "", ".", "..", "a/b", "\x01", "\xc3\xa9",
                                        "\xff\xfe", "n\xe2\x80\x8b", " "};
    static const char *const topics[] = {"x", "t/{i}", "t/1", "a/b/c", "+", "#", "", "{",
                                         "}", "{{}}", "{i}{i}", "a\xff" "b", "\xc3\xa9/\xc3\xbc",
                                         "$SYS/x", "/", "t/+", "x/#", "\xed\xa0\x80",
                                         "\xef\xbf\xbf", "a//b"};
    static const char *const filters[] = {"x", "#", "+", "t/+", "t/#", "+/#", "t/{i}", "a#",
                                          "a/+b", "", "$SYS/#", "t/1", "{i}", "/+", "x/#/y",
                                          "\xc3\xa9", "\xc0\x80", "{"};
    unsigned b = byte(s);
    if (b < 128) {
        static const char *const plain[3][3] = {{"x", "t/1", "t/{i}"}, {"x", "#", "t/+"},
                                                {"f", "g", "exp-1"}};
        int row = code == EXP_CODE_NAME ? 2 : code == EXP_CODE_FILTER ? 1 : 0;
        return cJSON_CreateString(plain[row][b % 3]);
    }
    unsigned c = b % 16;
    if (c == 13 || c == 14 || c == 15) {
        /* Near the limits: names 200 bytes, topics and filters 65535. */
        size_t lim = code == EXP_CODE_NAME ? 200 : 65535;
        size_t n = lim - 1 + (c - 13);
        if (c == 15 && byte(s) & 1)
            n = lim - 20 + pick(s, 40);
        char *t = repeat('a', n);
        cJSON *j = cJSON_CreateString(t);
        free(t);
        return j;
    }
    if (code == EXP_CODE_NAME)
        return cJSON_CreateString(names[pick(s, sizeof names / sizeof names[0])]);
    if (code == EXP_CODE_FILTER)
        return cJSON_CreateString(filters[pick(s, sizeof filters / sizeof filters[0])]);
    return cJSON_CreateString(topics[pick(s, sizeof topics / sizeof topics[0])]);
}

/* A number somewhere: a mantissa and a power of ten from -320 to 310. */
static double any_magnitude(src *s)
{
    double m = 1 + pick(s, 1000) / 100.0;
    int e = (int)pick(s, 631) - 320;
    double v = m * pow(10, e);
    return byte(s) & 1 ? -v : v;
}

/* Text no number parser agrees on, as raw JSON or in a string. */
static const char *const odd_numbers[] = {"NaN", "1e999", "-1e999", "-0", "1E-400", "0x10",
                                          "Infinity", "1.", "+1", "01", "1e308", "4.9e-324"};

static cJSON *make_number(src *s, const exp_key *k)
{
    double lo = k->lo, hi = k->hi;
    double mid = isfinite(hi) ? (lo + hi) / 2 : lo + 1;
    double base = (k->flags & (EXP_F_REQUIRED | EXP_F_NODEF)) || k->inherit ? mid : k->def;
    bool integer = k->type == EXP_K_INT;
    bool open = k->flags & EXP_F_LO_OPEN;
    unsigned b = byte(s);
    if (b < 128) {
        /* In range, at its edges too: the least, the greatest, the tiniest
         * above an open bound (below a nanosecond for times). */
        double top = isfinite(hi) ? hi : lo + 1e6, v;
        switch (b % 8) {
        case 1: v = open ? lo + (integer ? 1 : 1e-6) : lo; break;
        case 2: v = top; break;
        case 3: v = lo + (top - lo) * pick(s, 65536) / 65535.0; break;
        case 4: v = lo + (integer ? 1 : pow(10, -(double)pick(s, 16))); break;
        case 5: v = open ? lo + 1e-9 : lo + 1; break;
        case 6: v = pick(s, 1001); break;
        default: v = base; break;
        }
        if (integer)
            v = floor(v);
        if (v < lo || (open && v <= lo))
            v = base;
        if (v > top)
            v = top;
        return cJSON_CreateNumber(v);
    }
    switch ((b - 128) % 28) { /* at and past the edges */
    case 0: return cJSON_CreateNumber(base);
    case 1: return cJSON_CreateNumber(lo);
    case 2: return cJSON_CreateNumber(isfinite(hi) ? hi : 1e15);
    case 3: return cJSON_CreateNumber(lo - 1);
    case 4: return cJSON_CreateNumber(isfinite(hi) ? hi * (1 + 1e-12) + 1e-9 : 1e300);
    case 5: return cJSON_CreateNumber(0);
    case 6: return cJSON_CreateNumber(1e-300);
    case 7: return cJSON_CreateNumber(1e308);
    case 8: return cJSON_CreateNumber(-1e308);
    case 9: return cJSON_CreateNumber(1e-7);
    case 10: return cJSON_CreateNumber(1e-12);
    case 11: return cJSON_CreateNumber(0.5);
    case 12: return cJSON_CreateNumber(lo + 1.5);
    case 13: return cJSON_CreateNumber(9007199254740993.0);
    case 14: return cJSON_CreateNumber(4294967296.0);
    case 15: return cJSON_CreateNumber(65536);
    case 16: {
        double top = isfinite(hi) && hi - lo < 1000 ? hi : lo + 1000;
        return cJSON_CreateNumber(lo + (top - lo) * pick(s, 65536) / 65535.0);
    }
    case 17: return cJSON_CreateNumber(any_magnitude(s));
    case 18: return cJSON_CreateNumber(lo + any_magnitude(s) * 1e-3);
    case 19: return cJSON_CreateRaw(odd_numbers[pick(s, sizeof odd_numbers / sizeof odd_numbers[0])]);
    case 20: return cJSON_CreateString(odd_numbers[pick(s, sizeof odd_numbers / sizeof odd_numbers[0])]);
    case 21: return cJSON_CreateTrue();
    case 22: return cJSON_CreateNull();
    case 23: return cJSON_CreateArray();
    case 24: return cJSON_CreateNumber(hi - 1e-9 * fabs(hi));
    case 25: return cJSON_CreateNumber(1e-6); /* below a nanosecond in ms */
    case 26: return cJSON_CreateNumber(1e-10); /* below a nanosecond in s */
    default: return cJSON_CreateNumber((double)(int64_t)pick(s, 65536) - 2);
    }
}

static cJSON *make_value(src *s, const exp_key *k, int depth);

/* An object of k's children (or, for a schedule, its random form's). */
static cJSON *make_object(src *s, const exp_key *k, int depth)
{
    cJSON *o = cJSON_CreateObject();
    FUZZ_CHECK(o);
    const exp_key *kids[EXP_KEY_MAX_CHILDREN];
    size_t n = exp_key_children(k, kids, EXP_KEY_MAX_CHILDREN);
    /* A client: its role first, then its role's keys far more often than the others'. */
    unsigned role = 0;
    bool client = strcmp(k->path, "clients.*") == 0;
    if (client) {
        role = pick(s, 2);
        if (byte(s) != 255)
            cJSON_AddStringToObject(o, "role", role ? "subscriber" : "publisher");
    }
    for (size_t i = 0; i < n; i++) {
        const exp_key *c = kids[i];
        if (client && strcmp(exp_key_name(c), "role") == 0)
            continue;
        unsigned b = byte(s);
        bool give;
        if (c->flags & EXP_F_REQUIRED) {
            bool mine = !client || (c->flags & (role ? EXP_F_SUB : EXP_F_PUB));
            give = mine ? b != 255 : b > 250;
        } else if (client && !(c->flags & (role ? EXP_F_SUB : EXP_F_PUB))) {
            give = b > 250;
        } else {
            give = b >= 1 && b <= 48;
        }
        if (give && depth < 8)
            cJSON_AddItemToObject(o, exp_key_name(c), make_value(s, c, depth + 1));
    }
    /* Now and then a key the table does not have. */
    unsigned u = byte(s);
    if (u == 255)
        cJSON_AddNumberToObject(o, "bogus", 1);
    else if (u == 254 && n)
        cJSON_AddNumberToObject(o, "", 1);
    return o;
}

static cJSON *make_schedule(src *s, const exp_key *k, int depth)
{
    unsigned c = byte(s);
    c = c < 64 ? 0 : c < 128 ? 3 : c % 6;
    if (c == 0)
        return cJSON_CreateArray();
    if (c == 1)
        return make_object(s, k, depth);
    if (c == 2)
        return make_number(s, k);
    cJSON *a = cJSON_CreateArray();
    FUZZ_CHECK(a);
    bool pairs = k->names && k->names[1];
    unsigned n = 1 + pick(s, 4);
    exp_key t = {.lo = 0, .hi = 1e9, .def = 0.5};
    for (unsigned i = 0; i < n; i++) {
        if (pairs && byte(s) != 255) {
            cJSON *p = cJSON_CreateArray();
            cJSON_AddItemToArray(p, make_number(s, &t));
            cJSON_AddItemToArray(p, make_number(s, &t));
            if (byte(s) == 255)
                cJSON_AddItemToArray(p, make_number(s, &t));
            cJSON_AddItemToArray(a, p);
        } else {
            cJSON_AddItemToArray(a, make_number(s, &t));
        }
    }
    return a;
}

static cJSON *make_array(src *s, const exp_key *k, int depth)
{
    cJSON *a = cJSON_CreateArray();
    FUZZ_CHECK(a);
    const exp_key *e = exp_key_element(k);
    unsigned n = 1 + pick(s, 3);
    if (byte(s) == 255)
        n = byte(s) & 1 ? 0 : 17; /* empty, or past a subscription list's 16 */
    for (unsigned i = 0; i < n; i++)
        cJSON_AddItemToArray(a, make_value(s, e, depth + 1));
    return a;
}

/* A value nested `levels` deep in arrays and objects. */
static cJSON *nest(src *s, unsigned levels)
{
    cJSON *v = cJSON_CreateNumber(1);
    for (unsigned i = 0; i < levels; i++) {
        cJSON *w = byte(s) & 1 ? cJSON_CreateObject() : cJSON_CreateArray();
        if (cJSON_IsObject(w))
            cJSON_AddItemToObject(w, "a", v);
        else
            cJSON_AddItemToArray(w, v);
        v = w;
    }
    return v;
}

static cJSON *make_value(src *s, const exp_key *k, int depth)
{
    unsigned wrong = byte(s);
    if (wrong == 255)
        return nest(s, pick(s, 4) == 0 ? 995 + pick(s, 10) : pick(s, 8));
    if (wrong == 254)
        return cJSON_CreateString("\xc3\xa9t\xc3\xa9");
    if (wrong == 253)
        return cJSON_CreateNumber(1);
    switch (k->type) {
    case EXP_K_OBJECT:
        return make_object(s, k, depth);
    case EXP_K_ARRAY:
        return make_array(s, k, depth);
    case EXP_K_INT:
    case EXP_K_NUM:
    case EXP_K_MS:
    case EXP_K_S:
        return make_number(s, k);
    case EXP_K_BOOL:
        switch (byte(s) % 8) {
        case 0: case 5: case 6: case 7: return cJSON_CreateFalse();
        case 1: return cJSON_CreateTrue();
        case 2: return cJSON_CreateNumber(0);
        case 3: return cJSON_CreateString("true");
        default: return cJSON_CreateNull();
        }
    case EXP_K_ENUM: {
        size_t n = 0;
        while (k->names[n])
            n++;
        unsigned b = byte(s), c = b < 192 ? b % (unsigned)n : b % ((unsigned)n + 2);
        if (c < n)
            return cJSON_CreateString(k->names[c]);
        return c == n ? cJSON_CreateString("bogus") : cJSON_CreateNumber(1);
    }
    case EXP_K_STRING:
        return make_string(s, k->code);
    case EXP_K_SCHEDULE:
        return make_schedule(s, k, depth);
    }
    return cJSON_CreateNull();
}

/* One --set override, malloc'd: a table path with its '*' made indices, '=',
 * a value drawn as in the file (or a few texts of its own). */
static char *make_set(src *s)
{
    const exp_key *k = &exp_keys[pick(s, (unsigned)exp_n_keys)];
    char path[256];
    size_t j = 0;
    for (const char *p = k->path; *p && j < 200; p++) {
        if (*p == '*') {
            unsigned i = pick(s, 4);
            j += (size_t)snprintf(path + j, sizeof path - j, "%u", i == 3 ? 99 : i);
        } else {
            path[j++] = *p;
        }
    }
    path[j] = '\0';
    char *value = NULL;
    unsigned c = pick(s, 12);
    static const char *const texts[] = {"1e-7", "abc", "", "[", "null", "-0", "1e999", "{}"};
    if (c < sizeof texts / sizeof texts[0]) {
        value = strdup(texts[c]);
    } else {
        cJSON *v = make_value(s, k, 6);
        value = cJSON_PrintUnformatted(v);
        cJSON_Delete(v);
    }
    FUZZ_CHECK(value);
    size_t n = strlen(path) + strlen(value) + 2;
    char *set = malloc(n);
    FUZZ_CHECK(set);
    if (byte(s) == 255)
        snprintf(set, n, "%s", path); /* no '=' */
    else
        snprintf(set, n, "%s=%s", path, value);
    free(value);
    return set;
}

/* A message a bounded run of an accepted config may honestly fail with. */
static bool honest_failure(const char *err)
{
    return strstr(err, "were not connected and subscribed") ||
           strstr(err, "event budget") || strstr(err, "held on the links at once");
}

/* The resolved config reloads to itself, with and without the keys not simulated yet. */
static void check_fixed_point(const exp_config *cfg)
{
    char err[1024];
    char *j0 = exp_config_json(cfg, false);
    FUZZ_CHECK(j0);
    FUZZ_CHECK(cfg->json && strcmp(cfg->json, j0) == 0);
    free(j0);
    for (int all = 0; all < 2; all++) {
        char *ja = exp_config_json(cfg, all);
        FUZZ_CHECK(ja);
        exp_config b;
        int rc = exp_config_load_text(ja, "resolved.json", NULL, NULL, 0, &b, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "resolved config refused: %s\n%s\n", err, ja);
        FUZZ_CHECK(rc == 0);
        char *jb = exp_config_json(&b, all);
        FUZZ_CHECK(jb);
        if (strcmp(ja, jb) != 0)
            fprintf(stderr, "resolved:\n%s\nreloaded:\n%s\n", ja, jb);
        FUZZ_CHECK(strcmp(ja, jb) == 0);
        free(ja);
        free(jb);
        exp_config_free(&b);
    }
}

/* A short run of cfg (bounded here, so each input is quick). */
static void check_run(exp_config *cfg)
{
    for (size_t e = 0; e < cfg->n_clients; e++) {
        if (cfg->clients[e].count > 3)
            cfg->clients[e].count = 3;
        if (cfg->clients[e].payload_bytes > 65536)
            cfg->clients[e].payload_bytes = 65536;
    }
    if (cfg->duration_s > 0.5) {
        cfg->duration_s = 0.5;
        cfg->duration_ns = 500000000;
    }
    if (cfg->drain_s > 2) {
        cfg->drain_s = 2;
        cfg->drain_ns = 2000000000;
    }
    /* Outage windows are drawn without scheduler events: frequent ones the
     * loader still takes (up to 10^8 a run) would make this input slow, not
     * more telling. */
    for (size_t e = 0; e < cfg->n_clients; e++)
        for (int d = 0; d < 2; d++) {
            const exp_sched *o = d ? &cfg->clients[e].down_outages : &cfg->clients[e].up_outages;
            if (o->mtbf_ns > 0 && o->mtbf_ns + o->down_ns < 100000)
                return;
        }
    mq_net_stats st;
    uint64_t live;
    char err[1024] = "";
    int rc = exp_run_bounded(cfg, 5, 50000, &st, &live, err, sizeof err);
    fuzz_config_ran += rc == 0;
    if (rc != 0 && !honest_failure(err))
        fprintf(stderr, "run failed: %s\n%s\n", err, cfg->json);
    FUZZ_CHECK(rc == 0 || (err[0] && honest_failure(err)));
    FUZZ_CHECK(rc != 0 || live == 0);
}

/* Generates a config and its overrides from data and loads them; when the
 * loader accepts, checks the fixed point and, if run, a bounded run. */
static int fuzz_load(const uint8_t *data, size_t size, bool run)
{
    src s = {data, size, 0};
    const exp_key top = {.path = "", .type = EXP_K_OBJECT};
    cJSON *root = make_object(&s, &top, 0);
    /* A config without clients is refused at once: most get some. */
    if (!cJSON_GetObjectItem(root, "clients") && byte(&s) != 255) {
        cJSON *a = cJSON_CreateArray();
        const exp_key *ck = exp_key_find("clients.*");
        cJSON_AddItemToArray(a, make_value(&s, ck, 1));
        cJSON_AddItemToArray(a, make_value(&s, ck, 1));
        cJSON_AddItemToObject(root, "clients", a);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    FUZZ_CHECK(text);
    char *sets[3];
    size_t nsets = pick(&s, 4);
    for (size_t i = 0; i < nsets; i++)
        sets[i] = make_set(&s);

    exp_config cfg;
    char err[1024] = "";
    int rc = exp_config_load_text(text, "fuzz.json", NULL, sets, nsets, &cfg, err, sizeof err);
    if (getenv("FUZZ_VERBOSE")) {
        fprintf(stderr, "config: %.2000s\n", text);
        for (size_t i = 0; i < nsets; i++)
            fprintf(stderr, "  --set %.300s\n", sets[i]);
        fprintf(stderr, "  -> %d %s\n", rc, err);
    }
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(cfg.clients == NULL && cfg.json == NULL);
    } else {
        fuzz_config_accepted++;
        check_fixed_point(&cfg);
        if (run)
            check_run(&cfg);
    }
    exp_config_free(&cfg);
    for (size_t i = 0; i < nsets; i++)
        free(sets[i]);
    free(text);
    return 0;
}

int fuzz_config(const uint8_t *data, size_t size)
{
    return fuzz_load(data, size, false);
}

int fuzz_configrun(const uint8_t *data, size_t size)
{
    return fuzz_load(data, size, true);
}
