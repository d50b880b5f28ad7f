/* File helpers for result files and job directories: mkdir -p, whole-file reads, all-or-nothing writes, copies, removal. */
#include "experiments/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiments/str.h"

int exp_fs_mkdir_p(const char *path)
{
    char *p = exp_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0777) != 0 && errno != EEXIST) rc = -1;
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

bool exp_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool exp_fs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *exp_fs_read(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}

/* Writes len bytes to the new file path. Returns 0 or -1 (errno set). */
static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(data, 1, len, f);
    int saved = errno;
    int closed = fclose(f);
    if (put != len) {
        errno = saved;
        return -1;
    }
    return closed == 0 ? 0 : -1;
}

int exp_fs_write_set(const char *dir, const exp_fs_file *files, size_t n)
{
    char **tmp = calloc(n ? n : 1, sizeof *tmp), **dst = calloc(n ? n : 1, sizeof *dst);
    if (!tmp || !dst) abort();
    size_t written = 0, moved = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        tmp[i] = exp_strf("%s/.%s.tmp.%ld", dir, files[i].name, (long)getpid());
        dst[i] = exp_strf("%s/%s", dir, files[i].name);
    }
    while (rc == 0 && written < n) {
        rc = write_file(tmp[written], files[written].data, files[written].len);
        written++;
    }
    while (rc == 0 && moved < n) {
        rc = rename(tmp[moved], dst[moved]);
        if (rc == 0) moved++;
    }
    int saved = errno;
    for (size_t i = moved; i < written; i++) unlink(tmp[i]);
    if (rc != 0 && moved > 0)
        for (size_t i = 0; i < n; i++) unlink(dst[i]);
    for (size_t i = 0; i < n; i++) {
        free(tmp[i]);
        free(dst[i]);
    }
    free(tmp);
    free(dst);
    errno = saved;
    return rc;
}

int exp_fs_write_atomic(const char *path, const char *data, size_t len)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? exp_strf("%.*s", (int)(slash - path), path) : exp_strdup(".");
    if (slash == path) {   /* a file in / */
        free(dir);
        dir = exp_strdup("");
    }
    exp_fs_file f = {slash ? slash + 1 : path, data, len};
    int rc = exp_fs_write_set(dir, &f, 1);
    int saved = errno;
    free(dir);
    errno = saved;
    return rc;
}

/* Copies the regular file from to the new file to. Returns 0 or -1 (errno). */
static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *text = exp_fs_read(from, &len);
    if (!text) return -1;
    FILE *f = fopen(to, "wb");
    int rc = -1;
    if (f) {
        size_t put = fwrite(text, 1, len, f);
        if (fclose(f) == 0 && put == len) rc = 0;
    }
    free(text);
    return rc;
}

int exp_fs_copy_files(const char *from, const char *to)
{
    DIR *d = opendir(from);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *src = exp_strf("%s/%s", from, e->d_name), *dst = exp_strf("%s/%s", to, e->d_name);
        if (exp_fs_is_file(src)) rc = copy_file(src, dst);
        free(src);
        free(dst);
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    return rc;
}

void exp_fs_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *sub = exp_strf("%s/%s", path, e->d_name);
            exp_fs_rm_tree(sub);
            free(sub);
        }
        closedir(d);
    }
    rmdir(path);
}
