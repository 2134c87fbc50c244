/* The compiled fast path of histogram conversion (see appliance/convert/rowsjson.py).
 *
 * rows_json(histograms, table, unknown, dumps) writes the JSON text of the
 * converted histograms object, {"NAME":[count_0,...,count_N-1,sum,...],...},
 * byte for byte what orjson.dumps writes for the rows payload.py builds, or
 * returns None as soon as one histogram is not on the regular path; the
 * caller then converts the ping in Python, which knows every error. The
 * regular path: a name of printable ASCII without '"' or '\', a histogram
 * object whose "values" object has only canonical bucket keys of its layout
 * and counts that are ints in [0, 2**64), and statistics that are absent,
 * null, floats or ints in [-2**63, 2**64).
 *
 * Integers are written here (plain decimal, as orjson does). Floats are not:
 * they are collected and written by one call of `dumps` (orjson.dumps) on
 * the list of them, and its text is spliced in, so no float is ever
 * formatted differently from orjson.
 *
 * Histograms whose name is not in `table` are put in `unknown`, in order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define N_STATISTICS 5
#define MAX_DIGITS 21           /* "-9223372036854775808", "18446744073709551615" */

typedef struct {
    Py_ssize_t position;
    uint64_t count;
} Bucket;

typedef struct {
    char *text;                 /* the output, without the floats */
    Py_ssize_t len, cap;
    Py_ssize_t *float_at;       /* where each float of `floats` goes in `text` */
    Py_ssize_t n_floats, floats_cap;
    PyObject *floats;           /* list */
    Bucket *buckets;            /* one row's non-empty buckets */
    Py_ssize_t buckets_cap;
} Writer;

static int
reserve(Writer *w, Py_ssize_t more)
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

/* Make room for `need` items of `size` bytes in *array, whose capacity is *cap. */
static int
grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t size)
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

static void
put_u64(Writer *w, uint64_t value)
{
    char digits[MAX_DIGITS];
    int n = 0;

    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n) {
        w->text[w->len++] = digits[--n];
    }
}

static void
put_i64(Writer *w, long long value)
{
    if (value < 0) {
        w->text[w->len++] = '-';
        put_u64(w, (uint64_t)0 - (uint64_t)value);
    } else {
        put_u64(w, (uint64_t)value);
    }
}

/* "0,0,0,...": a run of empty buckets is one copy from here. */
#define ZEROS_RUN 512
static char zeros[2 * ZEROS_RUN];

