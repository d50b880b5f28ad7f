/* `mqttsim testbed`: a config's experiment on real Linux TCP and a real broker, in network namespaces joined by the relay. */
#ifndef EXP_TESTBED_H
#define EXP_TESTBED_H

/*
 * The network of one replication (docs/testbed.md has the picture):
 *   - the broker's namespace, address 198.18.0.1, with Mosquitto (or, once it
 *     exists, `mqttsim broker`) listening on 198.18.0.1:1883;
 *   - one namespace per client instance of the config ("c<entry>.<index>",
 *     the simulator's component names), address exp_testbed_client_addr(k)
 *     for the k-th instance in config order;
 *   - per client, a TUN device in its namespace ("tb0") and one in the
 *     broker's ("tb<k>"), point to point, carried by the relay (relay.h)
 *     through the client's up and down link directions.
 * Addresses are from 198.18.0.0/15 (RFC 2544 benchmarking) and exist only
 * inside namespaces the testbed made; no namespace has any other device but
 * its loopback, so nothing can leave them.
 *
 * The namespaces are not bind-mounted: they live as long as the testbed's
 * file descriptors and the processes inside them, so nothing outlives the
 * testbed, however it ends. Every child process is in a PID namespace whose
 * init dies with the testbed (PR_SET_PDEATHSIG), and the kernel kills every
 * process of a PID namespace when its init dies: even a SIGKILL of the
 * testbed leaves no process, and with no process and no fd, no namespace and
 * no TUN device. Only --keep names the namespaces (in /run/netns, as
 * `ip netns` does) and makes the TUN devices persistent, at the end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "experiments/config.h"
#include "experiments/testbed_tcp.h"

typedef enum { EXP_TB_MOSQUITTO, EXP_TB_MQTTSIM } exp_tb_broker;

typedef struct {
    const char *out_dir;        /* NULL: results/<name>-testbed */
    exp_tb_broker broker;
    bool keep;                  /* keep the network of the last replication */
    double max_seconds;         /* refuse runs that may take longer (real time) */
    uint32_t max_clients;       /* refuse configs with more client instances */
    const char *client_cmd;     /* NULL: `mqttsim client`; else `sh -c CMD` per client */
    exp_tb_tcp_mode tcp;        /* Linux set to the model's TCP, or as shipped */
} exp_testbed_opts;

#define EXP_TB_MAX_SECONDS 600
#define EXP_TB_MAX_CLIENTS 32
#define EXP_TB_MAX_CLIENTS_HARD 1000 /* addressing and fd limits */
/* Packets per second the relay carries in real time with a p99 slippage
 * well under a millisecond on the 2-core development machine: measured with
 * flood pings through a 10 ms link, 9,800 packets/s gave a p99 of 0.23 ms
 * and 19,000 packets/s 1.1 ms (docs/testbed.md). */
#define EXP_TB_MAX_PPS 10000.0
#define EXP_TB_BROKER_ADDR "198.18.0.1"
#define EXP_TB_PORT 1883

/* The relay's packet rate a config asks for, a nominal estimate: for each
 * publisher, rate_hz x count x (packets of its QoS flow: 1, 2 or 4 per hop,
 * each a TCP segment plus its ACK: x 2) x (its own hop + one hop per matching
 * subscriber instance, at the downgraded QoS). Resends are not counted. */
double exp_testbed_packet_rate(const exp_config *cfg);

/* What the testbed refuses before anything starts, with the reason in err:
 * a datagram transport, payloads under 16 bytes (the real payload carries
 * the message id and the publish time), faults it does not inject (clients'
 * resets and crashes), broker persistence with `--broker mqttsim` (whose
 * sessions live in memory only), more client instances than max_clients, a
 * real-time cost above max_seconds, a packet rate above the relay's.
 * Returns 0, or 2. Pure: touches no system state. */
int exp_testbed_check(const exp_config *cfg, const exp_testbed_opts *o, char *err, size_t errlen);

/* The broker's restart windows of replication rep, in ns from the run's
 * time 0: the scheduled ones as they are, or random ones drawn as the
 * simulator draws them (exponential up times with mean mtbf from the stream
 * "broker.restarts" of seed and rep, each down for down_ns) until
 * duration + drain. *w is malloc'ed (free it; NULL when none). Returns the
 * count, or -1 when out of memory. */
long exp_testbed_restarts(const exp_config *cfg, uint64_t rep, exp_window **w);

/* The Mosquitto config for cfg's broker keys, listening on addr:port,
 * persistence files in dir, into buf (NUL-terminated; at most cap bytes).
 * Returns the length it needed (as snprintf). */
int exp_testbed_mosquitto_conf(const exp_config *cfg, const char *addr, int port,
                               const char *dir, char *buf, size_t cap);

/* The address of the k-th client instance (config order), as text. */
void exp_testbed_client_addr(size_t k, char *buf, size_t len);

/*
 * The seam to the real-socket client (issue 11's `mqttsim client`): the
 * argv the testbed runs in the namespace of instance `instance` of config
 * entry `entry` in replication rep. self is the mqttsim binary; out_dir is where the client
 * writes its report. A NULL-terminated array in one allocation (free() it),
 * or NULL when out of memory. docs/testbed.md lists the options it uses that
 * issue 11 does not name yet (--id, --arrival, --seed, --rep, --drain,
 * --ready-fd).
 */
char **exp_testbed_client_argv(const char *self, const exp_config *cfg, size_t entry,
                               uint32_t instance, uint64_t rep, const char *out_dir);

/* `mqttsim testbed`: the words after the command name. Returns the exit
 * status: 0, 1 (a run failure: a child died, a timeout), 2 (bad usage, a
 * refused config, missing privileges or packages), 128 + signal when
 * interrupted. */
int exp_cmd_testbed(int argc, char **argv);

#endif
