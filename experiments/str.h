/* Allocated strings for the experiment front end: formatted and copied, aborting when memory runs out. */
#ifndef EXP_STR_H
#define EXP_STR_H

#include <stddef.h>

/* A malloc'd string from a printf format. Aborts on out of memory: the
 * callers build paths and messages, where no partial result is of use.
 * Cost: two formatting passes. */
char *exp_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats a message into err (errlen bytes, cut to fit) and returns -1: the
 * error return of functions that explain their failures in err. */
int exp_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A malloc'd copy of s, or NULL for NULL. Aborts on out of memory. */
char *exp_strdup(const char *s);

#endif