static void
put_zeros(Writer *w, Py_ssize_t count)
{
    while (count > 0) {
        Py_ssize_t run = count < ZEROS_RUN ? count : ZEROS_RUN;
        memcpy(w->text + w->len, zeros, 2 * run);
        w->len += 2 * run;
        count -= run;
    }
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

/* Remember that `value` (a float) is written at the current position. */
static int
put_float(Writer *w, PyObject *value)
{
    if (w->n_floats == w->floats_cap
            && grow((void **)&w->float_at, &w->floats_cap,
                    w->floats_cap ? 2 * w->floats_cap : 1024, sizeof(Py_ssize_t)) < 0) {
        return -1;
    }
    if (PyList_Append(w->floats, value) < 0) {
        return -1;
    }
    w->float_at[w->n_floats++] = w->len;
    return 0;
}

/* 1 if `name` is written by orjson as it is, between quotes. */
static int
plain_name(PyObject *name)
{
    const unsigned char *c;
    Py_ssize_t i, n;

    if (!PyUnicode_CheckExact(name) || !PyUnicode_IS_ASCII(name)) {
        return 0;
    }
    c = PyUnicode_DATA(name);
    n = PyUnicode_GET_LENGTH(name);
    for (i = 0; i < n; i++) {
        if (c[i] < 0x20 || c[i] > 0x7e || c[i] == '"' || c[i] == '\\') {
            return 0;
        }
    }
    return 1;
}

#define IS(key, literal) (memcmp((key), (literal), sizeof(literal) - 1) == 0)
#define VALUES (-1)

/* Which key of a histogram `key` (an ASCII str) is: VALUES, a statistic's
 * position, or -2 for any other. By length first: this runs ~3,000 times a ping. */
static int
histogram_key(PyObject *key)
{
    const char *c = PyUnicode_DATA(key);

    switch (PyUnicode_GET_LENGTH(key)) {
    case 3:
        return IS(c, "sum") ? 0 : -2;
    case 6:
        return IS(c, "values") ? VALUES : -2;
    case 7:
        return IS(c, "log_sum") ? 1 : -2;
    case 14:
        return IS(c, "sum_squares_lo") ? 3 : IS(c, "sum_squares_hi") ? 4 : -2;
    case 15:
        return IS(c, "log_sum_squares") ? 2 : -2;
    default:
        return -2;
    }
}

/* The position of bucket `key` in the ascending `bounds` (the last one of equal
 * bounds, as in the layout's index), -1 if there is none, or -2 if `key` is not a
 * plain decimal number (no sign, no leading zero) that this search can decide.
 * Faster than the index: no hashing of the ping's keys (orjson leaves that to
 * their first lookup), no dict probe. */
static Py_ssize_t
search_bounds(const int64_t *bounds, Py_ssize_t n, PyObject *key)
{
    const unsigned char *c;
    Py_ssize_t length, lo = 0, hi = n, mid, i;
    uint64_t value = 0;

    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key)) {
        return -2;
    }
    c = PyUnicode_DATA(key);
    length = PyUnicode_GET_LENGTH(key);
    if (length == 0 || length > 18 || (c[0] == '0' && length > 1)) {
        return -2;                      /* 18 digits always fit in an int64 */
    }
    for (i = 0; i < length; i++) {
        if (c[i] < '0' || c[i] > '9') {
            return -2;
        }
        value = value * 10 + (c[i] - '0');
    }
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (bounds[mid] <= (int64_t)value) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && bounds[lo - 1] == (int64_t)value ? lo - 1 : -1;
}

/* Write one statistic; 1 if it is not on the regular path, -1 on error. */
static int
put_statistic(Writer *w, PyObject *value)
{
    if (value == NULL || value == Py_None) {
        w->text[w->len++] = '-';
        w->text[w->len++] = '1';
        return 0;
    }
    if (PyFloat_CheckExact(value)) {
        return put_float(w, value);
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow == 0) {
            put_i64(w, v);
            return 0;
        }
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(value);
            if (!(u == (unsigned long long)-1 && PyErr_Occurred())) {
                put_u64(w, u);
                return 0;
            }
            PyErr_Clear();
        }
    }
    return 1;
}

/* Write `"name":[...]` for one histogram; 1 if it is not on the regular path,
 * -1 on error. */
