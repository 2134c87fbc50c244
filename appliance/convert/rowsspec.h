/* What the compiled histogram conversion knows of a histogram, shared by its
 * two readers, _rowsjson.c (from the parsed ping) and rowstext.c (from the
 * ping's JSON text): the keys of a histogram object, and where a bucket key
 * goes in a layout of RevisionSpec.row_table (appliance/convert/specs.py).
 */
#ifndef APPLIANCE_ROWSSPEC_H
#define APPLIANCE_ROWSSPEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define VALUES (-1)
#define OTHER_KEY (-2)

/* Which key of a histogram the ASCII text `c` (`length` bytes) is: VALUES, a
 * statistic's position in the row (0-4), or OTHER_KEY. */
int histogram_key(const char *c, Py_ssize_t length);

typedef struct {
    PyObject *index;            /* dict: bucket key -> position */
    Py_ssize_t n;               /* number of buckets */
    const int64_t *bounds;      /* ascending 64-bit bounds, or NULL */
} Layout;

/* Read a row_table entry, (index, n, packed bounds or None); 1 if it is not one. */
int layout_of(PyObject *entry, Layout *layout);

#define MAX_KEY_DIGITS 18        /* a bucket key of at most 18 digits fits in an int64 */

/* The position of `value` among the ascending `bounds` (the last one of equal
 * bounds, as in the layout's index), or -1 if there is none. `from` is where to
 * look first (0: anywhere): buckets come in ascending order, so a ping's next key
 * is usually at or just after the position past the previous one's. */
Py_ssize_t search_value(const int64_t *bounds, Py_ssize_t n, int64_t value, Py_ssize_t from);

/* The position of bucket `key` (`length` bytes of ASCII) among the ascending
 * `bounds` (the last one of equal bounds, as in the layout's index), -1 if there
 * is none, or -2 if `key` is not a plain decimal number (no sign, no leading
 * zero, at most 18 digits) that this search can decide: then ask the index. */
Py_ssize_t search_bounds(const int64_t *bounds, Py_ssize_t n, const unsigned char *key,
                         Py_ssize_t length);

#endif
