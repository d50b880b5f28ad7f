/* Sweeps (placeholder until the sweep engine lands). */
#include <stdio.h>
#include "experiments/sweep.h"

int exp_cmd_sweep(const char *path, int jobs, const char *out_dir, int shard_i, int shard_n)
{
    (void)path; (void)jobs; (void)out_dir; (void)shard_i; (void)shard_n;
    fprintf(stderr, "mqttsim: sweep is not built yet\n");
    return 1;
}

int exp_cmd_merge(char *const *dirs, int n, const char *out_dir)
{
    (void)dirs; (void)n; (void)out_dir;
    fprintf(stderr, "mqttsim: merge is not built yet\n");
    return 1;
}

int exp_cmd_check_sweep(const char *path)
{
    (void)path;
    fprintf(stderr, "mqttsim: sweep checking is not built yet\n");
    return 2;
}
