/* The text path of the compiled histogram conversion (see appliance/convert/textpath.py):
 * a ping's histograms converted straight from its JSON text, never parsed into
 * Python objects.
 */
#ifndef APPLIANCE_ROWSTEXT_H
#define APPLIANCE_ROWSTEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* histograms_start(text) -> int | None: where the value of the document's first
 * top-level "histograms" member begins (no key before it has an escape). */
PyObject *histograms_start(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* rows_text(text, start, table, loads, dumps) -> (bytes, unknown, end) | None:
 * the converted histograms object that begins at text[start] and ends before
 * text[end], and the (name, start, end) of each histogram `table` does not know,
 * for the caller to parse; None unless it is all plain, and the document's
 * members after it have no escape in their keys and no "histograms". */
PyObject *rows_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* Fill the table of byte classes; once, when the module is loaded. */
void rows_text_init(void);

#endif
