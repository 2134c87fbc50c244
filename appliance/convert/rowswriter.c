/* Writing converted histogram rows as JSON text (see rowswriter.h). */
#include "rowswriter.h"

#include <string.h>

int
writer_reserve(Writer *w, Py_ssize_t more)
{
    Py_ssize_t cap = w->cap ? w->cap : 1 << 16;
    char *text;

    if (w->len + more <= w->cap) {
        return 0;
    }
    while (cap < w->len + more) {
        cap *= 2;
    }
    text = PyMem_Realloc(w->text, cap);
    if (text == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->text = text;
    w->cap = cap;
    return 0;
}

int
writer_grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t size)
{
    void *more;

    if (need <= *cap) {
        return 0;
    }
    more = PyMem_Realloc(*array, need * size);
    if (more == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *array = more;
    *cap = need;
    return 0;
}

int
writer_open(Writer *w)
{
    w->floats = PyList_New(0);
    if (w->floats == NULL || writer_reserve(w, 1) < 0) {
        return -1;
    }
    w->text[w->len++] = '{';
    return 0;
}

/* The writers below put text at `o`, where there is room for it, and return
 * where it ends: a cursor in a local variable, which the compiler need not
 * reload after every byte stored, as it must w->text and w->len. */

static char *
put_u64(char *o, uint64_t value)
{
    char digits[MAX_DIGITS];
    int n = 0;

    if (value < 10) {                   /* most counts */
        *o++ = (char)('0' + value);
        return o;
    }
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n) {
        *o++ = digits[--n];
    }
    return o;
}

static char *
put_i64(char *o, long long value)
{
    if (value < 0) {
        *o++ = '-';
        return put_u64(o, (uint64_t)0 - (uint64_t)value);
    }
    return put_u64(o, (uint64_t)value);
}

/* "0,0,0,...": a run of empty buckets is one copy from here. */
#define ZEROS_RUN 512
static char zeros[2 * ZEROS_RUN];

void
writer_init(void)
{
    int i;

    for (i = 0; i < ZEROS_RUN; i++) {
        zeros[2 * i] = '0';
        zeros[2 * i + 1] = ',';
    }
}

static char *
put_zeros(char *o, Py_ssize_t count)
{
    while (count > 0) {
        Py_ssize_t run = count < ZEROS_RUN ? count : ZEROS_RUN;
        memcpy(o, zeros, 2 * run);
        o += 2 * run;
        count -= run;
    }
    return o;
}

static int
by_position(const void *a, const void *b)
{
    Py_ssize_t x = ((const Bucket *)a)->position, y = ((const Bucket *)b)->position;
    return (x > y) - (x < y);
}

/* Sort a row's buckets by position: pings list them in order, or nearly. */
static void
sort_buckets(Bucket *buckets, Py_ssize_t n)
{
    Py_ssize_t i, j;

    if (n > 64) {
        qsort(buckets, n, sizeof(Bucket), by_position);
        return;
    }
    for (i = 1; i < n; i++) {
        Bucket b = buckets[i];
        for (j = i; j > 0 && buckets[j - 1].position > b.position; j--) {
            buckets[j] = buckets[j - 1];
        }
        buckets[j] = b;
    }
}

/* Remember that a float is written at position `at` of the text: `number`, or
 * the float of JSON text `text`. */
static int
put_float(Writer *w, Py_ssize_t at, PyObject *number, const char *text, Py_ssize_t len)
{
    if (w->n_floats == w->floats_cap
            && writer_grow((void **)&w->float_at, &w->floats_cap,
                           w->floats_cap ? 2 * w->floats_cap : 1024, sizeof(Py_ssize_t)) < 0) {
        return -1;
    }
    if (number != NULL && PyList_Append(w->floats, number) < 0) {
        return -1;
    }
    if (number == NULL) {
        if (w->float_text_len + len + 2 > w->float_text_cap
                && writer_grow((void **)&w->float_text, &w->float_text_cap,
                               Py_MAX(2 * (w->float_text_cap + len + 2), 1 << 14), 1) < 0) {
            return -1;
        }
        char separator = w->float_text_len == 0 ? '[' : ',';
        w->float_text[w->float_text_len++] = separator;
        memcpy(w->float_text + w->float_text_len, text, len);
        w->float_text_len += len;
    }
    w->float_at[w->n_floats++] = at;
    return 0;
}

/* Put statistic `s` at `o`; NULL on error. */
static char *
put_statistic(Writer *w, char *o, const Statistic *s)
{
    switch (s->kind) {
    case STAT_INT:
        return put_i64(o, s->integer);
    case STAT_UINT:
        return put_u64(o, s->uinteger);
    case STAT_FLOAT:
        return put_float(w, o - w->text, s->number, NULL, 0) < 0 ? NULL : o;
    case STAT_FLOAT_TEXT:
        return put_float(w, o - w->text, NULL, s->text, s->len) < 0 ? NULL : o;
    default:
        *o++ = '-';
        *o++ = '1';
        return o;
    }
}

