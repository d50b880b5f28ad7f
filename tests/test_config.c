/* Unit tests of the config loader: defaults, link merging, validation messages, --set, key paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "experiments/config.h"

#define ERRLEN 1024

/* One publisher (QoS 1 on t/1) and one subscriber (t/# at QoS 1), nothing else. */
static const char BASE[] =
    "{\"name\":\"base\",\"clients\":["
    "{\"role\":\"publisher\",\"topic\":\"t/1\",\"qos\":1},"
    "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"t/#\",\"qos\":1}]}]}";

/* Loads text (origin "x.json") with up to 4 sets; returns the loader's status. */
static int load(const char *text, exp_config *cfg, char *err, const char *s1, const char *s2,
                const char *s3, const char *s4)
{
    char *sets[4];
    size_t n = 0;
    const char *in[4] = {s1, s2, s3, s4};
    for (int i = 0; i < 4; i++)
        if (in[i])
            sets[n++] = (char *)in[i];
    return exp_config_load_text(text, "x.json", "cfgdir", sets, n, cfg, err, ERRLEN);
}

/* Asserts that text (with one optional set) is rejected with exactly msg. */
static void expect_error(const char *text, const char *set, const char *msg)
{
    exp_config cfg;
    char err[ERRLEN];
    int rc = load(text, &cfg, err, set, NULL, NULL, NULL);
    if (rc != 2 || strcmp(err, msg) != 0) {
        print_error("set %s\n  expected: %s\n  got (%d): %s\n", set ? set : "(none)", msg, rc,
                    err);
        fail();
    }
    /* A failed load leaves nothing behind. */
    assert_null(cfg.clients);
    assert_null(cfg.name);
    assert_null(cfg.json);
}

static void expect_ok(const char *text, const char *set, exp_config *cfg)
{
    char err[ERRLEN];
    int rc = load(text, cfg, err, set, NULL, NULL, NULL);
    if (rc != 0) {
        print_error("set %s: %s\n", set ? set : "(none)", err);
        fail();
    }
}

/* ------------------------------------------------------------- defaults -- */

static void defaults_fill_every_key(void **state)
{
    (void)state;
    const char *text = "{\"clients\":[{\"role\":\"publisher\",\"topic\":\"a\"},"
                       "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"#\",\"qos\":2}]}]}";
    exp_config cfg;
    char err[ERRLEN];
    assert_int_equal(exp_config_load_text(text, "some/dir/minimal.json", "some/dir", NULL, 0,
                                          &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "minimal");
    assert_string_equal(cfg.origin, "some/dir/minimal.json");
    assert_string_equal(cfg.base_dir, "some/dir");
    assert_int_equal(cfg.seed, 1);
    assert_int_equal(cfg.replications, 1);
    assert_true(cfg.duration_s == 10.0);
    assert_true(cfg.drain_s == 60.0);
    assert_int_equal(cfg.mqtt_version, 4);
    assert_int_equal(cfg.qos2_method, MQ_QOS2_A);
    assert_int_equal(cfg.max_inflight, 20);
    assert_int_equal(cfg.max_queued, 1000);
    assert_true(cfg.retry_interval_ms == 200.0);
    assert_int_equal(cfg.max_retries, -1);
    assert_int_equal(cfg.n_clients, 2);

    const exp_client *p = &cfg.clients[0];
    assert_int_equal(p->role, EXP_PUBLISHER);
    assert_int_equal(p->count, 1);
    assert_string_equal(p->topic, "a");
    assert_int_equal(p->qos, 0);
    assert_true(p->rate_hz == 10.0);
    assert_int_equal(p->arrival, EXP_PERIODIC);
    assert_int_equal(p->payload_bytes, 32);
    assert_true(p->retry_interval_ms == 200.0);
    assert_int_equal(p->max_retries, -1);
    const sim_link_params *dirs[4] = {&p->up, &p->down, &cfg.clients[1].up, &cfg.clients[1].down};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dirs[i]->loss.kind, SIM_LOSS_NONE);
        assert_int_equal(dirs[i]->delay.kind, SIM_DIST_CONSTANT);
        assert_true(dirs[i]->delay.a == 0.0);
        assert_int_equal(dirs[i]->bandwidth_bps, 0);
        assert_false(dirs[i]->reorder);
    }

    const exp_client *s = &cfg.clients[1];
    assert_int_equal(s->role, EXP_SUBSCRIBER);
    assert_int_equal(s->count, 1);
    assert_int_equal(s->n_subs, 1);
    assert_string_equal(s->subs[0].filter, "#");
    assert_int_equal(s->subs[0].qos, 2);
    assert_false(s->has_qos2_method);
    assert_int_equal(s->qos2_method, MQ_QOS2_A);
    assert_true(s->retry_interval_ms == 200.0);

    /* The resolved config, every default written out. */
    assert_string_equal(
        cfg.json,
        "{\"name\":\"minimal\",\"seed\":1,\"replications\":1,\"duration_s\":10,\"drain_s\":60,"
        "\"mqtt_version\":4,\"broker\":{\"qos2_method\":\"A\",\"max_inflight\":20,"
        "\"max_queued\":1000,\"retry_interval_ms\":200,\"max_retries\":-1},"
        "\"link\":{\"loss\":{\"model\":\"none\"},\"delay\":{\"dist\":\"constant\",\"ms\":0},"
        "\"bandwidth_bps\":0,\"reorder\":false},"
        "\"clients\":[{\"role\":\"publisher\",\"count\":1,\"topic\":\"a\",\"qos\":0,"
        "\"rate_hz\":10,\"arrival\":\"periodic\",\"payload_bytes\":32,"
        "\"retry_interval_ms\":200,\"max_retries\":-1,"
        "\"link\":{\"loss\":{\"model\":\"none\"},\"delay\":{\"dist\":\"constant\",\"ms\":0},"
        "\"bandwidth_bps\":0,\"reorder\":false}},"
        "{\"role\":\"subscriber\",\"count\":1,\"subscribe\":[{\"filter\":\"#\",\"qos\":2}],"
        "\"qos2_method\":\"A\","
        "\"link\":{\"loss\":{\"model\":\"none\"},\"delay\":{\"dist\":\"constant\",\"ms\":0},"
        "\"bandwidth_bps\":0,\"reorder\":false}}]}");
    exp_config_free(&cfg);
    assert_null(cfg.json);
    exp_config_free(&cfg); /* twice is safe */
}

