/* Testbed plan checks without root: refusals, the relay's packet-rate estimate, addresses, and the argv of the client seam. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "experiments/testbed.h"

static const char BASE[] =
    "{\"name\": \"p\", \"seed\": 9, \"duration_s\": 5, \"drain_s\": 10,"
    " \"clients\": ["
    "  {\"role\": \"publisher\", \"topic\": \"a/b\", \"qos\": 1, \"rate_hz\": 10, \"payload_bytes\": 64},"
    "  {\"role\": \"publisher\", \"topic\": \"x/y\", \"qos\": 2, \"rate_hz\": 5, \"arrival\": \"poisson\"},"
    "  {\"role\": \"subscriber\", \"subscribe\": [{\"filter\": \"a/#\", \"qos\": 2}, {\"filter\": \"x/+\", \"qos\": 0}]},"
    "  {\"role\": \"subscriber\", \"count\": 2, \"keepalive_s\": 5, \"clean_start\": false,"
    "   \"subscribe\": [{\"filter\": \"nothing/{i}\", \"qos\": 1}]}]}";

static exp_testbed_opts defaults(void)
{
    return (exp_testbed_opts){.max_seconds = EXP_TB_MAX_SECONDS, .max_clients = EXP_TB_MAX_CLIENTS};
}

static void load(exp_config *cfg, char *const *sets, size_t n)
{
    char err[512];
    int rc = exp_config_load_text(BASE, "p.json", ".", sets, n, cfg, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
}

/* Per message: 2 x (1, 2, 4) packets per hop by QoS (segments and ACKs).
 * a/b at QoS 1, 10/s: its hop 4 + one subscriber at min(1, 2) = 1: 4 -> 80/s.
 * x/y at QoS 2, 5/s: its hop 8 + the same subscriber at min(2, 0) = 0: 2 -> 50/s.
 * The two subscribers of nothing/{i} (nothing/0, nothing/1) add nothing;
 * with clients.1.topic = nothing/{i}, instance 0 of x/y's group publishes on
 * nothing/0, which subscriber c3.0 takes at QoS 1: 8 + 2 x 2 = 12 -> 60/s. */
static void packet_rate_counts_hops_at_downgraded_qos(void **state)
{
    (void)state;
    exp_config cfg;
    load(&cfg, NULL, 0);
    assert_float_equal(exp_testbed_packet_rate(&cfg), 130.0, 1e-9);
    exp_config_free(&cfg);
    char *pat[] = {"clients.1.topic=nothing/{i}"};
    load(&cfg, pat, 1);
    assert_float_equal(exp_testbed_packet_rate(&cfg), 80.0 + 60.0, 1e-9);
    exp_config_free(&cfg);
}

static void small_config_passes(void **state)
{
    (void)state;
    exp_config cfg;
    load(&cfg, NULL, 0);
    exp_testbed_opts o = defaults();
    char err[512] = "";
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 0);
    exp_config_free(&cfg);
}

static void refusals_name_the_reason(void **state)
{
    (void)state;
    char err[512];
    exp_testbed_opts o = defaults();
    exp_config cfg;

    char *many[] = {"clients.3.count=40"};
    load(&cfg, many, 1);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "p.json: 43 client instances"));
    o.max_clients = 50;
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 0);
    exp_config_free(&cfg);

    o = defaults();
    char *reps[] = {"replications=50"};
    load(&cfg, reps, 1);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "may take up to 750 s (50 replications x (duration_s 5 + drain_s 10))"));
    exp_config_free(&cfg);

    char *faults[][1] = {{"broker.restarts=[[1, 1]]"}, {"clients.0.crashes=[[1, 1]]"},
                         {"clients.2.resets={\"mtbf_s\": 5}"}};
    static const char *const named[] = {"broker.restarts", "clients.N.crashes", "clients.N.resets"};
    for (int i = 0; i < 3; i++) {
        load(&cfg, faults[i], 1);
        assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
        assert_non_null(strstr(err, named[i]));
        assert_non_null(strstr(err, "the testbed does not inject this fault yet"));
        exp_config_free(&cfg);
    }

    char *fast[] = {"clients.0.rate_hz=5000"};
    load(&cfg, fast, 1);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "about 40050 packets/s"));
    exp_config_free(&cfg);
}

