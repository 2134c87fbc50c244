/* A revision's histogram names, compiled (see rowstable.h). */
#include "rowstable.h"

#include <string.h>

#define MIX 0xff51afd7ed558ccdULL

static inline uint64_t
mix(uint64_t h, uint64_t word)
{
    h = (h ^ word) * MIX;
    return (h << 31) | (h >> 33);       /* a product's high bits into the next one's low */
}

/* A hash of a name's bytes, eight at a time (names are 10-60 bytes long), and a
 * last mix (MurmurHash3's) so that a difference in any byte reaches the low bits
 * that choose the slot: a spec's names differ mostly in their last bytes. Not a
 * defence against chosen collisions, and it need not be: the table holds only
 * the spec's names, so a lookup's probes never outnumber the longest run of
 * taken slots, whatever names a ping sends. */
static uint64_t
name_hash(const char *s, Py_ssize_t len)
{
    uint64_t h = (uint64_t)len, word = 0;
    Py_ssize_t i;

    if (len < 8) {
        for (i = 0; i < len; i++) {
            word |= (uint64_t)(unsigned char)s[i] << (8 * i);
        }
        h = mix(h, word);
    } else {
        for (i = 0; i + 8 <= len; i += 8) {
            memcpy(&word, s + i, 8);
            h = mix(h, word);
        }
        if (i < len) {
            memcpy(&word, s + len - 8, 8);  /* the last eight, overlapping the word before */
            h = mix(h, word);
        }
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

Py_ssize_t
row_table_find(const RowTable *table, const char *name, Py_ssize_t len)
{
    size_t at = name_hash(name, len) & table->mask;
    Py_ssize_t slot;

    while ((slot = table->slots[at]) != 0) {
        const RowEntry *e = &table->entries[slot - 1];
        if (e->len == len && memcmp(e->name, name, len) == 0) {
            return slot - 1;
        }
        at = (at + 1) & table->mask;
    }
    return -1;
}

/* Fill the entries and slots from table->rows; -1 with an exception set. */
static int
fill(RowTable *table)
{
    PyObject *key, *entry;
    Py_ssize_t pos = 0, n = PyDict_GET_SIZE(table->rows), size = 8;
    RowEntry *e;
    size_t at;

    while (size < 2 * n) {              /* at most half full: short runs of probes */
        size *= 2;
    }
    table->entries = PyMem_Calloc(n ? n : 1, sizeof(RowEntry));
    table->slots = PyMem_Calloc(size, sizeof(Py_ssize_t));
    if (table->entries == NULL || table->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table->mask = (size_t)size - 1;
    while (PyDict_Next(table->rows, &pos, &key, &entry)) {
        if (!PyUnicode_CheckExact(key)) {
            PyErr_SetString(PyExc_TypeError, "a row table's names must be str");
            return -1;
        }
        if (!PyUnicode_IS_ASCII(key)) {
            continue;                   /* never the name of a plain histogram */
        }
        e = &table->entries[table->n_entries];
        if (layout_of(entry, &e->layout)) {
            PyErr_SetString(PyExc_TypeError, "not a row table entry: (index, n, bounds)");
            return -1;
        }
        e->name = PyUnicode_DATA(key);
        e->len = PyUnicode_GET_LENGTH(key);
        for (at = name_hash(e->name, e->len) & table->mask; table->slots[at] != 0;
             at = (at + 1) & table->mask) {
        }
        table->slots[at] = ++table->n_entries;
    }
    return 0;
}

static PyObject *
row_table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"row_table", NULL};
    PyObject *rows;
    RowTable *table;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:RowTable", keywords, &PyDict_Type,
                                     &rows)) {
        return NULL;
    }
    table = (RowTable *)type->tp_alloc(type, 0);
    if (table == NULL) {
        return NULL;
    }
    table->rows = PyDict_Copy(rows);    /* its own: nobody can change what entries borrow */
    if (table->rows == NULL || fill(table) < 0) {
        Py_DECREF(table);
        return NULL;
    }
    return (PyObject *)table;
}

static void
row_table_dealloc(RowTable *table)
{
    PyMem_Free(table->entries);
    PyMem_Free(table->slots);
    Py_XDECREF(table->rows);
    Py_TYPE(table)->tp_free((PyObject *)table);
}

static Py_ssize_t
row_table_length(RowTable *table)
{
    return table->n_entries;
}

/* Pickled as the row_table it was built from (a RevisionSpec pickles with it). */
static PyObject *
row_table_reduce(RowTable *table, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("O(O)", Py_TYPE(table), table->rows);
}

static PyMethodDef row_table_methods[] = {
    {"__reduce__", (PyCFunction)row_table_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods row_table_mapping = {
    .mp_length = (lenfunc)row_table_length,
};

PyTypeObject RowTable_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "appliance.convert._rowsjson.RowTable",
    .tp_basicsize = sizeof(RowTable),
    .tp_dealloc = (destructor)row_table_dealloc,
    .tp_as_mapping = &row_table_mapping,
    .tp_methods = row_table_methods,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR(
        "RowTable(row_table)\n\n"
        "RevisionSpec.row_table compiled for rows_text (appliance/convert/textpath.py): its\n"
        "ASCII names, looked up by their bytes. len() is the number of those names."),
    .tp_new = row_table_new,
};
