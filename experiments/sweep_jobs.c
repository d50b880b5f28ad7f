/* A sweep's output directory: job directories by name, which are done, leftovers, and the lock. */
#include "experiments/sweep_jobs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiments/fsutil.h"
#include "experiments/str.h"

char *exp_jobs_name(size_t p, uint32_t r)
{
    return exp_strf("p%04zu-r%02u", p, (unsigned)r);
}

char *exp_jobs_path(const char *jobs_dir, size_t p, uint32_t r, const char *file)
{
    char *n = exp_jobs_name(p, r);
    char *s = file ? exp_strf("%s/%s/%s", jobs_dir, n, file) : exp_strf("%s/%s", jobs_dir, n);
    free(n);
    return s;
}

bool exp_jobs_done(const char *jobs_dir, size_t p, uint32_t r)
{
    char *f = exp_jobs_path(jobs_dir, p, r, "results.csv");
    bool ok = exp_fs_is_file(f);
    free(f);
    return ok;
}

void exp_jobs_remove_tmp(const char *jobs_dir)
{
    DIR *d = opendir(jobs_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        char *p = exp_strf("%s/%s", jobs_dir, e->d_name);
        exp_fs_rm_tree(p);
        free(p);
    }
    closedir(d);
}

int exp_jobs_lock(const char *out_dir)
{
    char *p = exp_strf("%s/.lock", out_dir);
    int fd = open(p, O_RDWR | O_CREAT, 0666);
    free(p);
    if (fd < 0) return -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        close(fd);
        return -2;
    }
    return fd;
}
