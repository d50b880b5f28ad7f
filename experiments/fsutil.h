/* File helpers for result files and job directories: mkdir -p, whole-file reads, atomic writes, copies, removal. */
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

/* Writes len bytes to path through a temporary file in the same directory
 * (".NAME.tmp.PID") and a rename, so a reader never sees half a file and a
 * failed write leaves the old file. Returns 0, or -1 with errno set (the
 * temporary file removed). Cost: O(len). */
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
