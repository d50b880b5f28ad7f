/* Simulation time: int64 nanoseconds, never floating point. */
#ifndef SIM_TIME_H
#define SIM_TIME_H

#include <stdint.h>

typedef int64_t sim_time;

#define SIM_NEVER  INT64_MAX
#define SIM_NS(x)  ((sim_time)(x))
#define SIM_US(x)  ((sim_time)(x) * 1000)
#define SIM_MS(x)  ((sim_time)(x) * 1000000)
#define SIM_S(x)   ((sim_time)(x) * 1000000000)

/* Converts a (possibly fractional) millisecond count to nanoseconds, rounding
 * to the nearest nanosecond. Used at the edge where configs give doubles. */
static inline sim_time sim_from_ms(double ms)
{
    double ns = ms * 1e6;
    return (sim_time)(ns >= 0 ? ns + 0.5 : ns - 0.5);
}

static inline double sim_to_ms(sim_time t) { return (double)t / 1e6; }
static inline double sim_to_s(sim_time t) { return (double)t / 1e9; }

#endif
