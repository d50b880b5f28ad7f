/* The testbed's kernel TCP: a config's tcp keys as Linux settings of a namespace and a route, and applying them. */
#ifndef EXP_TESTBED_TCP_H
#define EXP_TESTBED_TCP_H

/*
 * The simulator's TCP model (sim/tcp.h) implements NewReno loss recovery
 * with cumulative ACKs and the RFC 6298 timer; it has no SACK, no
 * timestamps, no RACK or tail loss probe, no F-RTO and no Nagle. Linux has
 * all of them on by default. The testbed runs real Linux TCP in one of two
 * ways:
 *
 *   EXP_TB_TCP_MODEL (the default): Linux set to what the model implements,
 *     per namespace (sysctls) and per route (metrics): tcp_sack, tcp_dsack,
 *     tcp_timestamps, tcp_recovery (RACK), tcp_early_retrans (TLP) and
 *     tcp_frto off; delayed_ack_ms 0 as the route's quickack metric (an ACK
 *     for every segment at once); so simulation and reality differ only in
 *     what neither side can change (timer granularity, real time).
 *   EXP_TB_TCP_LINUX: Linux's loss recovery and ACK policy as shipped (SACK,
 *     D-SACK, timestamps, RACK-TLP, F-RTO, delayed ACKs), for comparing the
 *     model with the TCP that MQTT deployments actually run on.
 *
 * In both ways the keys Linux has a knob for are applied: mss (the TUN
 * devices' MTU, mss + 40), rto_min_ms and initial_cwnd (route metrics),
 * rto_max_ms (net.ipv4.tcp_rto_max_ms, where the kernel has it), retries2 and
 * syn_retries (sysctls). Nagle is off on every socket in both (the engine's
 * client sets TCP_NODELAY, Mosquitto gets set_tcp_nodelay true): the model
 * has none, and it is the application's choice, not the kernel's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "experiments/config.h"

typedef enum { EXP_TB_TCP_MODEL, EXP_TB_TCP_LINUX } exp_tb_tcp_mode;

/* What the testbed sets in the kernel for one client's connection. */
typedef struct {
    uint32_t mtu;             /* the TUN devices' MTU: mss + 40 */
    uint32_t rto_min_ms;      /* route metric rto_min */
    uint32_t initcwnd;        /* route metric initcwnd */
    bool quickack;            /* route metric quickack: every segment ACKed at once */
    uint32_t retries2, syn_retries;   /* sysctls of the namespace */
    uint32_t rto_max_ms;      /* sysctl tcp_rto_max_ms (when the kernel has it) */
    bool model_recovery;      /* SACK, D-SACK, timestamps, RACK, TLP, F-RTO off */
} exp_tb_kernel;

/* The kernel settings for a connection with TCP settings tcp in mode.
 * Pure. */
void exp_tb_kernel_of(const exp_tcp *tcp, exp_tb_tcp_mode mode, exp_tb_kernel *k);

/* The tcp keys (as "tcp.NAME") that Linux cannot take at the value tcp has
 * in mode, into keys[0..cap); returns how many there are. rto_max_ms counts
 * when the running kernel has no tcp_rto_max_ms and the value is not
 * Linux's fixed 120 s (have_rto_max says whether it has). Pure. */
size_t exp_tb_tcp_not_applied(const exp_tcp *tcp, exp_tb_tcp_mode mode, bool have_rto_max,
                              const char **keys, size_t cap);

/* Whether this kernel has net.ipv4.tcp_rto_max_ms (Linux 6.15 and later). */
bool exp_tb_have_rto_max(void);

/* Writes k's sysctls in the current network namespace. 0, or -1 with the
 * file that could not be written in err. */
int exp_tb_kernel_sysctls(const exp_tb_kernel *k, char *err, size_t errlen);

/* Replaces the route to dst (the point-to-point peer of device dev, with
 * local address src) in the current namespace by one carrying k's metrics
 * (rto_min, initcwnd, quickack), through rtnetlink. 0, or -1 with the reason
 * in err. */
int exp_tb_route_set(const char *dev, const char *dst, const char *src, const exp_tb_kernel *k,
                     char *err, size_t errlen);

/* The kernel's TCP counters of a namespace (/proc/net/snmp "Tcp:" and
 * /proc/net/netstat "TcpExt:"), the counterparts of the simulator's tcp_*
 * figures: segments sent (without retransmissions), segments retransmitted,
 * RTO expiries, fast retransmits, recoveries entered (NewReno, SACK), tail
 * loss probes, RTOs found spurious. */
typedef struct {
    uint64_t out_segs, retrans_segs, timeouts, fast_retrans, reno_recovery, sack_recovery,
        loss_probes, spurious_rtos;
} exp_tb_tcp_counts;

/* Adds the counters in the text of /proc/net/snmp and /proc/net/netstat to
 * *c. Returns 0, or -1 when a needed row or column is missing. Pure. */
int exp_tb_tcp_counts_parse(const char *snmp, const char *netstat, exp_tb_tcp_counts *c);

/* Adds the current namespace's counters to *c. 0, or -1. */
int exp_tb_tcp_counts_read(exp_tb_tcp_counts *c);

#endif
