/* pcap writer tests: file and record layout, checksums, splitting, zero runs, write errors, tshark's reading. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/pcap.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mqttsim-pcap-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static uint32_t le32(const uint8_t *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint16_t be16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

/* The ones' complement sum of a buffer that includes its own checksum is
 * 0xffff when the checksum is right (RFC 1071). */
static uint16_t ones_sum(uint32_t acc, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += be16(b + i);
    if (n & 1)
        acc += (uint32_t)b[n - 1] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

static void check_checksums(const uint8_t *ip, size_t n)
{
    assert_int_equal(ones_sum(0, ip, 20), 0xffff);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    pseudo[10] = (uint8_t)((n - 20) >> 8);
    pseudo[11] = (uint8_t)(n - 20);
    uint32_t acc = ones_sum(0, pseudo, 12);
    assert_int_equal(ones_sum(acc, ip + 20, n - 20), 0xffff);
}

static const sim_pcap_seg SEG = {
    .src = 0xC6120002, .dst = 0xC6120001, .sport = 40000, .dport = 1883,
    .seq = 1000, .ack = 77, .flags = SIM_PCAP_ACK | SIM_PCAP_PSH, .window = 502,
};

/* File header: nanosecond magic, version 2.4, snaplen, LINKTYPE_RAW; one
 * record with its timestamp split into seconds and nanoseconds, and headers
 * carrying exactly the fields given. */
static void header_and_one_record(void **state)
{
    (void)state;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/one.pcap", dir);
    sim_pcap *p = sim_pcap_open(path, err, sizeof err);
    assert_non_null(p);
    static const uint8_t pl[] = {0xC0, 0x00}; /* PINGREQ */
    assert_int_equal(sim_pcap_write(p, SIM_S(3) + 1234, &SEG, pl, sizeof pl, 0), 0);
    assert_int_equal(sim_pcap_records(p), 1);
    assert_int_equal(sim_pcap_close(p, err, sizeof err), 0);

    size_t n;
    uint8_t *b = slurp(path, &n);
    assert_int_equal(n, 24 + 16 + 40 + 2);
    assert_int_equal(le32(b), 0xa1b23c4d);
    assert_int_equal(b[4] | b[5] << 8, 2);
    assert_int_equal(b[6] | b[7] << 8, 4);
    assert_int_equal(le32(b + 16), 65535);
    assert_int_equal(le32(b + 20), 101);
    const uint8_t *r = b + 24;
    assert_int_equal(le32(r), 3);
    assert_int_equal(le32(r + 4), 1234);
    assert_int_equal(le32(r + 8), 42);
    assert_int_equal(le32(r + 12), 42);
    const uint8_t *ip = r + 16;
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(be16(ip + 2), 42);
    assert_int_equal(ip[9], 6);
    assert_int_equal(be32(ip + 12), SEG.src);
    assert_int_equal(be32(ip + 16), SEG.dst);
    const uint8_t *tcp = ip + 20;
    assert_int_equal(be16(tcp), 40000);
    assert_int_equal(be16(tcp + 2), 1883);
    assert_int_equal(be32(tcp + 4), 1000);
    assert_int_equal(be32(tcp + 8), 77);
    assert_int_equal(tcp[12], 0x50);
    assert_int_equal(tcp[13], SIM_PCAP_ACK | SIM_PCAP_PSH);
    assert_int_equal(be16(tcp + 14), 502);
    assert_memory_equal(tcp + 20, pl, 2);
    check_checksums(ip, 42);
    free(b);
}

/* A payload beyond one packet's room is split, bytes first, then the zero
 * run, with sequence numbers advancing by what came before; odd lengths keep
 * the checksums right. */
static void long_payload_is_split_with_zero_run(void **state)
{
    (void)state;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/split.pcap", dir);
    sim_pcap *p = sim_pcap_open(path, err, sizeof err);
    assert_non_null(p);
    uint8_t head[17];
    for (size_t i = 0; i < sizeof head; i++)
        head[i] = (uint8_t)(i + 1);
    size_t zeros = 2 * SIM_PCAP_MAX_PAYLOAD - sizeof head + 5; /* three records */
    assert_int_equal(sim_pcap_write(p, SIM_MS(5), &SEG, head, sizeof head, zeros), 0);
    assert_int_equal(sim_pcap_records(p), 3);
    assert_int_equal(sim_pcap_close(p, err, sizeof err), 0);

    size_t n;
    uint8_t *b = slurp(path, &n);
    size_t off = 24, total = 0;
    uint32_t want_seq = SEG.seq;
    for (int k = 0; k < 3; k++) {
        size_t len = le32(b + off + 8);
        const uint8_t *ip = b + off + 16;
        assert_int_equal(be16(ip + 2), len);
        assert_int_equal(be32(ip + 20 + 4), want_seq);
        check_checksums(ip, len);
        if (k == 0)
            assert_memory_equal(ip + 40, head, sizeof head);
        for (size_t i = (k == 0 ? 40 + sizeof head : 40); i < len; i++)
            assert_int_equal(ip[i], 0);
        want_seq += (uint32_t)(len - 40);
        total += len - 40;
        off += 16 + len;
    }
    assert_int_equal(off, n);
    assert_int_equal(total, sizeof head + zeros);
    free(b);
}

/* A write that fails (a full device) is reported at close, never taken for
 * a whole capture. */
static void write_failure_is_reported(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    char err[256] = "";
    sim_pcap *p = sim_pcap_open("/dev/full", err, sizeof err);
    if (p) {
        for (int i = 0; i < 100; i++)
            sim_pcap_write(p, SIM_MS(i), &SEG, NULL, 0, 1000);
        assert_int_equal(sim_pcap_close(p, err, sizeof err), -1);
    }
    assert_non_null(strstr(err, "/dev/full"));
}

static void unwritable_path_is_refused(void **state)
{
    (void)state;
    char err[256];
    assert_null(sim_pcap_open("/nonexistent-dir/x.pcap", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/x.pcap"));
    assert_non_null(strstr(err, "No such file"));
}

/* tshark reads a hand-built exchange (handshake, CONNECT, CONNACK) as TCP on
 * port 1883 carrying MQTT, with no malformed packet. */
static void tshark_decodes_mqtt(void **state)
{
    (void)state;
    if (system("command -v tshark >/dev/null 2>&1") != 0)
        skip();
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/mqtt.pcap", dir);
    sim_pcap *p = sim_pcap_open(path, err, sizeof err);
    assert_non_null(p);
    sim_pcap_seg c = {.src = 0xC6120002, .dst = 0xC6120001, .sport = 40000, .dport = 1883,
                      .seq = 0, .window = 65535, .flags = SIM_PCAP_SYN};
    sim_pcap_seg s = {.src = 0xC6120001, .dst = 0xC6120002, .sport = 1883, .dport = 40000,
                      .seq = 0, .ack = 1, .window = 65535, .flags = SIM_PCAP_SYN | SIM_PCAP_ACK};
    sim_pcap_write(p, SIM_MS(0), &c, NULL, 0, 0);
    sim_pcap_write(p, SIM_MS(10), &s, NULL, 0, 0);
    c.seq = 1;
    c.ack = 1;
    c.flags = SIM_PCAP_ACK;
    sim_pcap_write(p, SIM_MS(20), &c, NULL, 0, 0);
    static const uint8_t connect[] = {0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02,
                                      0x00, 0x3c, 0x00, 0x02, 'c', '0'};
    c.flags = SIM_PCAP_ACK | SIM_PCAP_PSH;
    sim_pcap_write(p, SIM_MS(20), &c, connect, sizeof connect, 0);
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    s.seq = 1;
    s.ack = 1 + sizeof connect;
    s.flags = SIM_PCAP_ACK | SIM_PCAP_PSH;
    sim_pcap_write(p, SIM_MS(30), &s, connack, sizeof connack, 0);
    assert_int_equal(sim_pcap_close(p, err, sizeof err), 0);

    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "tshark -r '%s' -Y mqtt -T fields -e frame.time_epoch -e mqtt.msgtype "
             "-e mqtt.clientid 2>&1",
             path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char out[1024] = "";
    size_t got = fread(out, 1, sizeof out - 1, f);
    out[got] = '\0';
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(out, "0.020000000\t1\tc0\n"));
    assert_non_null(strstr(out, "0.030000000\t2\t\n"));
    /* tshark's own stderr (a warning when run as root) is not output. */
    snprintf(cmd, sizeof cmd,
             "tshark -r '%s' -Y _ws.malformed -T fields -e frame.number 2>/dev/null", path);
    f = popen(cmd, "r");
    assert_non_null(f);
    got = fread(out, 1, sizeof out - 1, f);
    out[got] = '\0';
    assert_int_equal(pclose(f), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_and_one_record),
        cmocka_unit_test(long_payload_is_split_with_zero_run),
        cmocka_unit_test(write_failure_is_reported),
        cmocka_unit_test(unwritable_path_is_refused),
        cmocka_unit_test(tshark_decodes_mqtt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
