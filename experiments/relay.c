/* The testbed's relay: a poll loop moving packets between fd pairs through sim_link directions on a real-time clock. */
#define _GNU_SOURCE
#include "experiments/relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <gsl/gsl_rstat.h>

#include "sim/rng.h"
#include "sim/sched.h"

/* How long before a due delivery the relay stops sleeping and polls. */
#define SPIN_NS SIM_US(100)

/* A packet in transit: its bytes follow the header. */
typedef struct {
    size_t len;
    unsigned char data[];
} packet;

/* One direction of one pair. */
typedef struct {
    exp_relay *r;
    sim_link *link;
    gsl_rng *rng, *rng_outages;
    int src_fd, dst_fd;
    exp_relay_dir_stats *st;
} dir;

struct exp_relay {
    sim_sched *s;
    size_t n;
    dir *dirs;                 /* 2n: pair i's up at 2i, down at 2i+1 */
    exp_relay_report *rep;
    int64_t t0;
    gsl_rstat_workspace *slip_stat;
    gsl_rstat_quantile_workspace *slip_p50, *slip_p99;
    unsigned char *buf;        /* read buffer, EXP_RELAY_MAX_PACKET + 1 bytes */
    int failed;
};

int64_t exp_relay_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

exp_relay_report *exp_relay_shared_new(size_t n_pairs)
{
    size_t size = sizeof(exp_relay_report) + n_pairs * sizeof(((exp_relay_report *)0)->pair[0]);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    exp_relay_report *rep = p; /* mmap gives zeroed pages */
    rep->n_pairs = n_pairs;
    return rep;
}

void exp_relay_shared_free(exp_relay_report *rep)
{
    if (rep)
        munmap(rep, sizeof(exp_relay_report) + rep->n_pairs * sizeof(rep->pair[0]));
}

int64_t exp_relay_last_activity(const exp_relay_report *rep)
{
    return __atomic_load_n(&rep->last_activity, __ATOMIC_RELAXED);
}

int exp_relay_state(const exp_relay_report *rep)
{
    return __atomic_load_n(&rep->state, __ATOMIC_ACQUIRE);
}

static void set_state(exp_relay_report *rep, int state)
{
    __atomic_store_n(&rep->state, state, __ATOMIC_RELEASE);
}

/* Relay time: ns since the run's time 0 (never negative, never backwards). */
static sim_time rt_now(const exp_relay *r)
{
    int64_t t = exp_relay_mono_ns() - r->t0;
    return t > 0 ? t : 0;
}

static void fail(exp_relay *r, const char *fmt, const char *what)
{
    if (!r->failed)
        snprintf(r->rep->error, sizeof r->rep->error, fmt, what, strerror(errno));
    r->failed = 1;
}

/* Link delivery: the packet's arrival time has come (the scheduler's now);
 * write it to the far side and measure how late the write is. */
static void on_deliver(void *ctx, void *frame, size_t bytes)
{
    dir *d = ctx;
    exp_relay *r = d->r;
    packet *p = frame;
    (void)bytes;
    sim_time due = sim_sched_now(r->s);
    sim_time now = rt_now(r);
    ssize_t w = write(d->dst_fd, p->data, p->len);
    if (w != (ssize_t)p->len)
        d->st->write_errors++;
    else
        d->st->delivered++, d->st->bytes_delivered += p->len;
    free(p);
    double slip_us = (double)(now > due ? now - due : 0) / 1e3;
    gsl_rstat_add(slip_us, r->slip_stat);
    gsl_rstat_quantile_add(slip_us, r->slip_p50);
    gsl_rstat_quantile_add(slip_us, r->slip_p99);
    exp_relay_slip *sl = &r->rep->slip;
    sl->frames++;
    sl->late_100us += now - due > SIM_US(100);
    sl->late_1ms += now - due > EXP_RELAY_LATE_NS;
    __atomic_store_n(&r->rep->last_activity, now, __ATOMIC_RELAXED);
}

