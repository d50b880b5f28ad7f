/* Testbed plan checks without root: refusals, the packet-rate estimate, addresses, the client seam, the Mosquitto config, restarts, kernel TCP settings. */
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
    "   \"reconnect\": {\"initial_ms\": 250, \"max_ms\": 4000, \"jitter\": 0.5},"
    "   \"retransmit\": \"timer\", \"retry_interval_ms\": 300, \"max_retries\": 3,"
    "   \"connect_timeout_s\": 2.5, \"max_inflight\": 7, \"qos2_method\": \"B\","
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

    /* Faults it does not inject, named by their key. */
    char *faults[][1] = {{"clients.0.crashes=[[1, 1]]"}, {"clients.2.resets={\"mtbf_s\": 5}"}};
    static const char *const named[] = {"p.json: clients.0.crashes: the testbed does not inject this fault",
                                        "p.json: clients.2.resets: the testbed does not inject this fault"};
    for (int i = 0; i < 2; i++) {
        load(&cfg, faults[i], 1);
        assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
        assert_non_null(strstr(err, named[i]));
        exp_config_free(&cfg);
    }
    /* Broker restarts it does inject; with persistence, only Mosquitto
     * keeps anything across one. */
    char *restarts[] = {"broker.restarts=[[1, 1]]", "broker.persistence=true"};
    load(&cfg, restarts, 2);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 0);
    o.broker = EXP_TB_MQTTSIM;
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "p.json: broker.persistence true with broker.restarts: 'mqttsim "
                                "broker' keeps its sessions in memory only"));
    o.broker = EXP_TB_MOSQUITTO;
    exp_config_free(&cfg);

    /* The payload carries the message id and the publish time. */
    char *small[] = {"clients.1.payload_bytes=15"};
    load(&cfg, small, 1);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "p.json: clients.1.payload_bytes: 15 bytes; the testbed's "
                                "publishers need at least 16"));
    exp_config_free(&cfg);

    /* One broker namespace, one tcp_retries2. */
    char *tcp[] = {"clients.2.tcp.retries2=5"};
    load(&cfg, tcp, 1);
    assert_int_equal(exp_testbed_check(&cfg, &o, err, sizeof err), 2);
    assert_non_null(strstr(err, "p.json: clients.2.tcp: retries2 and rto_max_ms differ"));
    exp_config_free(&cfg);

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
                             "--keepalive 60 --clean-start --connect-timeout 30 --reconnect-initial 1000 "
                             "--reconnect-max 60000 --max-inflight 20 --max-queued 1000 --retransmit reconnect "
                             "--pub x/y --qos 2 --rate 5 --arrival poisson --payload 32 "
                             "--duration 5 --drain 10 --seed 9 --rep 3 --out /out/rep3/c1.0 "
                             "--ready-fd 3");
    free(v);
    v = exp_testbed_client_argv("mqttsim", &cfg, 3, 1, 0, "o");
    join(v, buf, sizeof buf);
    assert_string_equal(buf, "mqttsim client --broker 198.18.0.1:1883 --id c3.1 --version 4 "
                             "--keepalive 5 --session --connect-timeout 2.5 --reconnect-initial 250 "
                             "--reconnect-max 4000 --reconnect-jitter 0.5 --max-inflight 7 --max-queued 1000 "
                             "--retransmit timer --retry-interval 300 --max-retries 3 --qos2-method B "
                             "--sub nothing/1 --qos 1 --out o --ready-fd 3");
    free(v);
    v = exp_testbed_client_argv("mqttsim", &cfg, 2, 0, 0, "o");
    join(v, buf, sizeof buf);
    assert_string_equal(buf, "mqttsim client --broker 198.18.0.1:1883 --id c2.0 --version 4 "
                             "--keepalive 60 --clean-start --connect-timeout 30 --reconnect-initial 1000 "
                             "--reconnect-max 60000 --max-inflight 20 --max-queued 1000 --retransmit reconnect "
                             "--qos2-method A --sub a/# --qos 2 --sub x/+ --qos 0 --out o --ready-fd 3");
    free(v);
    exp_config_free(&cfg);
}