/* A datagram transport, top level or a client's own, is refused. */
static void datagram_transport_is_refused(void **state)
{
    (void)state;
    exp_testbed_opts o = defaults();
    char err[512];
    char *sets[][1] = {{"transport=datagram"}, {"clients.2.transport=datagram"},
                       {"transport=stream"}};
    for (int i = 0; i < 3; i++) {
        exp_config cfg;
        load(&cfg, sets[i], 1);
        int rc = exp_testbed_check(&cfg, &o, err, sizeof err);
        if (i < 2) {
            assert_int_equal(rc, 2);
            assert_non_null(strstr(err, "transport \"datagram\": the testbed runs MQTT over real TCP"));
        } else {
            assert_int_equal(rc, 0);
        }
        exp_config_free(&cfg);
    }
}

static void client_addresses(void **state)
{
    (void)state;
    char a[16];
    exp_testbed_client_addr(0, a, sizeof a);
    assert_string_equal(a, "198.18.1.1");
    exp_testbed_client_addr(249, a, sizeof a);
    assert_string_equal(a, "198.18.1.250");
    exp_testbed_client_addr(250, a, sizeof a);
    assert_string_equal(a, "198.18.2.1");
    exp_testbed_client_addr(EXP_TB_MAX_CLIENTS_HARD - 1, a, sizeof a);
    assert_string_equal(a, "198.18.4.250");
}

static void join(char **argv, char *buf, size_t len)
{
    buf[0] = '\0';
    for (char **a = argv; *a; a++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", a == argv ? "" : " ", *a);
}

/* The seam to `mqttsim client`: exactly these words. */
static void client_argv_seam(void **state)
{
    (void)state;
    exp_config cfg;
    load(&cfg, NULL, 0);
    char buf[2048];
    char **v = exp_testbed_client_argv("/x/mqttsim", &cfg, 1, 0, 3, "/out/rep3/c1.0");
    assert_non_null(v);
    join(v, buf, sizeof buf);
    assert_string_equal(buf, "/x/mqttsim client --broker 198.18.0.1:1883 --id c1.0 --version 4 "
                             "--keepalive 60 --clean-start --pub x/y --qos 2 --rate 5 --arrival poisson --payload 32 "
                             "--duration 5 --drain 10 --seed 9 --rep 3 --out /out/rep3/c1.0 "
                             "--ready-fd 3");
    free(v);
    v = exp_testbed_client_argv("mqttsim", &cfg, 3, 1, 0, "o");
    join(v, buf, sizeof buf);
    assert_string_equal(buf, "mqttsim client --broker 198.18.0.1:1883 --id c3.1 --version 4 "
                             "--keepalive 5 --session --sub nothing/1 --qos 1 --out o --ready-fd 3");
    free(v);
    v = exp_testbed_client_argv("mqttsim", &cfg, 2, 0, 0, "o");
    join(v, buf, sizeof buf);
    assert_string_equal(buf, "mqttsim client --broker 198.18.0.1:1883 --id c2.0 --version 4 "
                             "--keepalive 60 --clean-start --sub a/# --qos 2 --sub x/+ --qos 0 --out o --ready-fd 3");
    free(v);
    exp_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packet_rate_counts_hops_at_downgraded_qos),
        cmocka_unit_test(small_config_passes),
        cmocka_unit_test(refusals_name_the_reason),
        cmocka_unit_test(datagram_transport_is_refused),
        cmocka_unit_test(client_addresses),
        cmocka_unit_test(client_argv_seam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
