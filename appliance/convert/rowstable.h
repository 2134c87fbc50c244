/* A revision's histogram names, compiled for the text path (see rowstext.h): the
 * Python type RowTable, built once per spec from RevisionSpec.row_table
 * (appliance/convert/specs.py), so that looking a name up in a ping's text is a
 * hash of its bytes and a compare, with no Python object made for it.
 */
#ifndef APPLIANCE_ROWSTABLE_H
#define APPLIANCE_ROWSTABLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "rowsspec.h"

typedef struct {
    const char *name;           /* ASCII, borrowed from the table's copy of row_table */
    Py_ssize_t len;
    Layout layout;
} RowEntry;

typedef struct {
    PyObject_HEAD
    PyObject *rows;             /* a private copy of row_table: owns what entries borrow */
    RowEntry *entries;
    Py_ssize_t n_entries;
    Py_ssize_t *slots;          /* open addressing: entry index + 1, 0 when empty */
    size_t mask;                /* number of slots - 1 (a power of 2 minus 1) */
} RowTable;

extern PyTypeObject RowTable_Type;

/* The index of the entry named by the `len` bytes at `name`, or -1 if none is. */
Py_ssize_t row_table_find(const RowTable *table, const char *name, Py_ssize_t len);

#endif