/* The Mosquitto config: the broker keys, Nagle off, and autosave_interval_s
 * as Mosquitto counts it: whole seconds (at least 1), 0 as a save after
 * every change (autosave_on_changes, threshold 1), never Mosquitto's own 0
 * (which saves only at a clean exit, never after a SIGKILL). */
static void mosquitto_conf_maps_the_broker_keys(void **state)
{
    (void)state;
    char buf[2048];
    exp_config cfg;
    char *sets[] = {"broker.max_inflight=3", "broker.max_queued=0", "broker.persistence=true",
                    "broker.autosave_interval_s=0", "broker.queue_qos0_messages=true"};
    load(&cfg, sets, 5);
    int n = exp_testbed_mosquitto_conf(&cfg, "198.18.0.1", 1883, "/s/rep0", buf, sizeof buf);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    static const char *const lines[] = {
        "listener 1883 198.18.0.1\n", "set_tcp_nodelay true\n", "max_inflight_messages 3\n",
        "max_queued_messages 0\n", "queue_qos0_messages true\n", "persistence true\n",
        "persistence_location /s/rep0/\n", "autosave_on_changes true\n", "autosave_interval 1\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(buf, lines[i]))
            fail_msg("missing '%s' in:\n%s", lines[i], buf);
    exp_config_free(&cfg);
    char *every[] = {"broker.autosave_interval_s=2.5"};
    load(&cfg, every, 1);
    exp_testbed_mosquitto_conf(&cfg, "198.18.0.1", 1883, "/s", buf, sizeof buf);
    assert_non_null(strstr(buf, "persistence false\n"));
    assert_non_null(strstr(buf, "autosave_on_changes false\nautosave_interval 2\n"));
    exp_config_free(&cfg);
    load(&cfg, NULL, 0); /* Mosquitto's default 1800 s */
    exp_testbed_mosquitto_conf(&cfg, "198.18.0.1", 1883, "/s", buf, sizeof buf);
    assert_non_null(strstr(buf, "autosave_on_changes false\nautosave_interval 1800\n"));
    exp_config_free(&cfg);
}

/* Scheduled restarts as given; random ones from the stream
 * "broker.restarts": deterministic per (seed, rep), other per rep, each
 * down_s long, never overlapping, all starting before duration + drain
 * (15 s here). With mtbf 2 s and 1 s down the windows start about every
 * 3 s: 1 to 15 of them (the count is random; its mean is about 5). */
static void restarts_scheduled_and_random(void **state)
{
    (void)state;
    exp_config cfg;
    exp_window *w, *w2;
    char *sched[] = {"broker.restarts=[[4, 1.5], [1, 0.5]]"};
    load(&cfg, sched, 1);
    assert_int_equal(exp_testbed_restarts(&cfg, 0, &w), 2);
    assert_int_equal(w[0].at_ns, 1000000000);
    assert_int_equal(w[0].len_ns, 500000000);
    assert_int_equal(w[1].at_ns, 4000000000);
    assert_int_equal(w[1].len_ns, 1500000000);
    free(w);
    exp_config_free(&cfg);
    load(&cfg, NULL, 0);
    assert_int_equal(exp_testbed_restarts(&cfg, 0, &w), 0);
    assert_null(w);
    exp_config_free(&cfg);
    char *rnd[] = {"broker.restarts={\"mtbf_s\": 2, \"down_s\": 1}"};
    load(&cfg, rnd, 1);
    long n = exp_testbed_restarts(&cfg, 0, &w);
    assert_true(n >= 1 && n <= 15);
    assert_int_equal(exp_testbed_restarts(&cfg, 0, &w2), n);
    assert_memory_equal(w, w2, (size_t)n * sizeof *w);
    for (long i = 0; i < n; i++) {
        assert_int_equal(w[i].len_ns, 1000000000);
        assert_true(w[i].at_ns < 15000000000LL);
        if (i)
            assert_true(w[i].at_ns >= w[i - 1].at_ns + w[i - 1].len_ns);
    }
    free(w2);
    long n1 = exp_testbed_restarts(&cfg, 1, &w2);
    assert_true(n1 != n || memcmp(w, w2, (size_t)n * sizeof *w) != 0);
    free(w);
    free(w2);
    exp_config_free(&cfg);
}

/* The kernel settings for the model's TCP and for Linux as shipped, and
 * the keys Linux cannot take. */
static void kernel_tcp_settings(void **state)
{
    (void)state;
    exp_config cfg;
    exp_tb_kernel k;
    const char *keys[8];
    load(&cfg, NULL, 0);
    const exp_tcp *t = &cfg.clients[0].tcp;
    exp_tb_kernel_of(t, EXP_TB_TCP_MODEL, &k);
    assert_int_equal(k.mtu, 1500);
    assert_int_equal(k.rto_min_ms, 200);
    assert_int_equal(k.initcwnd, 10);
    assert_true(k.quickack);
    assert_true(k.model_recovery);
    assert_int_equal(k.retries2, 15);
    assert_int_equal(k.syn_retries, 6);
    assert_int_equal(exp_tb_tcp_not_applied(t, EXP_TB_TCP_MODEL, false, keys, 8), 0);
    exp_tb_kernel_of(t, EXP_TB_TCP_LINUX, &k);
    assert_false(k.quickack);
    assert_false(k.model_recovery);
    assert_int_equal(exp_tb_tcp_not_applied(t, EXP_TB_TCP_LINUX, false, keys, 8), 1);
    assert_string_equal(keys[0], "tcp.delayed_ack_ms");
    exp_config_free(&cfg);
    char *sets[] = {"tcp.mss=536", "tcp.rto_min_ms=50", "tcp.rto_formula=rfc6298",
                    "tcp.rto_max_ms=5000", "tcp.delayed_ack_ms=40"};
    load(&cfg, sets, 5);
    t = &cfg.clients[0].tcp;
    exp_tb_kernel_of(t, EXP_TB_TCP_MODEL, &k);
    assert_int_equal(k.mtu, 576);
    assert_int_equal(k.rto_min_ms, 50);
    assert_int_equal(k.rto_max_ms, 5000);
    assert_false(k.quickack);
    size_t n = exp_tb_tcp_not_applied(t, EXP_TB_TCP_MODEL, false, keys, 8);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "tcp.rto_formula");
    assert_string_equal(keys[1], "tcp.rto_max_ms");
    assert_string_equal(keys[2], "tcp.delayed_ack_ms");
    assert_int_equal(exp_tb_tcp_not_applied(t, EXP_TB_TCP_MODEL, true, keys, 8), 2);
    exp_config_free(&cfg);
}