int
writer_row(Writer *w, const char *name, Py_ssize_t name_len, Py_ssize_t n, Py_ssize_t m,
           const Statistic *statistics)
{
    Py_ssize_t b, next = 0;
    char *o;
    int k;

    sort_buckets(w->buckets, m);
    if (writer_reserve(w, name_len + 6 + (m + N_STATISTICS) * (MAX_DIGITS + 1) + 2 * n) < 0) {
        return -1;
    }
    o = w->text + w->len;
    *o++ = '"';
    memcpy(o, name, name_len);
    o += name_len;
    *o++ = '"';
    *o++ = ':';
    *o++ = '[';
    for (b = 0; b < m; b++) {
        if (w->buckets[b].position < next) {
            return 1;                   /* two keys for one bucket: not from a real layout */
        }
        o = put_zeros(o, w->buckets[b].position - next);
        o = put_u64(o, w->buckets[b].count);
        *o++ = ',';
        next = w->buckets[b].position + 1;
    }
    o = put_zeros(o, n - next);
    for (k = 0; k < N_STATISTICS; k++) {
        o = put_statistic(w, o, &statistics[k]);
        if (o == NULL) {
            return -1;
        }
        *o++ = k + 1 < N_STATISTICS ? ',' : ']';
    }
    *o++ = ',';
    w->len = o - w->text;
    return 0;
}

/* The floats of the STAT_FLOAT_TEXT statistics, read by `loads`, into w->floats. */
static int
read_floats(Writer *w, PyObject *loads)
{
    PyObject *text, *floats;

    if (w->float_text_len == 0) {
        return 0;
    }
    if (loads == NULL || PyList_GET_SIZE(w->floats) != 0) {
        PyErr_SetString(PyExc_ValueError, "float texts without loads, or mixed with floats");
        return -1;
    }
    text = PyBytes_FromStringAndSize(NULL, w->float_text_len + 1);
    if (text == NULL) {
        return -1;
    }
    memcpy(PyBytes_AS_STRING(text), w->float_text, w->float_text_len);
    PyBytes_AS_STRING(text)[w->float_text_len] = ']';
    floats = PyObject_CallOneArg(loads, text);
    Py_DECREF(text);
    if (floats == NULL) {
        return -1;
    }
    if (!PyList_CheckExact(floats) || PyList_GET_SIZE(floats) != w->n_floats) {
        Py_DECREF(floats);
        PyErr_SetString(PyExc_ValueError, "loads read an unexpected list of floats");
        return -1;
    }
    Py_SETREF(w->floats, floats);
    return 0;
}

/* The final text: `w->text` with the text of each float (from `dumps`) spliced in. */
static PyObject *
splice_floats(Writer *w, PyObject *dumps)
{
    PyObject *written, *out;
    const char *f, *end, *stop;
    char *o;
    Py_ssize_t i, from = 0;

    if (w->n_floats == 0) {
        return PyBytes_FromStringAndSize(w->text, w->len);
    }
    written = PyObject_CallOneArg(dumps, w->floats);
    if (written == NULL) {
        return NULL;
    }
    if (!PyBytes_Check(written) || PyBytes_GET_SIZE(written) < 2) {
        Py_DECREF(written);
        PyErr_SetString(PyExc_TypeError, "dumps must return bytes");
        return NULL;
    }
    f = PyBytes_AS_STRING(written) + 1;                 /* past '[' */
    end = PyBytes_AS_STRING(written) + PyBytes_GET_SIZE(written) - 1;
    for (i = 0, stop = f; (stop = memchr(stop, ',', end - stop)) != NULL; stop++) {
        i++;
    }
    if (i != w->n_floats - 1) {         /* so the copies below stay in bounds */
        Py_DECREF(written);
        PyErr_SetString(PyExc_ValueError, "dumps wrote an unexpected list of floats");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, w->len + (end - f) - (w->n_floats - 1));
    if (out == NULL) {
        Py_DECREF(written);
        return NULL;
    }
    o = PyBytes_AS_STRING(out);
    for (i = 0; i < w->n_floats; i++) {
        stop = memchr(f, ',', end - f);
        if (stop == NULL) {
            stop = end;
        }
        memcpy(o, w->text + from, w->float_at[i] - from);
        o += w->float_at[i] - from;
        from = w->float_at[i];
        memcpy(o, f, stop - f);
        o += stop - f;
        f = stop + 1;
    }
    memcpy(o, w->text + from, w->len - from);
    Py_DECREF(written);
    return out;
}

PyObject *
writer_finish(Writer *w, PyObject *loads, PyObject *dumps)
{
    if (w->text[w->len - 1] == ',') {
        w->len--;                       /* after the last row */
    }
    if (writer_reserve(w, 1) < 0) {
        return NULL;
    }
    w->text[w->len++] = '}';
    if (read_floats(w, loads) < 0) {
        return NULL;
    }
    return splice_floats(w, dumps);
}

void
writer_free(Writer *w)
{
    Py_CLEAR(w->floats);
    PyMem_Free(w->text);
    PyMem_Free(w->float_at);
    PyMem_Free(w->float_text);
    PyMem_Free(w->buckets);
    w->text = NULL;
    w->float_at = NULL;
    w->float_text = NULL;
    w->buckets = NULL;
}
