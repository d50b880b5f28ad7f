/* End-to-end benchmark: simulated messages per wall second, and memory against run length. */
#define _DEFAULT_SOURCE /* wait4 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/metrics.h"
#include "models/net.h"

/*
 * The scenario: 1 publisher -> broker -> 1 subscriber, QoS 2 (method A),
 * 10% Bernoulli loss on every direction, 10 ms constant delay, 10 kHz
 * periodic publishing, unlimited retries (200 ms). Each size runs in a child
 * process so that its peak RSS is its own.
 */

typedef struct {
    double wall_s, msgs_per_s, events_per_s;
    uint64_t messages, events, unique, expected;
    long rss_kib;
} result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sim_link_params link10(void)
{
    sim_link_params l = {0};
    l.loss.kind = SIM_LOSS_BERNOULLI;
    l.loss.p = 0.1;
    l.delay.kind = SIM_DIST_CONSTANT;
    l.delay.a = 10;
    return l;
}

static int run(uint64_t messages, result *r)
{
    mq_sub sub = {.filter = "bench/#", .len = 7, .qos = 2};
    mq_net_client c[2] = {
        {.name = "pub", .publisher = true, .up = link10(), .down = link10(),
         .retry_interval = SIM_MS(200), .max_retries = -1, .topic = "bench/1", .qos = 2,
         .rate_hz = 10000, .payload_bytes = 32},
        {.name = "sub", .up = link10(), .down = link10(), .retry_interval = SIM_MS(200),
         .max_retries = -1, .subs = &sub, .n_subs = 1, .qos2_method = MQ_QOS2_A},
    };
    mq_net_config cfg = {
        .seed = 1, .version = MQ_V311, .duration = SIM_S(1000000), .drain = SIM_S(600),
        .setup_timeout = SIM_S(60), .max_messages = messages,
        .broker = {.role = MQ_ROLE_BROKER, .max_inflight = 0, .max_queued = 0,
                   .retry_interval = SIM_MS(200), .max_retries = -1, .qos2_method = MQ_QOS2_A},
    };
    char err[256];
    mq_metrics *m = mq_metrics_new();
    mq_net *net = mq_net_new(&cfg, c, 2, m, NULL, err, sizeof err);
    if (!m || !net) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    mq_net_stats st;
    double t0 = now_s();
    if (mq_net_run(net, &st, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    r->wall_s = now_s() - t0;
    mq_group_result g;
    mq_metrics_group(m, 2, 2, &g);
    r->messages = st.messages;
    r->events = st.events;
    r->unique = g.unique;
    r->expected = g.expected;
    r->msgs_per_s = (double)st.messages / r->wall_s;
    r->events_per_s = (double)st.events / r->wall_s;
    mq_net_free(net);
    mq_metrics_free(m);
    return 0;
}

/* Runs one size in a child; the child reports through a pipe, wait4 gives its RSS. */
static int run_child(uint64_t messages, result *r)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(fd[0]);
        result mine = {0};
        int rc = run(messages, &mine);
        if (write(fd[1], &mine, sizeof mine) != (ssize_t)sizeof mine)
            rc = 1;
        _exit(rc);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], r, sizeof *r);
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)sizeof *r)
        return 1;
    r->rss_kib = ru.ru_maxrss;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t big = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ULL;
    uint64_t sizes[3] = {100000, 1000000, big};
    result r[3];
    printf("end-to-end: 1 pub -> broker -> 1 sub, QoS 2 method A, 10%% loss each direction, "
           "10 ms delay\n");
    printf("%12s %10s %14s %14s %12s %10s\n", "messages", "wall_s", "msgs/wall_s", "events/wall_s",
           "delivered", "rss_kib");
    for (int i = 0; i < 3; i++) {
        if (run_child(sizes[i], &r[i]) != 0) {
            fprintf(stderr, "bench: run of %llu messages failed\n", (unsigned long long)sizes[i]);
            return 1;
        }
        printf("%12llu %10.2f %14.0f %14.0f %12llu %10ld\n", (unsigned long long)r[i].messages,
               r[i].wall_s, r[i].msgs_per_s, r[i].events_per_s, (unsigned long long)r[i].unique,
               r[i].rss_kib);
        fflush(stdout);
    }
    double ratio = (double)r[2].rss_kib / (double)r[0].rss_kib;
    printf("peak RSS ratio %llu/%llu messages: %.3f (target < 1.5) %s\n",
           (unsigned long long)sizes[2], (unsigned long long)sizes[0], ratio,
           ratio < 1.5 ? "met" : "NOT met");
    printf("simulated messages per wall second at 1e6: %.0f (target >= 250000) %s\n",
           r[1].msgs_per_s, r[1].msgs_per_s >= 250000 ? "met" : "NOT met");
    return 0;
}
