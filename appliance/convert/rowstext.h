/* The text path of the compiled histogram conversion (see appliance/convert/textpath.py):
 * a ping's histograms converted straight from its JSON text, never parsed into
 * Python objects.
 */
#ifndef APPLIANCE_ROWSTEXT_H
#define APPLIANCE_ROWSTEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* histograms_span(text) -> (start, end) | None: where the value of the
 * document's one top-level "histograms" member is, if it is a non-empty object. */
PyObject *histograms_span(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* rows_text(text, start, end, table, loads, dumps) -> (bytes, unknown) | None: the
 * converted histograms object of text[start:end], and the (name, start, end) of
 * each histogram `table` does not know, for the caller to parse. */
PyObject *rows_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* Fill the table of byte classes; once, when the module is loaded. */
void rows_text_init(void);

#endif
