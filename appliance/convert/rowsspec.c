/* What a histogram is made of (see rowsspec.h). */
#include "rowsspec.h"

#include <string.h>

#define IS(key, literal) (memcmp((key), (literal), sizeof(literal) - 1) == 0)

/* By length first: this runs ~3,000 times a ping. */
int
histogram_key(const char *c, Py_ssize_t length)
{
    switch (length) {
    case 3:
        return IS(c, "sum") ? 0 : OTHER_KEY;
    case 6:
        return IS(c, "values") ? VALUES : OTHER_KEY;
    case 7:
        return IS(c, "log_sum") ? 1 : OTHER_KEY;
    case 14:
        return IS(c, "sum_squares_lo") ? 3 : IS(c, "sum_squares_hi") ? 4 : OTHER_KEY;
    case 15:
        return IS(c, "log_sum_squares") ? 2 : OTHER_KEY;
    default:
        return OTHER_KEY;
    }
}

int
layout_of(PyObject *entry, Layout *layout)
{
    PyObject *packed;

    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3) {
        return 1;
    }
    layout->index = PyTuple_GET_ITEM(entry, 0);
    layout->n = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 1));
    if (!PyDict_CheckExact(layout->index) || layout->n < 0) {
        PyErr_Clear();
        return 1;
    }
    packed = PyTuple_GET_ITEM(entry, 2);
    layout->bounds = NULL;
    if (PyBytes_CheckExact(packed)
            && PyBytes_GET_SIZE(packed) == layout->n * (Py_ssize_t)sizeof(int64_t)) {
        layout->bounds = (const int64_t *)PyBytes_AS_STRING(packed);
    }
    return 0;
}

Py_ssize_t
search_value(const int64_t *bounds, Py_ssize_t n, int64_t value, Py_ssize_t from)
{
    Py_ssize_t lo = 0, hi = n, mid;

    if (from > 0 && from <= n && bounds[from - 1] <= value) {
        lo = from;                      /* what is before `from` is not above `value` */
        if (lo == n || bounds[lo] > value) {
            return bounds[lo - 1] == value ? lo - 1 : -1;       /* the usual case */
        }
    }
    while (lo < hi) {
        mid = lo + (Py_ssize_t)((size_t)(hi - lo) >> 1);
        if (bounds[mid] <= value) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo > 0 && bounds[lo - 1] == value ? lo - 1 : -1;
}

/* Faster than the index: no hashing of the key, no dict probe. */
Py_ssize_t
search_bounds(const int64_t *bounds, Py_ssize_t n, const unsigned char *c, Py_ssize_t length)
{
    uint64_t value = 0;
    Py_ssize_t i;

    if (length == 0 || length > MAX_KEY_DIGITS || (c[0] == '0' && length > 1)) {
        return -2;                      /* 18 digits always fit in an int64 */
    }
    for (i = 0; i < length; i++) {
        if (c[i] < '0' || c[i] > '9') {
            return -2;
        }
        value = value * 10 + (c[i] - '0');
    }
    return search_value(bounds, n, (int64_t)value, 0);
}
