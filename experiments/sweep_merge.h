/* `mqttsim merge`: joins the output directories of a sharded sweep into one. */
#ifndef EXP_SWEEP_MERGE_H
#define EXP_SWEEP_MERGE_H

/* `mqttsim merge DIR... --out DIR`. Returns the exit status. */
int exp_cmd_merge(char *const *dirs, int n, const char *out_dir);

#endif
