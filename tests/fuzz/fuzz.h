/* Fuzz harnesses: one entry per target, shared by libFuzzer builds and the replay test. */
#ifndef TESTS_FUZZ_H
#define TESTS_FUZZ_H

/*
 * Each harness takes one input and checks its target's invariants, calling
 * fuzz_fail() (which aborts, so libFuzzer keeps the input as a crash) when
 * one breaks. The same functions run under libFuzzer (`make fuzz`, clang)
 * and in `make test`, where tests/test_fuzz.c replays every committed seed
 * and every regression input through them with the ordinary build.
 */

#include <stddef.h>
#include <stdint.h>
#include <gsl/gsl_rng.h>

int fuzz_codec(const uint8_t *data, size_t size);
int fuzz_session(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_configrun(const uint8_t *data, size_t size);
int fuzz_tcp(const uint8_t *data, size_t size);
int fuzz_broker(const uint8_t *data, size_t size);
/* CONNACKs accepting a session, and PUBLISHes, that fuzz_broker's broker sent. */
extern size_t fuzz_broker_connacks, fuzz_broker_publishes;
int fuzz_client(const uint8_t *data, size_t size);
/* CONNACKs fuzz_client's client accepted, and messages it handed over. */
extern size_t fuzz_client_connects, fuzz_client_deliveries;
/* Inputs fuzz_config and fuzz_configrun made into configs the loader
 * accepted, and fuzz_configrun's runs of them that succeeded. */
extern size_t fuzz_config_accepted, fuzz_config_ran;

/* A GSL generator whose draws read data, four bytes each, big-endian (zero
 * once the input is used up): a random scenario's choices, made by the
 * fuzzer. data must outlive it. NULL when out of memory. */
gsl_rng *fuzz_bytes_rng(const uint8_t *data, size_t size);

/* Reports the broken invariant and aborts. */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond))                                                                       \
            fuzz_fail(__FILE__, __LINE__, #cond);                                          \
    } while (0)

#endif