static int
put_row(Writer *w, PyObject *name, PyObject *hist, PyObject *entry)
{
    PyObject *index, *packed, *values = NULL, *statistics[N_STATISTICS] = {NULL};
    const int64_t *bounds = NULL;
    PyObject *key, *value, *found;
    Py_ssize_t n, i, m, b, next, pos = 0, name_len;
    int k, status;

    if (!PyDict_CheckExact(hist) || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3
            || !plain_name(name)) {
        return 1;
    }
    index = PyTuple_GET_ITEM(entry, 0);
    n = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 1));
    if (!PyDict_CheckExact(index) || n < 0) {
        PyErr_Clear();
        return 1;
    }
    packed = PyTuple_GET_ITEM(entry, 2);
    if (PyBytes_CheckExact(packed) && PyBytes_GET_SIZE(packed) == n * (Py_ssize_t)sizeof(int64_t)) {
        bounds = (const int64_t *)PyBytes_AS_STRING(packed);
    }
    while (PyDict_Next(hist, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 1;
        }
        if (!PyUnicode_IS_ASCII(key)) {
            continue;
        }
        k = histogram_key(key);
        if (k == VALUES) {
            values = value;
        } else if (k >= 0) {
            statistics[k] = value;
        }
    }
    if (values == NULL || !PyDict_CheckExact(values)) {
        return 1;
    }
    if (grow((void **)&w->buckets, &w->buckets_cap, PyDict_GET_SIZE(values),
             sizeof(Bucket)) < 0) {
        return -1;
    }
    m = 0;
    pos = 0;
    while (PyDict_Next(values, &pos, &key, &value)) {
        unsigned long long count;
        if (!PyLong_CheckExact(value)) {
            return 1;
        }
        count = PyLong_AsUnsignedLongLong(value);     /* negative or >= 2**64: irregular */
        if (count == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 1;
        }
        i = bounds != NULL ? search_bounds(bounds, n, key) : -2;
        if (i == -2) {                  /* not a plain number: ask the layout's index */
            found = PyDict_GetItemWithError(index, key);
            if (found == NULL) {
                PyErr_Clear();
                return 1;
            }
            i = PyLong_AsSsize_t(found);
        }
        if (i < 0 || i >= n || m == w->buckets_cap) {
            PyErr_Clear();
            return 1;
        }
        w->buckets[m].position = i;
        w->buckets[m++].count = count;
    }
    sort_buckets(w->buckets, m);
    name_len = PyUnicode_GET_LENGTH(name);
    if (reserve(w, name_len + 6 + (m + N_STATISTICS) * (MAX_DIGITS + 1) + 2 * n) < 0) {
        return -1;
    }
    w->text[w->len++] = '"';
    memcpy(w->text + w->len, PyUnicode_DATA(name), name_len);
    w->len += name_len;
    w->text[w->len++] = '"';
    w->text[w->len++] = ':';
    w->text[w->len++] = '[';
    next = 0;
    for (b = 0; b < m; b++) {
        if (w->buckets[b].position < next) {
            return 1;                   /* two keys for one bucket: not from a real layout */
        }
        put_zeros(w, w->buckets[b].position - next);
        put_u64(w, w->buckets[b].count);
        w->text[w->len++] = ',';
        next = w->buckets[b].position + 1;
    }
    put_zeros(w, n - next);
    for (k = 0; k < N_STATISTICS; k++) {
        status = put_statistic(w, statistics[k]);
        if (status != 0) {
            return status;
        }
        w->text[w->len++] = k + 1 < N_STATISTICS ? ',' : ']';
    }
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

PyDoc_STRVAR(rows_json_doc,
"rows_json(histograms, table, unknown, dumps) -> bytes | None\n\n"
"See appliance.convert.rowsjson.");

static PyObject *
rows_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *histograms, *table, *unknown, *dumps, *name, *hist, *entry, *result = NULL;
    Py_ssize_t pos = 0;
    Writer w = {0};
    int status;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "rows_json takes 4 arguments");
        return NULL;
    }
    histograms = args[0];
    table = args[1];
    unknown = args[2];
    dumps = args[3];
    if (!PyDict_Check(histograms) || !PyDict_Check(table) || !PyDict_Check(unknown)) {
        PyErr_SetString(PyExc_TypeError, "histograms, table and unknown must be dicts");
        return NULL;
    }
    w.floats = PyList_New(0);
    if (w.floats == NULL || reserve(&w, 1) < 0) {
        goto done;
    }
    w.text[w.len++] = '{';
    while (PyDict_Next(histograms, &pos, &name, &hist)) {
        entry = PyDict_GetItemWithError(table, name);
        if (entry == NULL) {
            if (PyErr_Occurred() || PyDict_SetItem(unknown, name, hist) < 0) {
                goto done;
            }
            continue;
        }
        status = put_row(&w, name, hist, entry);
        if (status < 0) {
            goto done;
        }
        if (status > 0) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        w.text[w.len++] = ',';      /* reserved by put_row */
    }
    if (w.text[w.len - 1] == ',') {
        w.len--;
    }
    if (reserve(&w, 1) < 0) {
        goto done;
    }
    w.text[w.len++] = '}';
    result = splice_floats(&w, dumps);

done:
    Py_XDECREF(w.floats);
    PyMem_Free(w.text);
    PyMem_Free(w.float_at);
    PyMem_Free(w.buckets);
    return result;
}

static PyMethodDef methods[] = {
    {"rows_json", (PyCFunction)(void (*)(void))rows_json, METH_FASTCALL, rows_json_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_rowsjson",
    "Compiled histogram conversion to JSON text (see appliance/convert/rowsjson.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__rowsjson(void)
{
    int i;

    for (i = 0; i < ZEROS_RUN; i++) {
        zeros[2 * i] = '0';
        zeros[2 * i + 1] = ',';
    }
    return PyModule_Create(&module_def);
}
