/* Tests of MQTT topic name/filter validation and matching (MQTT 3.1.1 / 5.0 §4.7). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "models/topic.h"
#include "models/utf8.h"

static bool match(const char *f, const char *t)
{
    return mq_topic_match(f, strlen(f), t, strlen(t));
}

static bool name_ok(const char *t)
{
    return mq_topic_name_valid(t, strlen(t));
}

static bool filter_ok(const char *f)
{
    return mq_topic_filter_valid(f, strlen(f));
}

/* 3.1.1 §4.7.1.2 (5.0 §4.7.1.2): the multi-level wildcard */
static void spec_multi_level(void **state)
{
    (void)state;
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    assert_true(match("sport/#", "sport")); /* "also matches the singular 'sport'" */
    assert_true(filter_ok("#"));
    assert_true(filter_ok("sport/tennis/#"));
    assert_false(filter_ok("sport/tennis#"));
    assert_false(filter_ok("sport/tennis/#/ranking"));
    assert_false(match("sport/tennis/player1/#", "sport/tennis/player2"));
    assert_false(match("sport/tennis/player1/#", "sport/tennis"));
}

/* 3.1.1 §4.7.1.3 (5.0 §4.7.1.3): the single-level wildcard */
static void spec_single_level(void **state)
{
    (void)state;
    assert_true(match("sport/tennis/+", "sport/tennis/player1"));
    assert_true(match("sport/tennis/+", "sport/tennis/player2"));
    assert_false(match("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert_false(match("sport/+", "sport"));
    assert_true(match("sport/+", "sport/"));
    assert_true(filter_ok("+"));
    assert_true(filter_ok("+/tennis/#"));
    assert_false(filter_ok("sport+"));
    assert_true(filter_ok("sport/+/player1"));
    /* "/finance" matches "+/+" and "/+", but not "+" */
    assert_true(match("+/+", "/finance"));
    assert_true(match("/+", "/finance"));
    assert_false(match("+", "/finance"));
    /* a level may be empty */
    assert_true(match("+/+", "/"));
    assert_true(match("+", ""));
    assert_true(match("a/+/b", "a//b"));
    assert_false(match("a/+/b", "a/b"));
}

/* 3.1.1 §4.7.2 (5.0 §4.7.2): topics beginning with $ */
static void spec_dollar_topics(void **state)
{
    (void)state;
    assert_false(match("#", "$SYS/monitor/Clients"));
    assert_false(match("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/#", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/#", "$SYS"));
    assert_false(match("#", "$"));
    assert_false(match("+", "$SYS"));
    assert_false(match("+/#", "$SYS/x"));
    /* only the first character counts */
    assert_true(match("#", "a/$SYS"));
    assert_true(match("a/+", "a/$SYS"));
    assert_true(match("#", "/$SYS")); /* first level is empty, not "$..." */
}

/* 3.1.1 §4.7.3 (5.0 §4.7.3): semantics of names and filters */
static void spec_semantics(void **state)
{
    (void)state;
    assert_false(match("ACCOUNTS", "Accounts")); /* case-sensitive */
    assert_true(match("Accounts payable", "Accounts payable")); /* spaces */
    assert_false(match("/finance", "finance")); /* a leading '/' is a level */
    assert_false(match("finance", "/finance"));
    assert_true(match("/finance", "/finance"));
    assert_false(name_ok("")); /* at least one character */
    assert_false(filter_ok(""));
    assert_true(name_ok("/"));
    assert_true(name_ok("Accounts payable"));
}

static void matching_more(void **state)
{
    (void)state;
    assert_true(match("#", "a"));
    assert_true(match("#", "/"));
    assert_true(match("#", "a/b/c"));
    assert_true(match("a/#", "a/b/c"));
    assert_true(match("a/#", "a/"));
    assert_false(match("a/#", "b"));
    assert_false(match("a/#", "ab"));
    assert_true(match("+/#", "a"));
    assert_true(match("+/+/#", "a/b"));
    assert_false(match("+/+/+", "a/b"));
    assert_true(match("a/b", "a/b"));
    assert_false(match("a/b", "a/b/"));
    assert_false(match("a/b/", "a/b"));
    assert_false(match("a/b", "a/bc"));
    assert_false(match("a/bc", "a/b"));
    assert_true(match("//", "//"));
    assert_true(match("+//+", "a//b"));
    /* multi-byte UTF-8 levels */
    assert_true(match("\xC3\xA9/+", "\xC3\xA9/\xE2\x82\xAC"));
    assert_false(match("\xC3\xA9/+", "\xC3\xA8/x"));
    /* lengths are explicit: no NUL needed, and bytes past the length ignored */
    const char f[] = "sport/+XXXX";
    const char t[] = "sport/tennis/player";
    assert_true(mq_topic_match(f, 7, t, 12));
    assert_false(mq_topic_match(f, 7, t, 19));
    assert_true(mq_topic_match("a/#", 1, "a/b", 1));
    assert_false(mq_topic_match("a/#", 1, "a/b", 3));
}

static void validation(void **state)
{
    (void)state;
    static const char *const good_names[] = {"a", "a/b", "/", "//", "$SYS/x", "a b", "\xC3\xA9",
                                             "\xF0\x9F\x98\x80/x"};
    static const char *const bad_names[] = {"", "+", "#", "a/+", "a/#", "a+b", "a#",
                                            "\xC0\x80", "\xED\xA0\x80", "\xFF", "\xC3"};
    static const char *const good_filters[] = {"#", "+", "+/+", "/+", "+/", "a/+/b", "/#",
                                               "a//b", "+/#", "a/b/#", "$SYS/#", "\xC3\xA9/+"};
    static const char *const bad_filters[] = {"", "a#", "a/#/b", "#/", "##", "++", "a+",
                                              "+a", "a/b+", "#+", "a/+b/c", "\xED\xA0\x80"};
    for (size_t i = 0; i < sizeof good_names / sizeof *good_names; i++) {
        assert_true(name_ok(good_names[i]));
        assert_true(filter_ok(good_names[i])); /* every name is a filter */
    }
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        assert_false(name_ok(bad_names[i]));
    for (size_t i = 0; i < sizeof good_filters / sizeof *good_filters; i++)
        assert_true(filter_ok(good_filters[i]));
    for (size_t i = 0; i < sizeof bad_filters / sizeof *bad_filters; i++)
        assert_false(filter_ok(bad_filters[i]));
    /* 3.1.1 §1.5.3: no U+0000, even with an explicit length */
    assert_false(mq_topic_name_valid("a\0b", 3));
    assert_false(mq_topic_filter_valid("a/\0", 3));
    /* 3.1.1 §4.7.3: at most 65535 bytes */
    char *big = malloc(65536);
    assert_non_null(big);
    memset(big, 'a', 65536);
    assert_true(mq_topic_name_valid(big, 65535));
    assert_false(mq_topic_name_valid(big, 65536));
    assert_true(mq_topic_filter_valid(big, 65535));
    assert_false(mq_topic_filter_valid(big, 65536));
    free(big);
}

/* ------------------------------------------------------------------------ */
/* Exhaustive cross-check against a reference written differently: split
 * both strings into arrays of levels, then match recursively. */

#define MAXL 8

static int split(const char *s, size_t n, const char *lv[], size_t ll[])
{
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            lv[k] = s + start;
            ll[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

static bool ref_levels(const char *fl[], const size_t fn[], int nf, const char *tl[],
                       const size_t tn[], int nt)
{
    if (nf == 0)
        return nt == 0;
    if (fn[0] == 1 && fl[0][0] == '#')
        return true;
    if (nt == 0)
        return false;
    bool same = (fn[0] == 1 && fl[0][0] == '+') || (fn[0] == tn[0] && !memcmp(fl[0], tl[0], fn[0]));
    return same && ref_levels(fl + 1, fn + 1, nf - 1, tl + 1, tn + 1, nt - 1);
}

static bool ref_match(const char *f, size_t flen, const char *t, size_t tlen)
{
    const char *fl[MAXL], *tl[MAXL];
    size_t fn[MAXL], tn[MAXL];
    int nf = split(f, flen, fl, fn), nt = split(t, tlen, tl, tn);
    if (tlen && t[0] == '$' && (fl[0][0] == '+' || fl[0][0] == '#'))
        return false;
    return ref_levels(fl, fn, nf, tl, tn, nt);
}

static bool ref_filter_valid(const char *f, size_t n)
{
    const char *fl[MAXL];
    size_t fn[MAXL];
    int nf = split(f, n, fl, fn);
    for (int i = 0; i < nf; i++) {
        bool wild = memchr(fl[i], '+', fn[i]) || memchr(fl[i], '#', fn[i]);
        if (!wild)
            continue;
        if (fn[i] != 1)
            return false;
        if (fl[i][0] == '#' && i != nf - 1)
            return false;
    }
    return n > 0;
}

/* All strings of length 1..maxlen over alphabet, packed maxlen+1 apart. */
static size_t all_strings(const char *alpha, size_t maxlen, char *out, size_t *lens)
{
    size_t na = strlen(alpha), count = 0;
    for (size_t len = 1; len <= maxlen; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= na;
        for (size_t x = 0; x < total; x++) {
            size_t y = x;
            for (size_t i = 0; i < len; i++) {
                out[count * (maxlen + 1) + i] = alpha[y % na];
                y /= na;
            }
            lens[count++] = len;
        }
    }
    return count;
}

static void exhaustive_against_reference(void **state)
{
    (void)state;
    enum { L = 6, CAP = 5 * 5 * 5 * 5 * 5 * 5 * 2 }; /* sum of 5^k for k <= 6 fits */
    static char fs[CAP * (L + 1)], ts[CAP * (L + 1)];
    static size_t fl[CAP], tl[CAP];
    size_t nf = all_strings("a/+#$", L, fs, fl);
    size_t nt = all_strings("ab/$", L, ts, tl);
    long checked = 0, matched = 0;
    for (size_t i = 0; i < nf; i++) {
        const char *f = fs + i * (L + 1);
        bool valid = mq_topic_filter_valid(f, fl[i]);
        assert_int_equal(valid, ref_filter_valid(f, fl[i]));
        bool wild = memchr(f, '+', fl[i]) || memchr(f, '#', fl[i]);
        assert_int_equal(mq_topic_name_valid(f, fl[i]), !wild);
        if (!valid)
            continue;
        for (size_t j = 0; j < nt; j++) {
            const char *t = ts + j * (L + 1);
            bool m = mq_topic_match(f, fl[i], t, tl[j]);
            assert_int_equal(m, ref_match(f, fl[i], t, tl[j]));
            checked++;
            matched += m;
        }
    }
    print_message("%ld filter/topic pairs, %ld match\n", checked, matched);
    /* Both counts depend only on the enumeration (each pair agreed with the
     * reference above); fixed so that a change in coverage shows. */
    assert_int_equal(checked, 9303840);
    assert_int_equal(matched, 38714);
}

/* Topic names against their definition (well-formed UTF-8 without U+0000,
 * no wildcard, 1..65535 bytes) on every string of up to 2 bytes and on
 * random strings of an alphabet rich in the cases the ASCII fast path must
 * hand on (NUL, '+', '#', lead and continuation bytes), at every position. */
static bool name_reference(const char *s, size_t n)
{
    return n > 0 && mq_utf8_valid(s, n) && !memchr(s, '+', n) && !memchr(s, '#', n);
}

static void name_validity_against_definition(void **state)
{
    (void)state;
    char b[8] = {0};
    assert_false(mq_topic_name_valid(b, 0));
    for (int x = 0; x < 256; x++) {
        b[0] = (char)x;
        assert_int_equal(mq_topic_name_valid(b, 1), name_reference(b, 1));
        for (int y = 0; y < 256; y++) {
            b[1] = (char)y;
            assert_int_equal(mq_topic_name_valid(b, 2), name_reference(b, 2));
        }
    }
    static const unsigned char alpha[] = {'a', '/', '+', '#', 0, 0x7F, 0x80, 0xBF,
                                          0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0xED};
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 1 + (size_t)(x % 7);
        for (size_t k = 0; k < n; k++)
            b[k] = (char)(k + 1 < n || x >> 60 ? alpha[(x >> (4 * k + 8)) & 15] : 'z');
        assert_int_equal(mq_topic_name_valid(b, n), name_reference(b, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_multi_level),
        cmocka_unit_test(spec_single_level),
        cmocka_unit_test(spec_dollar_topics),
        cmocka_unit_test(spec_semantics),
        cmocka_unit_test(matching_more),
        cmocka_unit_test(validation),
        cmocka_unit_test(exhaustive_against_reference),
        cmocka_unit_test(name_validity_against_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
