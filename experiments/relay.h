/* The testbed's relay: carries real packets between pairs of packet fds (TUN devices) over the kernel's sim_link, in real time. */
#ifndef EXP_RELAY_H
#define EXP_RELAY_H

/*
 * One relay process serves every client of a testbed run. Each client has a
 * pair of packet fds: one on its own side (the TUN device in the client's
 * namespace) and one on the broker's side (the client's TUN device in the
 * broker's namespace). A packet read on the client's fd travels the client's
 * "up" direction and is written to the broker's fd when it arrives; a packet
 * read on the broker's fd travels "down" and is written to the client's fd.
 *
 * Each direction is an unmodified sim_link on one sim_sched whose clock is
 * CLOCK_MONOTONIC minus the run's time 0, drawing from the stream the
 * simulator gives that direction: sim_rng_new(seed, rep, "<name>.up") and
 * "<name>.down" (models/net.c). So a relay replays, frame by frame, the loss
 * decisions and delay samples the simulator would draw for the same sequence
 * of frames. A packet is sent on its link when the relay reads it (its
 * arrival time computed then), and written when the scheduler's clock reaches
 * its arrival; the lateness of that write against the arrival time is the
 * real-time slippage, measured for every delivered packet.
 *
 * Outages are the link's own (sim_link_add_outage, sim_link_random_outages)
 * from the config's link.outages: a packet sent while its direction is down
 * is lost, its draws made as for any packet. Random outages draw from the
 * stream "<name>.up.outages" (".down.outages"), so the link's own draws stay
 * put.
 *
 * Any fd that carries one packet per read and per write works: TUN devices in
 * the testbed, SOCK_SEQPACKET socketpairs in the tests.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "experiments/config.h"
#include "sim/link.h"
#include "sim/time.h"

/* A delivery later than this is counted late (besides the distribution). */
#define EXP_RELAY_LATE_NS SIM_MS(1)

/* Packets larger than this are dropped and counted (TUN MTU is 1500). */
#define EXP_RELAY_MAX_PACKET 65536

/* One client's pair of directions. */
typedef struct {
    const char *name;           /* the client's component name: "c0.0" */
    int fd_client, fd_broker;   /* packet fds; the relay does not close them */
    sim_link_params up, down;   /* up: client to broker */
    const exp_sched *outages_up, *outages_down; /* may be NULL: none */
} exp_relay_pair;

/* Counts of one direction. Once the relay has stopped,
 * sent = lost + lost_outage + delivered + in_transit (still on the link at
 * the end); lost counts the loss model's losses only; oversize packets are
 * counted in nothing else. */
typedef struct {
    uint64_t sent, lost, lost_outage, delivered, in_transit, write_errors, oversize;
    uint64_t bytes_sent, bytes_delivered;
} exp_relay_dir_stats;

/* Real-time slippage of deliveries: how late each write was against its
 * arrival time on the link. */
typedef struct {
    uint64_t frames;            /* deliveries measured */
    uint64_t late_100us, late_1ms;
    double mean_us, p50_us, p99_us, max_us;
} exp_relay_slip;

/* What the relay reports, in memory shared with its parent (see
 * exp_relay_shared_new); readable while the relay runs and after it ends. */
typedef struct {
    int state;                  /* 0 starting, 1 running, 2 stopped cleanly, -1 failed */
    char error[256];            /* when state is -1 */
    int64_t last_activity;      /* relay time (ns) of the last packet read or written */
    uint64_t packets;           /* packets read, all pairs */
    exp_relay_slip slip;
    size_t n_pairs;
    struct {
        exp_relay_dir_stats up, down;
    } pair[];
} exp_relay_report;

/* A report for n_pairs pairs in anonymous shared memory (MAP_SHARED), so a
 * forked relay's counts stay readable by its parent, also after the relay
 * died. NULL when out of memory. Free with exp_relay_shared_free. */
exp_relay_report *exp_relay_shared_new(size_t n_pairs);
void exp_relay_shared_free(exp_relay_report *rep);

/* Atomic reads of the live fields while the relay runs. */
int64_t exp_relay_last_activity(const exp_relay_report *rep);
int exp_relay_state(const exp_relay_report *rep);

typedef struct exp_relay exp_relay;

/* A relay over pairs[0..n) (copied; the names are borrowed until
 * exp_relay_free), seeded like replication rep of a run seeded with seed,
 * with each direction's outages (in ns from the run's time 0) on its link.
 * Each pair's fds are made non-blocking. Returns NULL with a message in err
 * when out of memory. */
exp_relay *exp_relay_new(const exp_relay_pair *pairs, size_t n, uint64_t seed, uint64_t rep,
                         exp_relay_report *report, char *err, size_t errlen);
void exp_relay_free(exp_relay *r);

/*
 * Runs the relay until SIGTERM or SIGINT (blocked and taken through a
 * signalfd, so the caller should be a process of its own: the testbed forks
 * one) or until stop_fd (>= 0) becomes readable or hangs up. t0 is the run's
 * time 0 in CLOCK_MONOTONIC nanoseconds. Sleeps between packets on an
 * absolute timerfd with a timer slack of 1 ns. Packets still in transit at
 * the end are counted as in_transit and freed. Returns 0, or -1 on a failure
 * (out of memory, a read error), with the report's state and error set.
 * Cost per packet: one read, one write, O(log n) in the scheduler.
 */
int exp_relay_run(exp_relay *r, int64_t t0, int stop_fd);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t exp_relay_mono_ns(void);

#endif
