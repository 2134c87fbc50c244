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
#include "rowsspec.h"
#include "rowstable.h"
#include "rowstext.h"
#include "rowswriter.h"

#include <string.h>

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

/* The statistic `value` (NULL: absent); 1 if it is not on the regular path. */
static int
statistic_of(PyObject *value, Statistic *s)
{
    int overflow;

    s->kind = STAT_NULL;
    if (value == NULL || value == Py_None) {
        return 0;
    }
    if (PyFloat_CheckExact(value)) {
        s->kind = STAT_FLOAT;
        s->number = value;
        return 0;
    }
    if (!PyLong_CheckExact(value)) {
        return 1;
    }
    s->integer = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow == 0) {
        s->kind = STAT_INT;
        return 0;
    }
    if (overflow > 0) {
        s->uinteger = PyLong_AsUnsignedLongLong(value);
        if (!(s->uinteger == (unsigned long long)-1 && PyErr_Occurred())) {
            s->kind = STAT_UINT;
            return 0;
        }
        PyErr_Clear();
    }
    return 1;
}

/* Write `"name":[...]` for one histogram; 1 if it is not on the regular path,
 * -1 on error. */
static int
put_row(Writer *w, PyObject *name, PyObject *hist, PyObject *entry)
{
    PyObject *values = NULL, *found_statistics[N_STATISTICS] = {NULL};
    PyObject *key, *value, *found;
    Statistic statistics[N_STATISTICS];
    Layout layout;
    Py_ssize_t i, m, pos = 0;
    int k;

    if (!PyDict_CheckExact(hist) || layout_of(entry, &layout) || !plain_name(name)) {
        return 1;
    }
    while (PyDict_Next(hist, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 1;
        }
        if (!PyUnicode_IS_ASCII(key)) {
            continue;
        }
        k = histogram_key(PyUnicode_DATA(key), PyUnicode_GET_LENGTH(key));
        if (k == VALUES) {
            values = value;
        } else if (k >= 0) {
            found_statistics[k] = value;
        }
    }
    if (values == NULL || !PyDict_CheckExact(values)) {
        return 1;
    }
    for (k = 0; k < N_STATISTICS; k++) {
        if (statistic_of(found_statistics[k], &statistics[k])) {
            return 1;
        }
    }
    if (writer_grow((void **)&w->buckets, &w->buckets_cap, PyDict_GET_SIZE(values),
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
        i = -2;
        if (layout.bounds != NULL && PyUnicode_CheckExact(key) && PyUnicode_IS_ASCII(key)) {
            i = search_bounds(layout.bounds, layout.n, PyUnicode_DATA(key),
                              PyUnicode_GET_LENGTH(key));
        }
        if (i == -2) {                  /* not a plain number: ask the layout's index */
            found = PyDict_GetItemWithError(layout.index, key);
            if (found == NULL) {
                PyErr_Clear();
                return 1;
            }
            i = PyLong_AsSsize_t(found);
        }
        if (i < 0 || i >= layout.n || m == w->buckets_cap) {
            PyErr_Clear();
            return 1;
        }
        w->buckets[m].position = i;
        w->buckets[m++].count = count;
    }
    return writer_row(w, PyUnicode_DATA(name), PyUnicode_GET_LENGTH(name), layout.n, m,
                      statistics);
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
    if (writer_open(&w) < 0) {
        goto done;
    }
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
    }
    result = writer_finish(&w, NULL, dumps);

done:
    writer_free(&w);
    return result;
}

static PyMethodDef methods[] = {
    {"rows_json", (PyCFunction)(void (*)(void))rows_json, METH_FASTCALL, rows_json_doc},
    {"histograms_start", (PyCFunction)(void (*)(void))histograms_start, METH_FASTCALL,
     "histograms_start(text) -> int | None\n\nSee appliance.convert.textpath."},
    {"rows_text", (PyCFunction)(void (*)(void))rows_text, METH_FASTCALL,
     "rows_text(text, start, table: RowTable, loads, dumps) -> (bytes, unknown, end) | None\n\n"
     "See appliance.convert.textpath."},
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
    PyObject *module;

    writer_init();
    rows_text_init();
    if (PyType_Ready(&RowTable_Type) < 0) {
        return NULL;
    }
    module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddType(module, &RowTable_Type) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