/* The kernel's counters from the two /proc files' layout: a row of names,
 * a row of values, per prefix; summed over calls (one per namespace); a
 * missing column fails. */
static void kernel_tcp_counters_parse(void **state)
{
    (void)state;
    static const char snmp[] =
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
        "Tcp: RtoAlgorithm RtoMin OutSegs RetransSegs InErrs\nTcp: 1 200 1000 17 0\n"
        "Udp: InDatagrams\nUdp: 5\n";
    static const char netstat[] =
        "TcpExt: SyncookiesSent TCPRenoRecovery TCPSackRecovery TCPFastRetrans TCPTimeouts "
        "TCPLossProbes TCPSpuriousRTOs\nTcpExt: 0 4 0 5 9 0 1\n"
        "IpExt: InNoRoutes\nIpExt: 0\n";
    exp_tb_tcp_counts c = {0};
    assert_int_equal(exp_tb_tcp_counts_parse(snmp, netstat, &c), 0);
    assert_int_equal(exp_tb_tcp_counts_parse(snmp, netstat, &c), 0);
    assert_int_equal(c.out_segs, 2000);
    assert_int_equal(c.retrans_segs, 34);
    assert_int_equal(c.reno_recovery, 8);
    assert_int_equal(c.fast_retrans, 10);
    assert_int_equal(c.timeouts, 18);
    assert_int_equal(c.spurious_rtos, 2);
    assert_int_equal(c.sack_recovery, 0);
    assert_int_equal(exp_tb_tcp_counts_parse("Tcp: OutSegs\nTcp: 3\n", netstat, &c), -1);
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
        cmocka_unit_test(mosquitto_conf_maps_the_broker_keys),
        cmocka_unit_test(restarts_scheduled_and_random),
        cmocka_unit_test(kernel_tcp_settings),
        cmocka_unit_test(kernel_tcp_counters_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