exp_relay *exp_relay_new(const exp_relay_pair *pairs, size_t n, uint64_t seed, uint64_t rep,
                         exp_relay_report *report, char *err, size_t errlen)
{
    exp_relay *r = calloc(1, sizeof *r);
    if (!r)
        goto oom;
    r->n = n;
    r->rep = report;
    r->s = sim_sched_new();
    r->dirs = calloc(2 * n + 1, sizeof *r->dirs);
    r->buf = malloc(EXP_RELAY_MAX_PACKET + 1);
    r->slip_stat = gsl_rstat_alloc();
    r->slip_p50 = gsl_rstat_quantile_alloc(0.5);
    r->slip_p99 = gsl_rstat_quantile_alloc(0.99);
    if (!r->s || !r->dirs || !r->buf || !r->slip_stat || !r->slip_p50 || !r->slip_p99)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const exp_relay_pair *p = &pairs[i];
        for (int k = 0; k < 2; k++) {
            dir *d = &r->dirs[2 * i + k];
            char name[300];
            snprintf(name, sizeof name, "%s.%s", p->name, k == 0 ? "up" : "down");
            d->r = r;
            d->rng = sim_rng_new(seed, rep, name);
            if (!d->rng)
                goto oom;
            d->link = sim_link_new(r->s, k == 0 ? &p->up : &p->down, d->rng, on_deliver, d);
            if (!d->link)
                goto oom;
            d->src_fd = k == 0 ? p->fd_client : p->fd_broker;
            d->dst_fd = k == 0 ? p->fd_broker : p->fd_client;
            d->st = k == 0 ? &report->pair[i].up : &report->pair[i].down;
            const exp_sched *o = k == 0 ? p->outages_up : p->outages_down;
            if (o && o->mtbf_ns > 0) {
                snprintf(name + strlen(name), sizeof name - strlen(name), ".outages");
                if (!(d->rng_outages = sim_rng_new(seed, rep, name)) ||
                    sim_link_random_outages(d->link, o->mtbf_ns, o->down_ns, d->rng_outages))
                    goto oom;
            }
            for (size_t w = 0; o && w < o->n; w++)
                if (sim_link_add_outage(d->link, o->w[w].at_ns, o->w[w].at_ns + o->w[w].len_ns))
                    goto oom;
            int fl = fcntl(d->src_fd, F_GETFL);
            if (fl >= 0)
                fcntl(d->src_fd, F_SETFL, fl | O_NONBLOCK);
        }
    }
    return r;
oom:
    snprintf(err, errlen, "relay: out of memory");
    exp_relay_free(r);
    return NULL;
}

static void free_packet(void *ctx, void *frame)
{
    (void)ctx;
    free(frame);
}

void exp_relay_free(exp_relay *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->dirs && i < 2 * r->n; i++) {
        if (r->dirs[i].link) {
            sim_link_release(r->dirs[i].link, free_packet, NULL);
            sim_link_free(r->dirs[i].link);
        }
        if (r->dirs[i].rng)
            gsl_rng_free(r->dirs[i].rng);
        if (r->dirs[i].rng_outages)
            gsl_rng_free(r->dirs[i].rng_outages);
    }
    free(r->dirs);
    sim_sched_free(r->s);
    free(r->buf);
    if (r->slip_stat)
        gsl_rstat_free(r->slip_stat);
    if (r->slip_p50)
        gsl_rstat_quantile_free(r->slip_p50);
    if (r->slip_p99)
        gsl_rstat_quantile_free(r->slip_p99);
    free(r);
}

/* Reads up to a batch of packets from d's source and sends each on its link
 * at the time it was read. 0; 1 when the source has closed (a socketpair's
 * peer: nothing more will come); -1 on a failure. */
static int pump(exp_relay *r, dir *d)
{
    for (int k = 0; k < 64; k++) {
        ssize_t len = read(d->src_fd, r->buf, EXP_RELAY_MAX_PACKET + 1);
        if (len < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            fail(r, "relay: reading %s: %s", "a packet");
            return -1;
        }
        if (len == 0)
            return 1;
        sim_time now = rt_now(r);
        __atomic_store_n(&r->rep->last_activity, now, __ATOMIC_RELAXED);
        r->rep->packets++;
        if (len > EXP_RELAY_MAX_PACKET) {
            d->st->oversize++;
            continue;
        }
        /* Deliveries due by now go first, and the link sends at now. */
        sim_sched_run_until(r->s, now);
        d->st->sent++;
        d->st->bytes_sent += (uint64_t)len;
        bool down = sim_link_is_down(d->link);
        packet *p = malloc(sizeof *p + (size_t)len);
        if (!p) {
            errno = ENOMEM;
            fail(r, "relay: %s: %s", "out of memory");
            return -1;
        }
        p->len = (size_t)len;
        memcpy(p->data, r->buf, (size_t)len);
        int rc = sim_link_send(d->link, p, (size_t)len);
        if (rc == 0) {
            if (down)
                d->st->lost_outage++;
            else
                d->st->lost++;
            free(p);
        } else if (rc < 0) {
            free(p);
            errno = ENOMEM;
            fail(r, "relay: %s: %s", "out of memory");
            return -1;
        }
    }
    return 0;
}

