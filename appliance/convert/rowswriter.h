/* The output side of the compiled histogram conversion, shared by its two readers:
 * _rowsjson.c (from the parsed ping) and rowstext.c (from the ping's JSON text).
 *
 * A Writer collects the converted histograms object as JSON text, one row at a
 * time, except the floats: those are collected, as Python floats or as their
 * JSON text, and written by one call of orjson.dumps at the end (writer_finish;
 * the texts parsed first by one call of orjson.loads), so no float is ever read
 * or formatted differently from orjson.
 */
#ifndef APPLIANCE_ROWSWRITER_H
#define APPLIANCE_ROWSWRITER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define N_STATISTICS 5
#define MAX_DIGITS 21           /* "-9223372036854775808", "18446744073709551615" */

typedef struct {
    Py_ssize_t position;
    uint64_t count;
} Bucket;

/* A statistic of a row, as its reader found it. */
enum { STAT_NULL, STAT_INT, STAT_UINT, STAT_FLOAT, STAT_FLOAT_TEXT };
typedef struct {
    int kind;
    long long integer;          /* STAT_INT */
    unsigned long long uinteger;        /* STAT_UINT: beyond an int64 */
    PyObject *number;           /* STAT_FLOAT: a float (borrowed) */
    const char *text;           /* STAT_FLOAT_TEXT: a number's JSON text */
    Py_ssize_t len;
} Statistic;

typedef struct {
    char *text;                 /* the output, without the floats */
    Py_ssize_t len, cap;
    Py_ssize_t *float_at;       /* where each float goes in `text` */
    Py_ssize_t n_floats, floats_cap;
    PyObject *floats;           /* list of STAT_FLOAT floats */
    char *float_text;           /* "[" and the STAT_FLOAT_TEXT texts, with commas */
    Py_ssize_t float_text_len, float_text_cap;
    Bucket *buckets;            /* one row's non-empty buckets */
    Py_ssize_t buckets_cap;
} Writer;

/* Start the object ("{"); -1 with an exception set on failure. */
int writer_open(Writer *w);

/* Make room for `more` bytes of text; -1 on failure. */
int writer_reserve(Writer *w, Py_ssize_t more);

/* Make room for `need` items of `size` bytes in *array, whose capacity is *cap. */
int writer_grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t size);

/* Write `"name":[...],` for one histogram: the layout's `n` buckets, of which the
 * `m` in w->buckets are not empty, then the statistics. 0 when written, 1 if two
 * entries are for one bucket (not from a real layout), -1 on error. */
int writer_row(Writer *w, const char *name, Py_ssize_t name_len, Py_ssize_t n,
               Py_ssize_t m, const Statistic *statistics);

/* The whole text, "}" added and the floats spliced in: those of STAT_FLOAT_TEXT
 * read by `loads` (NULL if there are none), all of them written by `dumps`. */
PyObject *writer_finish(Writer *w, PyObject *loads, PyObject *dumps);

void writer_free(Writer *w);

/* Fill the template of empty buckets; once, when the module is loaded. */
void writer_init(void);

#endif
