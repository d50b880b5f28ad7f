/* CSV files of results: a reader of whole tables (RFC 4180 quoting) and the writer of cells and numbers. */
#include "experiments/csv.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/fsutil.h"

/* Splits one CSV line into malloc'd fields; consumes the line ending.
 * Returns the next line, or NULL at the end of the text. */
static const char *parse_line(const char *s, exp_csv_row *row)
{
    row->n = 0;
    row->f = NULL;
    if (!*s) return NULL;
    size_t cap = 0;
    for (;;) {
        size_t len = 0, fcap = 16;
        char *field = malloc(fcap);
        if (!field) abort();
        bool quoted = *s == '"';
        if (quoted) s++;
        while (*s) {
            if (quoted && *s == '"') {
                if (s[1] == '"') s++;
                else { s++; quoted = false; continue; }
            } else if (!quoted && (*s == ',' || *s == '\n' || *s == '\r')) {
                break;
            }
            if (len + 1 >= fcap) { fcap *= 2; field = realloc(field, fcap); if (!field) abort(); }
            field[len++] = *s++;
        }
        field[len] = '\0';
        if (row->n == cap) {
            cap = cap ? cap * 2 : 32;
            row->f = realloc(row->f, cap * sizeof *row->f);
            if (!row->f) abort();
        }
        row->f[row->n++] = field;
        if (*s == ',') { s++; continue; }
        if (*s == '\r') s++;
        if (*s == '\n') s++;
        return s;
    }
}

static void row_free(exp_csv_row *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->f[i]);
    free(r->f);
    r->f = NULL;
    r->n = 0;
}

void exp_csv_table_free(exp_csv_table *t)
{
    row_free(&t->head);
    for (size_t i = 0; i < t->n_rows; i++) row_free(&t->rows[i]);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

int exp_csv_parse(const char *text, exp_csv_table *t)
{
    memset(t, 0, sizeof *t);
    const char *s = parse_line(text, &t->head);
    exp_csv_row r;
    while (s && (s = parse_line(s, &r)) != NULL) {
        if (r.n == 1 && !*r.f[0]) { row_free(&r); continue; }   /* blank line */
        t->rows = realloc(t->rows, (t->n_rows + 1) * sizeof *t->rows);
        if (!t->rows) abort();
        t->rows[t->n_rows++] = r;
    }
    return t->head.n ? 0 : -1;
}

int exp_csv_read(const char *path, exp_csv_table *t)
{
    char *text = exp_fs_read(path, NULL);
    if (!text) {
        memset(t, 0, sizeof *t);
        return -1;
    }
    int rc = exp_csv_parse(text, t);
    free(text);
    return rc;
}

long exp_csv_col(const exp_csv_row *head, const char *name)
{
    for (size_t i = 0; i < head->n; i++)
        if (!strcmp(head->f[i], name)) return (long)i;
    return -1;
}

void exp_csv_put_cell(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void exp_csv_put_num(FILE *out, double x)
{
    if (isnan(x)) return;
    if (x == 0) x = 0;   /* no "-0" */
    fprintf(out, "%.12g", x);
}