static void publish_slip(exp_relay *r)
{
    exp_relay_slip *sl = &r->rep->slip;
    if (gsl_rstat_n(r->slip_stat) == 0)
        return;
    sl->mean_us = gsl_rstat_mean(r->slip_stat);
    sl->max_us = gsl_rstat_max(r->slip_stat);
    sl->p50_us = gsl_rstat_quantile_get(r->slip_p50);
    sl->p99_us = gsl_rstat_quantile_get(r->slip_p99);
}

int exp_relay_run(exp_relay *r, int64_t t0, int stop_fd)
{
    r->t0 = t0;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    size_t nfd = 2 * r->n + 3;
    struct pollfd *pfd = calloc(nfd, sizeof *pfd);
    if (sfd < 0 || tfd < 0 || !pfd) {
        fail(r, "relay: %s: %s", "setting up its loop");
        goto out;
    }
    pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = tfd, .events = POLLIN};
    pfd[2] = (struct pollfd){.fd = stop_fd, .events = POLLIN}; /* ignored when -1 */
    for (size_t i = 0; i < 2 * r->n; i++)
        pfd[3 + i] = (struct pollfd){.fd = r->dirs[i].src_fd, .events = POLLIN};
    set_state(r->rep, 1);
    sim_time armed = -1;
    uint64_t since_publish = 0;
    while (!r->failed) {
        sim_sched_run_until(r->s, rt_now(r));
        /* Sleep on the timer until SPIN_NS before the next arrival, then poll
         * without sleeping: a timer wake-up is late by tens of microseconds
         * (more on a virtual machine), a busy poll by about one. */
        sim_time next = sim_sched_next_time(r->s);
        bool spin = next != SIM_NEVER && next - rt_now(r) <= SPIN_NS;
        sim_time wake = spin || next == SIM_NEVER ? SIM_NEVER : next - SPIN_NS;
        if (wake != armed) {
            struct itimerspec its = {0};
            if (wake != SIM_NEVER) {
                int64_t at = t0 + wake;
                its.it_value.tv_sec = at / 1000000000;
                its.it_value.tv_nsec = at % 1000000000;
                if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                    its.it_value.tv_nsec = 1; /* all zero would disarm */
            }
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            armed = wake;
        }
        if (poll(pfd, nfd, spin ? 0 : -1) < 0) {
            if (errno == EINTR)
                continue;
            fail(r, "relay: %s: %s", "poll");
            break;
        }
        if (pfd[0].revents || (stop_fd >= 0 && pfd[2].revents))
            break;
        if (pfd[1].revents) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                fail(r, "relay: %s: %s", "timerfd");
            armed = -1; /* expired: re-arm for whatever is next */
        }
        for (size_t i = 0; i < 2 * r->n && !r->failed; i++) {
            short ev = pfd[3 + i].revents;
            if (((ev & POLLIN) && pump(r, &r->dirs[i]) == 1) || (!(ev & POLLIN) && (ev & (POLLHUP | POLLERR))))
                pfd[3 + i].fd = -1; /* closed: stop polling it */
        }
        if (++since_publish >= 256) {
            publish_slip(r);
            since_publish = 0;
        }
    }
out:
    /* Deliveries already due are made; what is still on a link stays there. */
    if (!r->failed)
        sim_sched_run_until(r->s, rt_now(r));
    for (size_t i = 0; i < 2 * r->n; i++)
        r->dirs[i].st->in_transit = sim_link_in_transit(r->dirs[i].link);
    publish_slip(r);
    free(pfd);
    if (sfd >= 0)
        close(sfd);
    if (tfd >= 0)
        close(tfd);
    set_state(r->rep, r->failed ? -1 : 2);
    return r->failed ? -1 : 0;
}
