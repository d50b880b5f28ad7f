/* Running experiments (placeholder until the run engine lands). */
#include "experiments/run.h"

int exp_cmd_run(const exp_config *cfg, const exp_run_opts *opts)
{
    (void)cfg; (void)opts;
    fprintf(stderr, "mqttsim: run is not built yet\n");
    return 1;
}

int exp_cmd_trace(const exp_config *cfg, uint32_t messages, FILE *out)
{
    (void)cfg; (void)messages; (void)out;
    fprintf(stderr, "mqttsim: trace is not built yet\n");
    return 1;
}
