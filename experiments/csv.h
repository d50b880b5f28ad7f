/* CSV files of results: a reader of whole tables (RFC 4180 quoting) and the writer of cells and numbers. */
#ifndef EXP_CSV_H
#define EXP_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    size_t n;
    char **f;          /* n malloc'd fields */
} exp_csv_row;

typedef struct {
    exp_csv_row head;  /* the header line */
    size_t n_rows;
    exp_csv_row *rows; /* the lines after it, blank lines left out */
} exp_csv_table;

/* Parses CSV text (RFC 4180 quoting; "\n" or "\r\n" line ends) into *t: its
 * first line is the header. Returns 0, or -1 when the text has no header
 * line (t is then empty). Aborts on out of memory. Cost: O(length). */
int exp_csv_parse(const char *text, exp_csv_table *t);

/* exp_csv_parse on the file at path; -1 also when it cannot be read. */
int exp_csv_read(const char *path, exp_csv_table *t);

void exp_csv_table_free(exp_csv_table *t);

/* The index of the header column called name, or -1. Cost: O(columns). */
long exp_csv_col(const exp_csv_row *head, const char *name);

/* Writes a cell, quoted when it holds a separator, a quote or a line break. */
void exp_csv_put_cell(FILE *out, const char *s);

/* Writes a number with 12 significant digits, or nothing for NaN (an empty
 * cell: not defined). Identical doubles give identical bytes, and the
 * rounding hides the last-bit noise of a mean; -0 is written as 0. */
void exp_csv_put_num(FILE *out, double x);

#endif
