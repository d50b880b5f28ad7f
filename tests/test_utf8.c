/* Tests of UTF-8 validation (RFC 3629, MQTT 3.1.1 §1.5.3 / 5.0 §1.5.4) against a decoding reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "models/utf8.h"

static bool ok(const char *s)
{
    return mq_utf8_valid(s, strlen(s));
}

/* Known answers, one per rule. */
static void known_answers(void **state)
{
    (void)state;
    assert_true(mq_utf8_valid("", 0));
    assert_true(ok("plain ASCII / topic"));
    assert_true(ok("\xC3\xA9"));             /* U+00E9 */
    assert_true(ok("\xE2\x82\xAC"));         /* U+20AC */
    assert_true(ok("\xF0\x9F\x98\x80"));     /* U+1F600 */
    assert_true(ok("\xF4\x8F\xBF\xBF"));     /* U+10FFFF, the last code point */
    assert_true(ok("\xEF\xBF\xBF"));         /* U+FFFF: a noncharacter, but well-formed */
    assert_false(mq_utf8_valid("a\0b", 3));  /* U+0000 */
    assert_false(ok("\xC0\x80"));            /* overlong U+0000 */
    assert_false(ok("\xC1\xBF"));            /* overlong 2-byte */
    assert_false(ok("\xE0\x80\xAF"));        /* overlong 3-byte */
    assert_false(ok("\xF0\x8F\xBF\xBF"));    /* overlong 4-byte */
    assert_false(ok("\xED\xA0\x80"));        /* U+D800, a surrogate */
    assert_false(ok("\xED\xBF\xBF"));        /* U+DFFF */
    assert_false(ok("\xF4\x90\x80\x80"));    /* U+110000 */
    assert_false(ok("\xF5\x80\x80\x80"));    /* F5 lead */
    assert_false(ok("\x80"));                /* lone continuation */
    assert_false(ok("\xC3"));                /* cut by the end */
    assert_false(ok("\xE2\x82"));
    assert_false(ok("\xE2\x82x"));           /* continuation missing */
    /* the length is explicit: bytes past it are not read */
    assert_true(mq_utf8_valid("\xC3\xA9\xFF", 2));
    assert_false(mq_utf8_valid("\xC3\xA9", 1));
}

/* The reference decodes code points arithmetically (RFC 3629 §3's table)
 * and then checks the value, where the validator checks byte ranges. */
static bool ref_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        int n;          /* continuation bytes */
        uint32_t cp, min;
        if ((c & 0x80) == 0) {
            n = 0, cp = c, min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + (size_t)n >= len && n > 0)
            return false;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += (size_t)n + 1;
    }
    return true;
}

/* Every string of one and two bytes, and every string of three and four
 * bytes drawn from the bytes where some rule changes its answer. */
static void exhaustive_against_reference(void **state)
{
    (void)state;
    uint8_t s[4];
    long valid = 0;
    for (int a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        assert_int_equal(mq_utf8_valid((char *)s, 1), ref_valid(s, 1));
        for (int b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            bool v = ref_valid(s, 2);
            assert_int_equal(mq_utf8_valid((char *)s, 2), v);
            valid += v;
        }
    }
    static const uint8_t edge[] = {0x00, 0x01, 0x2F, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0,
                                   0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
                                   0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF};
    enum { NE = sizeof edge };
    for (int a = 0; a < NE; a++)
        for (int b = 0; b < NE; b++)
            for (int c = 0; c < NE; c++) {
                s[0] = edge[a], s[1] = edge[b], s[2] = edge[c];
                bool v = ref_valid(s, 3);
                assert_int_equal(mq_utf8_valid((char *)s, 3), v);
                valid += v;
                for (int d = 0; d < NE; d++) {
                    s[3] = edge[d];
                    v = ref_valid(s, 4);
                    assert_int_equal(mq_utf8_valid((char *)s, 4), v);
                    valid += v;
                }
            }
    print_message("%ld valid strings\n", valid);
    /* 18049 of them are the 2-byte ones (127 x 127 ASCII pairs and 30 x 64
     * two-byte sequences); the count depends only on the enumeration and is
     * fixed so that a change in coverage shows. */
    assert_int_equal(valid, 20605);
}

/* Random strings of 0..24 bytes, mostly well-formed code points with a
 * byte now and then replaced, against the reference (fixed seed). */
static void random_against_reference(void **state)
{
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    assert_non_null(r);
    gsl_rng_set(r, 8);
    long valid = 0;
    for (int iter = 0; iter < 100000; iter++) {
        uint8_t s[32];
        size_t len = 0, want = gsl_rng_uniform_int(r, 25);
        while (len < want) {
            uint32_t cp;
            switch (gsl_rng_uniform_int(r, 4)) {
            case 0: cp = (uint32_t)gsl_rng_uniform_int(r, 0x80); break;
            case 1: cp = 0x80 + (uint32_t)gsl_rng_uniform_int(r, 0x800 - 0x80); break;
            case 2: cp = 0x800 + (uint32_t)gsl_rng_uniform_int(r, 0x10000 - 0x800); break;
            default: cp = 0x10000 + (uint32_t)gsl_rng_uniform_int(r, 0x110000 - 0x10000);
            }
            if (cp < 0x80) {
                s[len++] = (uint8_t)cp;
            } else if (cp < 0x800) {
                s[len++] = (uint8_t)(0xC0 | cp >> 6);
                s[len++] = (uint8_t)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                s[len++] = (uint8_t)(0xE0 | cp >> 12);
                s[len++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                s[len++] = (uint8_t)(0x80 | (cp & 0x3F));
            } else {
                s[len++] = (uint8_t)(0xF0 | cp >> 18);
                s[len++] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
                s[len++] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                s[len++] = (uint8_t)(0x80 | (cp & 0x3F));
            }
        }
        if (len && gsl_rng_uniform(r) < 0.3)
            s[gsl_rng_uniform_int(r, len)] = (uint8_t)gsl_rng_uniform_int(r, 256);
        if (len && gsl_rng_uniform(r) < 0.1)
            len--; /* cut the last sequence */
        bool v = ref_valid(s, len);
        assert_int_equal(mq_utf8_valid((char *)s, len), v);
        valid += v;
    }
    gsl_rng_free(r);
    print_message("%ld of 100000 valid\n", valid);
    /* both answers are well represented */
    assert_true(valid > 20000 && valid < 80000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(exhaustive_against_reference),
        cmocka_unit_test(random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
