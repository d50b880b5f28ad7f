/* File helpers for result files and job directories: mkdir -p, whole-file reads, all-or-nothing writes, copies, removal. */
#ifndef EXP_FSUTIL_H
#define EXP_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Creates path and its missing parents (mode 0777 before the umask). An
 * existing directory, or anything else already at path, is success: callers
 * that need a directory check with exp_fs_is_dir. Returns 0, or -1 with errno
 * set. Cost: one mkdir per path component. */
int exp_fs_mkdir_p(const char *path);

/* Whether path is a directory / a regular file (symlinks followed). */
bool exp_fs_is_dir(const char *path);
bool exp_fs_is_file(const char *path);

/* The whole file at path, NUL-terminated, its length (without the NUL) in
 * *len when len is not NULL. Returns NULL with errno set when it cannot be
 * opened or read; aborts on out of memory. Cost: O(size). */
char *exp_fs_read(const char *path, size_t *len);

/* One file of a set written by exp_fs_write_set. */
typedef struct {
    const char *name;   /* within the directory */
    const char *data;
    size_t len;
} exp_fs_file;

/* Writes the n files into the existing directory dir as one set: each is
 * written in full to a temporary file beside it (".NAME.tmp.PID") before any
 * is renamed into place. A failed write (a full disk, a size limit) removes
 * the temporary files and leaves the set that was there; a rename that fails
 * after others succeeded removes the whole set, old and new, rather than
 * leave a mix. Only a crash during the renames (microseconds) can leave part
 * of the new set beside part of the old. Returns 0, or -1 with errno set.
 * Cost: O(total size), n renames. */
int exp_fs_write_set(const char *dir, const exp_fs_file *files, size_t n);

/* Writes len bytes to path as a set of one file (exp_fs_write_set): a reader
 * never sees half a file, and a failed write leaves the old one. */
int exp_fs_write_atomic(const char *path, const char *data, size_t len);

/* Copies the regular files of directory from whose names do not start with
 * '.' into the existing directory to (one level; subdirectories are left
 * out). Returns 0, or -1 with errno set at the first failure (files copied
 * until then stay). Cost: O(total size). */
int exp_fs_copy_files(const char *from, const char *to);

/* Removes the directory at path and everything below it (no symlink is
 * followed), or the file or symlink at path. Nothing happens when path does
 * not exist; what cannot be removed is left. Cost: O(entries). */
void exp_fs_rm_tree(const char *path);

#endif