static void defaults_name_origin_and_base_dir(void **state)
{
    (void)state;
    exp_config cfg;
    char err[ERRLEN];
    const char *text = BASE + 0;
    /* Without a name key the origin's base name is used; NULLs give "<config>"
     * in messages, "experiment" as the name and "." as base_dir. */
    char *noname = strdup(text);
    assert_non_null(noname);
    memcpy(strstr(noname, "\"name\""), "\"nam_\"", 6);
    assert_int_equal(exp_config_load_text(noname, NULL, NULL, NULL, 0, &cfg, err, sizeof err), 2);
    assert_string_equal(err, "<config>: nam_: unknown key; did you mean 'name'?");
    char *set = "name=my-run";
    assert_int_equal(exp_config_load_text(BASE, NULL, NULL, &set, 1, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "my-run");
    assert_string_equal(cfg.base_dir, ".");
    assert_string_equal(cfg.origin, "<config>");
    exp_config_free(&cfg);
    free(noname);

    const char *anon = "{\"clients\":[{\"role\":\"publisher\",\"topic\":\"a\"},"
                       "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"a\",\"qos\":0}]}]}";
    assert_int_equal(exp_config_load_text(anon, NULL, NULL, NULL, 0, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "experiment");
    exp_config_free(&cfg);
    assert_int_equal(exp_config_load_text(anon, "plain", "/abs/dir", NULL, 0, &cfg, err,
                                          sizeof err), 0);
    assert_string_equal(cfg.name, "plain");
    assert_string_equal(cfg.base_dir, "/abs/dir");
    exp_config_free(&cfg);
}

static void broker_values_are_the_clients_defaults(void **state)
{
    (void)state;
    const char *text =
        "{\"broker\":{\"qos2_method\":\"B\",\"retry_interval_ms\":750,\"max_retries\":3,"
        "\"max_inflight\":0,\"max_queued\":0},"
        "\"clients\":[{\"role\":\"publisher\",\"topic\":\"a\"},"
        "{\"role\":\"publisher\",\"topic\":\"b\",\"retry_interval_ms\":50,\"max_retries\":0},"
        "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"#\",\"qos\":2}]},"
        "{\"role\":\"subscriber\",\"qos2_method\":\"A\",\"subscribe\":[{\"filter\":\"a\",\"qos\":1},"
        "{\"filter\":\"+\",\"qos\":0}]}]}";
    exp_config cfg;
    expect_ok(text, NULL, &cfg);
    assert_int_equal(cfg.max_inflight, 0);
    assert_int_equal(cfg.max_queued, 0);
    assert_true(cfg.clients[0].retry_interval_ms == 750.0);
    assert_int_equal(cfg.clients[0].max_retries, 3);
    assert_true(cfg.clients[1].retry_interval_ms == 50.0);
    assert_int_equal(cfg.clients[1].max_retries, 0);
    assert_false(cfg.clients[2].has_qos2_method);
    assert_int_equal(cfg.clients[2].qos2_method, MQ_QOS2_B);
    assert_true(cfg.clients[2].retry_interval_ms == 750.0);
    assert_true(cfg.clients[3].has_qos2_method);
    assert_int_equal(cfg.clients[3].qos2_method, MQ_QOS2_A);
    assert_int_equal(cfg.clients[3].n_subs, 2);
    assert_string_equal(cfg.clients[3].subs[1].filter, "+");
    assert_int_equal(cfg.clients[3].subs[1].qos, 0);
    exp_config_free(&cfg);
}

/* The resolved JSON loads back to itself: it is a complete config. */
static void resolved_json_is_a_fixed_point(void **state)
{
    (void)state;
    const char *text =
        "{\"name\":\"fp\",\"seed\":9007199254740991,\"replications\":3,\"duration_s\":2.5,"
        "\"drain_s\":0,\"mqtt_version\":5,"
        "\"link\":{\"loss\":{\"model\":\"gilbert_elliott\",\"p_gb\":0.01,\"p_bg\":0.3},"
        "\"delay\":{\"dist\":\"lognormal\",\"mean_ms\":20,\"sd_ms\":5},"
        "\"down\":{\"bandwidth_bps\":1000000}},"
        "\"clients\":[{\"role\":\"publisher\",\"count\":4,\"topic\":\"a/b\",\"qos\":2,"
        "\"rate_hz\":0.1,\"arrival\":\"poisson\",\"payload_bytes\":0,"
        "\"link\":{\"up\":{\"reorder\":true,\"delay\":{\"dist\":\"pareto\",\"scale_ms\":1,"
        "\"shape\":1.5}}}},"
        "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"a/+\",\"qos\":1}]}]}";
    exp_config a, b;
    char err[ERRLEN];
    expect_ok(text, NULL, &a);
    assert_int_equal(a.seed, 9007199254740991ULL);
    assert_int_equal(a.mqtt_version, 5);
    assert_non_null(strstr(a.json, "\"seed\":9007199254740991,"));
    assert_int_equal(exp_config_load_text(a.json, "again.json", NULL, NULL, 0, &b, err, sizeof err), 0);
    assert_string_equal(a.json, b.json);
    assert_int_equal(b.clients[0].up.delay.kind, SIM_DIST_PARETO);
    assert_true(b.clients[0].up.reorder);
    assert_int_equal(b.clients[0].down.bandwidth_bps, 1000000);
    assert_int_equal(b.clients[1].down.loss.kind, SIM_LOSS_GILBERT_ELLIOTT);
    assert_true(b.clients[1].down.loss.loss_bad == 1.0);
    exp_config_free(&a);
    exp_config_free(&b);
}

/* ----------------------------------------------------------------- links -- */

static void client_link_merges_over_the_top_level_one(void **state)
{
    (void)state;
    const char *text =
        "{\"link\":{\"loss\":{\"model\":\"bernoulli\",\"p\":0.1},"
        "\"delay\":{\"dist\":\"constant\",\"ms\":10},\"bandwidth_bps\":5000},"
        "\"clients\":["
        /* 0: nothing of its own */
        "{\"role\":\"publisher\",\"topic\":\"a\"},"
        /* 1: changes only p; the model and the delay stay */
        "{\"role\":\"publisher\",\"topic\":\"a\",\"link\":{\"loss\":{\"p\":0.3}}},"
        /* 2: another model replaces the loss object (p does not leak into it) */
        "{\"role\":\"publisher\",\"topic\":\"a\",\"link\":{\"loss\":{\"model\":"
        "\"gilbert_elliott\",\"p_gb\":0.02,\"p_bg\":0.4,\"loss_good\":0.001}}},"
        /* 3: the same model named again merges key by key */
        "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"a\",\"qos\":1}],"
        "\"link\":{\"loss\":{\"model\":\"bernoulli\"},\"delay\":{\"ms\":25},\"reorder\":true}}"
        "]}";
    exp_config cfg;
    expect_ok(text, NULL, &cfg);
    for (int d = 0; d < 2; d++) {
        const sim_link_params *c0 = d ? &cfg.clients[0].down : &cfg.clients[0].up;
        const sim_link_params *c1 = d ? &cfg.clients[1].down : &cfg.clients[1].up;
        const sim_link_params *c2 = d ? &cfg.clients[2].down : &cfg.clients[2].up;
        const sim_link_params *c3 = d ? &cfg.clients[3].down : &cfg.clients[3].up;
        assert_int_equal(c0->loss.kind, SIM_LOSS_BERNOULLI);
        assert_true(c0->loss.p == 0.1);
        assert_int_equal(c0->delay.kind, SIM_DIST_CONSTANT);
        assert_true(c0->delay.a == 10.0);
        assert_int_equal(c0->bandwidth_bps, 5000);
        assert_false(c0->reorder);

        assert_int_equal(c1->loss.kind, SIM_LOSS_BERNOULLI);
        assert_true(c1->loss.p == 0.3);
        assert_true(c1->delay.a == 10.0);
        assert_int_equal(c1->bandwidth_bps, 5000);

        assert_int_equal(c2->loss.kind, SIM_LOSS_GILBERT_ELLIOTT);
        assert_true(c2->loss.p_gb == 0.02);
        assert_true(c2->loss.p_bg == 0.4);
        assert_true(c2->loss.loss_good == 0.001);
        assert_true(c2->loss.loss_bad == 1.0); /* default */

        assert_int_equal(c3->loss.kind, SIM_LOSS_BERNOULLI);
        assert_true(c3->loss.p == 0.1);
        assert_true(c3->delay.a == 25.0);
        assert_true(c3->reorder);
        assert_int_equal(c3->bandwidth_bps, 5000);
    }
    exp_config_free(&cfg);
}

static void up_and_down_override_one_direction(void **state)
{
    (void)state;
    /* Precedence: defaults < link < link.up/down < clients.N.link <
     * clients.N.link.up/down. */
    const char *text =
        "{\"link\":{\"loss\":{\"model\":\"bernoulli\",\"p\":0.1},"
        "\"up\":{\"loss\":{\"p\":0.5}},\"down\":{\"bandwidth_bps\":1000}},"
        "\"clients\":["
        "{\"role\":\"publisher\",\"topic\":\"a\"},"
        "{\"role\":\"publisher\",\"topic\":\"a\",\"link\":{\"loss\":{\"p\":0.2}}},"
        "{\"role\":\"publisher\",\"topic\":\"a\",\"link\":{\"loss\":{\"p\":0.2},"
        "\"up\":{\"delay\":{\"dist\":\"uniform\",\"min_ms\":1,\"max_ms\":5}},"
        "\"down\":{\"loss\":{\"p\":0.7},\"reorder\":true}}},"
        "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"a\",\"qos\":1}]}]}";
    exp_config cfg;
    expect_ok(text, NULL, &cfg);
    const exp_client *c = cfg.clients;
    assert_true(c[0].up.loss.p == 0.5);
    assert_true(c[0].down.loss.p == 0.1);
    assert_int_equal(c[0].up.bandwidth_bps, 0);
    assert_int_equal(c[0].down.bandwidth_bps, 1000);
    /* A client's own link beats the top-level direction overrides. */
    assert_true(c[1].up.loss.p == 0.2);
    assert_true(c[1].down.loss.p == 0.2);
    assert_int_equal(c[1].down.bandwidth_bps, 1000);
    /* And its own directions beat its own link. */
    assert_true(c[2].up.loss.p == 0.2);
    assert_int_equal(c[2].up.delay.kind, SIM_DIST_UNIFORM);
    assert_true(c[2].up.delay.a == 1.0);
    assert_true(c[2].up.delay.b == 5.0);
    assert_false(c[2].up.reorder);
    assert_true(c[2].down.loss.p == 0.7);
    assert_int_equal(c[2].down.delay.kind, SIM_DIST_CONSTANT);
    assert_true(c[2].down.reorder);
    assert_int_equal(c[2].down.bandwidth_bps, 1000);
    /* The resolved top-level link shows the two directions apart. */
    assert_non_null(strstr(cfg.json, "\"link\":{\"up\":{\"loss\":{\"model\":\"bernoulli\",\"p\":0.5}"));
    exp_config_free(&cfg);
}

static void every_delay_dist_maps_to_a_and_b(void **state)
{
    (void)state;
    static const struct {
        const char *delay;
        sim_dist_kind kind;
        double a, b;
    } cases[] = {
        {"{\"dist\":\"constant\",\"ms\":3}", SIM_DIST_CONSTANT, 3, 0},
        {"{\"dist\":\"uniform\",\"min_ms\":2,\"max_ms\":2}", SIM_DIST_UNIFORM, 2, 2},
        {"{\"dist\":\"exponential\",\"mean_ms\":7}", SIM_DIST_EXPONENTIAL, 7, 0},
        {"{\"dist\":\"normal\",\"mean_ms\":9,\"sd_ms\":0}", SIM_DIST_NORMAL, 9, 0},
        {"{\"dist\":\"lognormal\",\"mean_ms\":4,\"sd_ms\":1.5}", SIM_DIST_LOGNORMAL, 4, 1.5},
        {"{\"dist\":\"pareto\",\"scale_ms\":0.5,\"shape\":2.5}", SIM_DIST_PARETO, 0.5, 2.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char set[128];
        snprintf(set, sizeof set, "link.delay=%s", cases[i].delay);
        exp_config cfg;
        expect_ok(BASE, set, &cfg);
        assert_int_equal(cfg.clients[0].up.delay.kind, cases[i].kind);
        assert_true(cfg.clients[0].up.delay.a == cases[i].a);
        assert_true(cfg.clients[0].down.delay.b == cases[i].b);
        exp_config_free(&cfg);
    }
}

static void link_models_are_checked_after_merging(void **state)
{
    (void)state;
    const char *pub = "{\"role\":\"publisher\",\"topic\":\"a\"";
    const char *sub = "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"a\",\"qos\":1}]}";
    char text[1024];
#define CFG(link, publink) \
    (snprintf(text, sizeof text, "{\"link\":%s,\"clients\":[%s%s},%s]}", link, pub, publink, sub), text)
    expect_error(CFG("{\"loss\":{\"p\":0.1}}", ""), NULL,
                 "x.json: link.loss.p: loss model \"none\" has no parameter \"p\" "
                 "(the model is the default; set \"model\" too)");
    expect_error(CFG("{\"loss\":{\"model\":\"bernoulli\"}}", ""), NULL,
                 "x.json: link.loss: loss model \"bernoulli\" needs \"p\"");
    expect_error(CFG("{\"loss\":{\"model\":\"gilbert_elliott\",\"p_gb\":0.1}}", ""), NULL,
                 "x.json: link.loss: loss model \"gilbert_elliott\" needs \"p_bg\"");
    /* A new model in the client's link starts from nothing. */
    expect_error(CFG("{\"loss\":{\"model\":\"gilbert_elliott\",\"p_gb\":0.1,\"p_bg\":0.2}}",
                     ",\"link\":{\"loss\":{\"model\":\"bernoulli\"}}"),
                 NULL, "x.json: clients.0.link.loss: loss model \"bernoulli\" needs \"p\"");
    expect_error(CFG("{\"loss\":{\"model\":\"bernoulli\",\"p\":0.1}}",
                     ",\"link\":{\"up\":{\"loss\":{\"p_gb\":0.1}}}"),
                 NULL,
                 "x.json: clients.0.link.up.loss.p_gb: loss model \"bernoulli\" has no "
                 "parameter \"p_gb\" (the model is set at link.loss.model; set \"model\" too)");
    expect_error(CFG("{\"delay\":{\"dist\":\"uniform\",\"min_ms\":5,\"max_ms\":1}}", ""), NULL,
                 "x.json: link.delay.max_ms: expected a number >= min_ms (5), got 1");
    expect_error(CFG("{}", ",\"link\":{\"delay\":{\"dist\":\"uniform\",\"min_ms\":5}}"), NULL,
                 "x.json: clients.0.link.delay: delay dist \"uniform\" needs \"max_ms\"");
    expect_error(CFG("{\"delay\":{\"dist\":\"lognormal\",\"mean_ms\":0,\"sd_ms\":1}}", ""), NULL,
                 "x.json: link.delay.mean_ms: expected a number > 0 for a lognormal delay, got 0");
    expect_error(CFG("{\"delay\":{\"dist\":\"constant\",\"mean_ms\":3}}", ""), NULL,
                 "x.json: link.delay.mean_ms: delay dist \"constant\" has no parameter "
                 "\"mean_ms\" (the dist is set at link.delay.dist; set \"dist\" too)");
    expect_error(CFG("{\"delay\":{\"mean_ms\":3}}", ""), NULL,
                 "x.json: link.delay.mean_ms: delay dist \"constant\" has no parameter "
                 "\"mean_ms\" (the dist is the default; set \"dist\" too)");
    expect_error(CFG("{\"delay\":{\"dist\":\"pareto\",\"scale_ms\":1}}", ""), NULL,
                 "x.json: link.delay: delay dist \"pareto\" needs \"shape\"");
    expect_error(CFG("{\"up\":{\"up\":{}}}", ""), NULL,
                 "x.json: link.up.up: 'up' and 'down' may only appear directly inside a link");
    expect_error(CFG("{}", ",\"link\":{\"down\":{\"loss\":5}}"), NULL,
                 "x.json: clients.0.link.down.loss: expected an object, got 5");
    /* The direction that a --set changed is named as --set's. */
    expect_error(CFG("{\"loss\":{\"model\":\"bernoulli\",\"p\":0.1}}", ""),
                 "link.loss.model=\"none\"",
                 "x.json: link.loss.p: loss model \"none\" has no parameter \"p\" "
                 "(the model is set at link.loss.model by --set; set \"model\" too)");
#undef CFG
}

/* ------------------------------------------------------ types and ranges -- */

static void every_key_checks_type_and_range(void **state)
{
    (void)state;
    static const struct {
        const char *set, *msg;
    } cases[] = {
        {"name=a/b", "--set: name: expected a name: a non-empty string of at most 200 bytes, "
                     "without '/' or control characters, not \".\" or \"..\", got \"a/b\""},
        {"name=", "--set: name: expected a name: a non-empty string of at most 200 bytes, "
                  "without '/' or control characters, not \".\" or \"..\", got \"\""},
        {"name=7", "--set: name: expected a name: a non-empty string of at most 200 bytes, "
                   "without '/' or control characters, not \".\" or \"..\", got 7"},
        {"seed=-1", "--set: seed: expected an integer seed from 0 to 9007199254740991, got -1"},
        {"seed=1.5", "--set: seed: expected an integer seed from 0 to 9007199254740991, got 1.5"},
        {"seed=9007199254740992",
         "--set: seed: expected an integer seed from 0 to 9007199254740991, got 9007199254740992"},
        {"seed=x", "--set: seed: expected an integer seed from 0 to 9007199254740991, got \"x\""},
        {"replications=0", "--set: replications: expected an integer from 1 to 1000000, got 0"},
        {"duration_s=0", "--set: duration_s: expected a number of seconds > 0 and <= 1e9, got 0"},
        {"duration_s=true",
         "--set: duration_s: expected a number of seconds > 0 and <= 1e9, got true"},
        {"drain_s=-0.5", "--set: drain_s: expected a number of seconds from 0 to 1e9, got -0.5"},
        {"mqtt_version=3", "--set: mqtt_version: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got 3"},
        {"broker=5", "--set: broker: expected an object, got 5"},
        {"broker.qos2_method=C",
         "--set: broker.qos2_method: expected a QoS 2 method (one of \"A\", \"B\"), got \"C\""},
        {"broker.qos2_method=a", "--set: broker.qos2_method: expected a QoS 2 method (one of "
                                 "\"A\", \"B\"), got \"a\"; did you mean \"A\"?"},
        {"broker.max_inflight=65536", "--set: broker.max_inflight: expected an integer from 0 "
                                      "to 65535 (0: unlimited), got 65536"},
        {"broker.max_queued=-1", "--set: broker.max_queued: expected an integer from 0 to "
                                 "4294967295 (0: unlimited), got -1"},
        {"broker.retry_interval_ms=0", "--set: broker.retry_interval_ms: expected a number of "
                                       "milliseconds > 0 and <= 1e9, got 0"},
        {"broker.max_retries=-2",
         "--set: broker.max_retries: expected an integer >= -1 (-1: unlimited), got -2"},
        {"link=[]", "--set: link: expected an object, got an array"},
        {"link.loss=none", "--set: link.loss: expected an object, got \"none\""},
        {"link.loss.model=bernouli",
         "--set: link.loss.model: expected a loss model (one of \"none\", \"bernoulli\", "
         "\"gilbert_elliott\"), got \"bernouli\"; did you mean \"bernoulli\"?"},
        {"link.loss.model=lossy", "--set: link.loss.model: expected a loss model (one of "
                                  "\"none\", \"bernoulli\", \"gilbert_elliott\"), got \"lossy\""},
        {"link.loss.p=1.5", "--set: link.loss.p: expected a probability, a number from 0 to 1, "
                            "got 1.5"},
        {"link.loss.p_gb=-0.1", "--set: link.loss.p_gb: expected a probability, a number from "
                                "0 to 1, got -0.1"},
        {"link.loss.p_bg=\"0.5\"", "--set: link.loss.p_bg: expected a probability, a number "
                                   "from 0 to 1, got \"0.5\""},
        {"link.loss.loss_good=2", "--set: link.loss.loss_good: expected a probability, a number "
                                  "from 0 to 1, got 2"},
        {"link.loss.loss_bad=true", "--set: link.loss.loss_bad: expected a probability, a "
                                    "number from 0 to 1, got true"},
        {"link.delay.dist=gaussian",
         "--set: link.delay.dist: expected a delay distribution (one of \"constant\", "
         "\"uniform\", \"exponential\", \"normal\", \"lognormal\", \"pareto\"), got \"gaussian\""},
        {"link.delay.ms=-1",
         "--set: link.delay.ms: expected a number of milliseconds from 0 to 1e9, got -1"},
        {"link.delay.min_ms=null",
         "--set: link.delay.min_ms: expected a number of milliseconds from 0 to 1e9, got null"},
        {"link.delay.max_ms=2e9", "--set: link.delay.max_ms: expected a number of milliseconds "
                                  "from 0 to 1e9, got 2000000000"},
        {"link.delay.mean_ms=-3",
         "--set: link.delay.mean_ms: expected a number of milliseconds from 0 to 1e9, got -3"},
        {"link.delay.sd_ms=-3",
         "--set: link.delay.sd_ms: expected a number of milliseconds from 0 to 1e9, got -3"},
        {"link.delay.scale_ms=0", "--set: link.delay.scale_ms: expected a number of "
                                  "milliseconds > 0 and <= 1e9, got 0"},
        {"link.delay.shape=0", "--set: link.delay.shape: expected a number > 0 and <= 1e6, got 0"},
        {"link.bandwidth_bps=-1", "--set: link.bandwidth_bps: expected an integer number of "
                                  "bits per second >= 0 (0: unlimited), got -1"},
        {"link.bandwidth_bps=1.5", "--set: link.bandwidth_bps: expected an integer number of "
                                   "bits per second >= 0 (0: unlimited), got 1.5"},
        {"link.reorder=1", "--set: link.reorder: expected true or false, got 1"},
        {"link.up=5", "--set: link.up: expected an object, got 5"},
        {"link.down.reorder=yes", "--set: link.down.reorder: expected true or false, got \"yes\""},
        {"clients=[]", "--set: clients: expected a non-empty array of client objects "
                       "(publishers and subscribers), got an array"},
        {"clients={}", "--set: clients: expected a non-empty array of client objects "
                       "(publishers and subscribers), got an object"},
        {"clients.0=5", "--set: clients.0: expected a client object, got 5"},
        {"clients.0={\"topic\":\"t\"}",
         "--set: clients.0.role: required key missing; expected \"publisher\" or \"subscriber\""},
        {"clients.0={\"role\":\"publisher\"}",
         "--set: clients.0.topic: required key missing; expected a topic name string"},
        {"clients.0.role=broker", "--set: clients.0.role: expected a role (one of "
                                  "\"publisher\", \"subscriber\"), got \"broker\""},
        {"clients.0.count=0", "--set: clients.0.count: expected an integer from 1 to 1000000, got 0"},
        {"clients.0.topic=a/+", "--set: clients.0.topic: expected a topic name (a non-empty "
                                "string without '+' or '#'), got \"a/+\""},
        {"clients.0.topic=", "--set: clients.0.topic: expected a topic name (a non-empty "
                             "string without '+' or '#'), got \"\""},
        {"clients.0.qos=3", "--set: clients.0.qos: expected an integer 0, 1 or 2, got 3"},
        {"clients.0.qos=-1", "--set: clients.0.qos: expected an integer 0, 1 or 2, got -1"},
        {"clients.0.rate_hz=0", "--set: clients.0.rate_hz: expected a rate in messages per "
                                "second > 0 and <= 1e9, got 0"},
        {"clients.0.rate_hz=-5", "--set: clients.0.rate_hz: expected a rate in messages per "
                                 "second > 0 and <= 1e9, got -5"},
        {"clients.0.arrival=poison", "--set: clients.0.arrival: expected an arrival process "
                                     "(one of \"periodic\", \"poisson\"), got \"poison\"; did "
                                     "you mean \"poisson\"?"},
        {"clients.0.payload_bytes=268435001", "--set: clients.0.payload_bytes: expected an "
                                              "integer number of bytes from 0 to 268435000, "
                                              "got 268435001"},
        {"clients.0.retry_interval_ms=0", "--set: clients.0.retry_interval_ms: expected a "
                                          "number of milliseconds > 0 and <= 1e9, got 0"},
        {"clients.0.max_retries=-2",
         "--set: clients.0.max_retries: expected an integer >= -1 (-1: unlimited), got -2"},
        {"clients.0.qos2_method=\"A\"",
         "--set: clients.0.qos2_method: not a publisher key (it is for subscribers)"},
        {"clients.1.rate_hz=5", "--set: clients.1.rate_hz: not a subscriber key (it is for "
                                "publishers)"},
        {"clients.1.subscribe=[]",
         "--set: clients.1.subscribe: expected an array of 1 to 16 subscriptions, got 0"},
        {"clients.1.subscribe={}", "--set: clients.1.subscribe: expected an array of 1 to 16 "
                                   "{\"filter\", \"qos\"} objects, got an object"},
        {"clients.1.subscribe.0.qos=3",
         "--set: clients.1.subscribe.0.qos: expected an integer 0, 1 or 2, got 3"},
        {"clients.1.subscribe.0.filter=a/#/b",
         "--set: clients.1.subscribe.0.filter: expected a topic filter (non-empty; '+' alone "
         "in its level; '#' alone in the last level), got \"a/#/b\""},
        {"clients.1.subscribe.0={\"qos\":1}",
         "--set: clients.1.subscribe.0.filter: required key missing; expected a topic filter "
         "string"},
        {"clients.1.subscribe.0={\"filter\":\"a\"}",
         "--set: clients.1.subscribe.0.qos: required key missing; expected an integer 0, 1 or 2"},
        {"clients.1.qos2_method=C", "--set: clients.1.qos2_method: expected a QoS 2 method (one "
                                    "of \"A\", \"B\"), got \"C\""},
        {"clients.1.link.loss.p=-1",
         "--set: clients.1.link.loss.p: expected a probability, a number from 0 to 1, got -1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(BASE, cases[i].set, cases[i].msg);
    /* The edges of each range are accepted. */
    static const char *const edges[] = {
        "seed=0", "seed=9007199254740991", "replications=1000000", "duration_s=1e9",
        "drain_s=0", "mqtt_version=5", "broker.max_inflight=65535",
        "broker.max_queued=4294967295", "broker.max_retries=-1", "link.loss={\"model\":"
        "\"bernoulli\",\"p\":1}", "link.loss={\"model\":\"bernoulli\",\"p\":0}",
        "clients.0.qos=2", "clients.0.qos=0", "clients.0.payload_bytes=268435000",
        "clients.0.payload_bytes=0", "clients.0.rate_hz=1e9", "clients.1.subscribe.0.qos=0",
        "link.delay.ms=1e9", "link.bandwidth_bps=9007199254740991",
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        exp_config cfg;
        expect_ok(BASE, edges[i], &cfg);
        exp_config_free(&cfg);
    }
}

static void errors_in_the_file_name_the_file(void **state)
{
    (void)state;
    expect_error("{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\",\"qos\":3},"
                 "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"t\",\"qos\":1}]}]}",
                 NULL, "x.json: clients.0.qos: expected an integer 0, 1 or 2, got 3");
    expect_error("{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\"},"
                 "{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"t\",\"qos\":1},"
                 "{\"filter\":\"u\",\"qos\":7}]}]}",
                 NULL, "x.json: clients.1.subscribe.1.qos: expected an integer 0, 1 or 2, got 7");
    expect_error("[1, 2]", NULL, "x.json: expected a JSON object at the top level, got an array");
    expect_error("{}", NULL, "x.json: clients: required key missing; expected an array of "
                             "client objects (publishers and subscribers)");
    expect_error("  \n ", NULL, "x.json: empty file; expected a JSON object");
    expect_error("{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\"}]}", NULL,
                 "x.json: clients: expected at least one publisher and one subscriber, got 1 "
                 "publisher and 0 subscribers");
    expect_error("{\"clients\":[{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"t\",\"qos\":"
                 "1}]},{\"role\":\"subscriber\",\"subscribe\":[{\"filter\":\"t\",\"qos\":1}]}]}",
                 NULL, "x.json: clients: expected at least one publisher and one subscriber, got "
                       "0 publishers and 2 subscribers");
    expect_error("{\"seed\":1,\"seed\":2,\"clients\":[]}", NULL, "x.json: seed: duplicate key");
    /* 17 subscriptions are one more than a SUBSCRIBE carries. */
    char text[2048] = "{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\"},"
                      "{\"role\":\"subscriber\",\"subscribe\":[";
    for (int i = 0; i < 17; i++)
        strcat(text, i ? ",{\"filter\":\"t\",\"qos\":0}" : "{\"filter\":\"t\",\"qos\":0}");
    strcat(text, "]}]}");
    expect_error(text, NULL,
                 "x.json: clients.1.subscribe: expected an array of 1 to 16 subscriptions, got 17");
}

static void json_syntax_errors_give_line_and_column(void **state)
{
    (void)state;
    expect_error("{\n  \"name\": \"x\",\n  \"clients\": [ 1 2 ]\n}\n", NULL,
                 "x.json:3:18: invalid JSON near '2 ]'");
    /* cJSON stops one past some errors; at the end, the message shows what
     * came before. */
    expect_error("{\"a\": 1,}", NULL,
                 "x.json:1:10: invalid JSON at the end of the file, after '{\"a\": 1,}'");
    expect_error("{\n\t\"name\": \"x\",\n", NULL,
                 "x.json:3:1: invalid JSON at the end of the file, after '\t\"name\": \"x\",'");
    expect_error("{\n \"a\": 1\n \"b\": 2}", NULL, "x.json:3:2: invalid JSON near '\"b\": 2}'");
    expect_error("{\"a\" 1}", NULL, "x.json:1:6: invalid JSON near '1}'");
    expect_error("{} trailing", NULL, "x.json:1:4: invalid JSON near 'trailing'");
    expect_error("{\"a\": tru}", NULL, "x.json:1:7: invalid JSON near 'tru}'");
}

static void misspelt_keys_get_a_suggestion(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"seeed\":1}", "x.json: seeed: unknown key; did you mean 'seed'?"},
        {"{\"replication\":1}", "x.json: replication: unknown key; did you mean 'replications'?"},
        {"{\"duration\":1}", "x.json: duration: unknown key; did you mean 'duration_s'?"},
        {"{\"broker\":{\"max_infligth\":1}}",
         "x.json: broker.max_infligth: unknown key; did you mean 'max_inflight'?"},
        {"{\"link\":{\"los\":{}}}", "x.json: link.los: unknown key; did you mean 'loss'?"},
        {"{\"link\":{\"loss\":{\"p_bg\":0.1,\"p_gd\":0}}}",
         "x.json: link.loss.p_gd: unknown key; did you mean 'p_gb'?"},
        {"{\"link\":{\"delay\":{\"mean\":1}}}",
         "x.json: link.delay.mean: unknown key; did you mean 'mean_ms'?"},
        {"{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\",\"rate_h\":5}]}",
         "x.json: clients.0.rate_h: unknown key; did you mean 'rate_hz'?"},
        {"{\"clients\":[{\"rol\":\"publisher\",\"topic\":\"t\"}]}",
         "x.json: clients.0.rol: unknown key; did you mean 'role'?"},
        {"{\"clients\":[{\"role\":\"subscriber\",\"subscibe\":[]}]}",
         "x.json: clients.0.subscibe: unknown key; did you mean 'subscribe'?"},
        {"{\"clients\":[{\"role\":\"subscriber\",\"subscribe\":[{\"fliter\":\"t\"}]}]}",
         "x.json: clients.0.subscribe.0.fliter: unknown key; did you mean 'filter'?"},
        {"{\"zzz\":1}", "x.json: zzz: unknown key; expected one of: name, seed, replications, "
                        "duration_s, drain_s, mqtt_version, broker, link, clients"},
        {"{\"link\":{\"jitter\":1}}", "x.json: link.jitter: unknown key; expected one of: loss, "
                                      "delay, bandwidth_bps, reorder, up, down"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].text, NULL, cases[i].msg);
}

/* ------------------------------------------------------------------ --set -- */

static void set_overrides_values_of_every_kind(void **state)
{
    (void)state;
    exp_config cfg;
    char err[ERRLEN];
    /* Numbers, bare strings, quoted strings, bools, objects, array elements,
     * keys absent from the file, and a later --set winning. */
    assert_int_equal(load(BASE, &cfg, err, "seed=42", "name=run-a", "link.reorder=true",
                          "clients.0.qos=2"), 0);
    assert_int_equal(cfg.seed, 42);
    assert_string_equal(cfg.name, "run-a");
    assert_true(cfg.clients[1].down.reorder);
    assert_int_equal(cfg.clients[0].qos, 2);
    assert_non_null(strstr(cfg.json, "\"seed\":42,"));
    exp_config_free(&cfg);

    assert_int_equal(load(BASE, &cfg, err, "link.loss={\"model\":\"bernoulli\",\"p\":0.1}",
                          "link.loss.p=0.2", "name=\"123\"", "clients.1.subscribe.0.filter=t/+"),
                     0);
    assert_int_equal(cfg.clients[0].up.loss.kind, SIM_LOSS_BERNOULLI);
    assert_true(cfg.clients[0].up.loss.p == 0.2);
    assert_string_equal(cfg.name, "123");
    assert_string_equal(cfg.clients[1].subs[0].filter, "t/+");
    exp_config_free(&cfg);

    assert_int_equal(load(BASE, &cfg, err, "seed=1", "seed=2", "clients.1.link.down.delay.ms=40",
                          "clients.0={\"role\":\"publisher\",\"topic\":\"z\",\"count\":3}"), 0);
    assert_int_equal(cfg.seed, 2);
    assert_true(cfg.clients[1].down.delay.a == 40.0);
    assert_true(cfg.clients[1].up.delay.a == 0.0);
    assert_int_equal(cfg.clients[0].count, 3);
    assert_string_equal(cfg.clients[0].topic, "z");
    assert_int_equal(cfg.clients[0].qos, 0);
    exp_config_free(&cfg);

    /* Errors inside what a --set put there, replaced or created on the way,
     * name --set. */
    assert_int_equal(load(BASE, &cfg, err, "link.loss={\"model\":\"bernoulli\",\"p\":0.1}",
                          "link={\"loss\":{\"model\":\"bernoulli\",\"p\":3}}", NULL, NULL), 2);
    assert_string_equal(err, "--set: link.loss.p: expected a probability, a number from 0 to 1, got 3");
    assert_int_equal(load(BASE, &cfg, err, "link.up.loss.model=bernoulli", NULL, NULL, NULL), 2);
    assert_string_equal(err, "--set: link.up.loss: loss model \"bernoulli\" needs \"p\"");

    /* A value with '=' in it keeps everything after the first '='. */
    assert_int_equal(load(BASE, &cfg, err, "clients.0.topic=a=b", NULL, NULL, NULL), 0);
    assert_string_equal(cfg.clients[0].topic, "a=b");
    exp_config_free(&cfg);
}

static void set_rejects_paths_outside_the_schema(void **state)
{
    (void)state;
    static const struct {
        const char *set, *msg;
    } cases[] = {
        {"link.los.p=0.2", "--set: link.los: unknown key; did you mean 'loss'?"},
        {"clients.0.rate_h=3", "--set: clients.0.rate_h: unknown key; did you mean 'rate_hz'?"},
        {"bogus=1", "--set: bogus: unknown key; expected one of: name, seed, replications, "
                    "duration_s, drain_s, mqtt_version, broker, link, clients"},
        {"clients.5.qos=1", "--set: clients.5: no such element (clients has 2)"},
        {"clients.x.qos=1", "--set: clients.x: expected an array index (0, 1, ...)"},
        {"clients.-1.qos=1", "--set: clients.-1: expected an array index (0, 1, ...)"},
        {"clients.0.subscribe.0.qos=1",
         "--set: clients.0.subscribe: no such element (the config has no clients.0.subscribe)"},
        {"seed.x=1", "--set: seed.x: seed takes a value, it has no keys"},
        {"link.up.up=1", "--set: link.up.up: unknown key; expected one of: loss, delay, "
                         "bandwidth_bps, reorder"},
        {"link..p=1", "--set: link..p: empty key in the path"},
        {"=1", "--set: expected key.path=value, got '=1'"},
        {"noequals", "--set: expected key.path=value, got 'noequals'"},
        {"name.x.y=1", "--set: name.x.y: name takes a value, it has no keys"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(BASE, cases[i].set, cases[i].msg);
    /* Walking into a value of the wrong type. */
    expect_error("{\"link\":5}", "link.loss.p=1",
                 "--set: link.loss: cannot set inside link, which is 5, not an object");
    expect_error("{\"clients\":{}}", "clients.0.qos=1",
                 "--set: clients.0: cannot set inside clients, which is an object, not an array");
}

/* ------------------------------------------------------------ key paths -- */

static void check_path_knows_the_schema(void **state)
{
    (void)state;
    static const char *const good[] = {
        "name", "seed", "link", "link.loss", "link.loss.p", "link.loss.model",
        "link.up.delay.sd_ms", "link.down.reorder", "broker.qos2_method", "clients",
        "clients.0", "clients.12.qos", "clients.3.subscribe.15.filter",
        "clients.1.link.up.loss.p_gb", "clients.0.qos2_method",
    };
    char err[ERRLEN];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (exp_config_check_path(good[i], err, sizeof err) != 0) {
            print_error("%s: %s\n", good[i], err);
            fail();
        }
    }
    static const struct {
        const char *path, *msg;
    } bad[] = {
        {"link.los", "link.los: unknown key; did you mean 'loss'?"},
        {"link.loss.pgb", "link.loss.pgb: unknown key; did you mean 'p_gb'?"},
        {"link.loss.pp", "link.loss.pp: unknown key; expected one of: model, p, p_gb, p_bg, "
                         "loss_good, loss_bad"},
        {"dur", "dur: unknown key; did you mean 'duration_s'?"},
        {"re", "re: unknown key; expected one of: name, seed, replications, duration_s, "
               "drain_s, mqtt_version, broker, link, clients"},
        {"clients.x", "clients.x: expected an array index (0, 1, ...)"},
        {"seed.x", "seed.x: seed takes a value, it has no keys"},
        {"clients.0.link.up.down", "clients.0.link.up.down: unknown key; expected one of: "
                                   "loss, delay, bandwidth_bps, reorder"},
        {"", "empty key path"},
        {"link..p", "link..p: empty key in the path"},
        {"link.", "link.: empty key in the path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = exp_config_check_path(bad[i].path, err, sizeof err);
        if (rc != 2 || strcmp(err, bad[i].msg) != 0) {
            print_error("%s\n  expected: %s\n  got (%d): %s\n", bad[i].path, bad[i].msg, rc, err);
            fail();
        }
    }
}

/* ----------------------------------------------------------------- files -- */

static void load_reads_a_file_and_is_sweep_file_tells_sweeps(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], sweep[128], missing[128], bad[128];
    snprintf(path, sizeof path, "%s/lossy.json", dir);
    snprintf(sweep, sizeof sweep, "%s/grid.sweep.json", dir);
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"clients\":[{\"role\":\"publisher\",\"topic\":\"t\"},{\"role\":\"subscriber\","
          "\"subscribe\":[{\"filter\":\"t\",\"qos\":1}]}]}", f);
    fclose(f);
    f = fopen(sweep, "w");
    assert_non_null(f);
    fputs("{\"base\":\"lossy.json\",\"vary\":{\"link.loss.p\":[0,0.1]}}", f);
    fclose(f);
    f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"clients\": [}\n", f);
    fclose(f);

    exp_config cfg;
    char err[ERRLEN], *sets[] = {"seed=5"};
    assert_int_equal(exp_config_load(path, sets, 1, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "lossy");
    assert_int_equal(cfg.seed, 5);
    assert_string_equal(cfg.origin, path);
    assert_string_equal(cfg.base_dir, dir);
    exp_config_free(&cfg);

    assert_int_equal(exp_config_load(missing, NULL, 0, &cfg, err, sizeof err), 2);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", missing);
    assert_string_equal(err, want);
    assert_int_equal(exp_config_load(bad, NULL, 0, &cfg, err, sizeof err), 2);
    snprintf(want, sizeof want, "%s:1:14: invalid JSON near '}'", bad);
    assert_string_equal(err, want);
    assert_int_equal(exp_config_load(sweep, NULL, 0, &cfg, err, sizeof err), 2);
    snprintf(want, sizeof want, "%s: base: unknown key; expected one of: name, seed, "
             "replications, duration_s, drain_s, mqtt_version, broker, link, clients", sweep);
    assert_string_equal(err, want);

    assert_true(exp_config_is_sweep_file(sweep));
    assert_false(exp_config_is_sweep_file(path));
    assert_false(exp_config_is_sweep_file(bad));
    assert_false(exp_config_is_sweep_file(missing));

    /* A relative path has "." as its directory. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(exp_config_load("lossy.json", NULL, 0, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.base_dir, ".");
    assert_string_equal(cfg.name, "lossy");
    exp_config_free(&cfg);
    assert_int_equal(chdir(cwd), 0);

    remove(path);
    remove(sweep);
    remove(bad);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_fill_every_key),
        cmocka_unit_test(defaults_name_origin_and_base_dir),
        cmocka_unit_test(broker_values_are_the_clients_defaults),
        cmocka_unit_test(resolved_json_is_a_fixed_point),
        cmocka_unit_test(client_link_merges_over_the_top_level_one),
        cmocka_unit_test(up_and_down_override_one_direction),
        cmocka_unit_test(every_delay_dist_maps_to_a_and_b),
        cmocka_unit_test(link_models_are_checked_after_merging),
        cmocka_unit_test(every_key_checks_type_and_range),
        cmocka_unit_test(errors_in_the_file_name_the_file),
        cmocka_unit_test(json_syntax_errors_give_line_and_column),
        cmocka_unit_test(misspelt_keys_get_a_suggestion),
        cmocka_unit_test(set_overrides_values_of_every_kind),
        cmocka_unit_test(set_rejects_paths_outside_the_schema),
        cmocka_unit_test(check_path_knows_the_schema),
        cmocka_unit_test(load_reads_a_file_and_is_sweep_file_tells_sweeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
