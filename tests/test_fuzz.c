/* Replays every committed fuzz seed and regression input through its harness (tests/fuzz/). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
    print_error("invariant broken: %s\n", what);
    _fail(file, line);
    abort(); /* not reached: _fail jumps back to cmocka */
}

typedef int (*harness)(const uint8_t *, size_t);

/* Runs every regular file of root/tests/fuzz/<kind>/<name>/ through h and
 * returns how many there were. */
static size_t replay_dir(const char *kind, const char *name, harness h)
{
    const char *root = getenv("MQTTSIM_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", root ? root : ".", kind, name);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        /* An exact-size copy, so a read past the end is caught by ASan. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        print_message("%s\n", path);
        h(copy, len);
        free(copy);
        n++;
    }
    closedir(d);
    return n;
}

static void codec_corpus(void **state)
{
    (void)state;
    /* The seeds must be there: an empty replay would pass without testing. */
    assert_true(replay_dir("corpus", "codec", fuzz_codec) >= 20);
    replay_dir("regress", "codec", fuzz_codec);
}

static void session_corpus(void **state)
{
    (void)state;
    assert_true(replay_dir("corpus", "session", fuzz_session) >= 8);
    replay_dir("regress", "session", fuzz_session);
}

static void config_corpus(void **state)
{
    (void)state;
    size_t before = fuzz_config_accepted;
    assert_true(replay_dir("corpus", "config", fuzz_config) >= 8);
    /* The seeds make configs the loader accepts. */
    assert_true(fuzz_config_accepted - before >= 8);
    replay_dir("regress", "config", fuzz_config);
}

static void configrun_corpus(void **state)
{
    (void)state;
    size_t ran = fuzz_config_ran;
    /* The two targets share their seeds, and the config target's
     * regressions, found by runs before the split, are replayed here too. */
    assert_true(replay_dir("corpus", "config", fuzz_configrun) >= 8);
    /* The seeds make configs the loader accepts and runs of them that succeed. */
    assert_true(fuzz_config_ran - ran >= 8);
    replay_dir("regress", "config", fuzz_configrun);
    replay_dir("regress", "configrun", fuzz_configrun);
}

static void tcp_corpus(void **state)
{
    (void)state;
    assert_true(replay_dir("corpus", "tcp", fuzz_tcp) >= 8);
    replay_dir("regress", "tcp", fuzz_tcp);
}

static void broker_corpus(void **state)
{
    (void)state;
    size_t acks = fuzz_broker_connacks, pubs = fuzz_broker_publishes;
    assert_true(replay_dir("corpus", "broker", fuzz_broker) >= 8);
    /* The seeds connect clients and have the broker forward messages. */
    print_message("broker seeds: %zu CONNACKs accepting, %zu PUBLISHes sent\n",
                  fuzz_broker_connacks - acks, fuzz_broker_publishes - pubs);
    assert_true(fuzz_broker_connacks - acks >= 20 && fuzz_broker_publishes - pubs >= 20);
    replay_dir("regress", "broker", fuzz_broker);
}

static void client_corpus(void **state)
{
    (void)state;
    size_t conns = fuzz_client_connects, got = fuzz_client_deliveries;
    assert_true(replay_dir("corpus", "client", fuzz_client) >= 8);
    /* The seeds get the client connected and messages delivered to it. */
    print_message("client seeds: %zu CONNACKs accepted, %zu messages handed over\n",
                  fuzz_client_connects - conns, fuzz_client_deliveries - got);
    assert_true(fuzz_client_connects - conns >= 10 && fuzz_client_deliveries - got >= 10);
    replay_dir("regress", "client", fuzz_client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec_corpus),
        cmocka_unit_test(session_corpus),
        cmocka_unit_test(config_corpus),
        cmocka_unit_test(configrun_corpus),
        cmocka_unit_test(tcp_corpus),
        cmocka_unit_test(broker_corpus),
        cmocka_unit_test(client_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
