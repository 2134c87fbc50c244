/* The text path: a ping's histograms converted from its JSON text (see rowstext.h
 * and appliance/convert/textpath.py, which says when it is used).
 *
 * Correctness rests on one rule: this reader accepts only a small, plain subset
 * of JSON, in which every text means exactly one thing, and answers None (the
 * caller then parses the whole ping with orjson and converts it as before) at
 * anything else. In a known histogram that subset is: keys and strings of
 * printable ASCII without escapes; counts that are plain non-negative integers
 * of at most 19 digits; statistics that are null, plain integers of at most 18
 * digits (not -0) or finite floats; other members (range, bucket_count, ...)
 * that are such strings or integers, true, false, null, or flat arrays of
 * those; "values" and each statistic at most once; a histogram name at most
 * once. What is not read here is only skipped over: the rest of the document
 * and the values of unknown histograms, which the caller has orjson parse.
 *
 * The text is the client's, so no read may pass its end. It is a bytes object,
 * whose buffer always holds a NUL byte after the last one (the C API promises
 * it, see PyBytes_AsString): the scanning loops stop there because NUL is in no
 * byte class and is none of the bytes they look for, so they need no separate
 * end check; what skips more than one byte at a time checks the end first.
 */
#include "rowstext.h"

#include <string.h>

#include "rowsspec.h"
#include "rowstable.h"
#include "rowswriter.h"

/* Deeper than this, an unknown histogram's value is left to the Python path: its
 * depth in the document must stay within what orjson reads and writes. */
#define MAX_UNKNOWN_DEPTH 200
/* Deeper than this, a top-level member is left to orjson, which refuses it. */
#define MAX_DEPTH 1100
#define MAX_COUNT_DIGITS 19     /* always below 2**64 */
#define MAX_INT_DIGITS 18       /* always within an int64 */
/* A float below 10**MAX_MAGNITUDE is always a double for orjson: larger ones may
 * be infinite, which orjson refuses, so they are left to the Python path. */
#define MAX_MAGNITUDE 300
#define MAX_EXPONENT 100000

typedef struct {
    const char *p, *end;
} Text;

typedef struct {
    int negative, is_float, digits;     /* digits: before the point */
    long exponent;              /* after the 'e', within +-MAX_EXPONENT */
    uint64_t magnitude;         /* of an integer of at most 19 digits */
    const char *start;
    Py_ssize_t len;
} Number;

/* What each byte is to this reader: one table lookup instead of a chain of
 * comparisons, in loops that run for most bytes of the ping. */
enum { SPACE = 1, PLAIN = 2, STRUCTURE = 4 };
static unsigned char byte_class[256];

void
rows_text_init(void)
{
    int c;

    for (c = 0x20; c <= 0x7e; c++) {
        byte_class[c] = c == '"' || c == '\\' ? 0 : PLAIN;    /* in a plain string */
    }
    byte_class[' '] |= SPACE;
    byte_class['\n'] = byte_class['\r'] = byte_class['\t'] = SPACE;
    byte_class['"'] = byte_class['\\'] = STRUCTURE;          /* what skip_value looks at */
    byte_class['{'] |= STRUCTURE;
    byte_class['}'] |= STRUCTURE;
    byte_class['['] |= STRUCTURE;
    byte_class[']'] |= STRUCTURE;
}

static inline void
skip_space(Text *t)
{
    while (byte_class[(unsigned char)*t->p] & SPACE) {
        t->p++;
    }
}

/* Past the next non-space byte if it is `c`; 0 if it is not. */
static inline int
expect(Text *t, char c)
{
    if (*t->p != c) {                   /* the next byte is rarely a space */
        skip_space(t);
        if (*t->p != c) {
            return 0;
        }
    }
    t->p++;
    return 1;
}

/* Past ',' then 1 (another member follows), past `close` then 0 (the object or
 * array ends), else -1. */
static inline int
next_member(Text *t, char close)
{
    skip_space(t);
    if (*t->p == ',') {
        t->p++;
        return 1;
    }
    if (*t->p == close) {
        t->p++;
        return 0;
    }
    return -1;
}

/* A string of printable ASCII without escapes: its text, between the quotes. */
static inline int
plain_string(Text *t, const char **s, Py_ssize_t *len)
{
    const char *p;

    if (!expect(t, '"')) {
        return 0;
    }
    p = t->p;
    while (byte_class[(unsigned char)*p] & PLAIN) {
        p++;
    }
    if (*p != '"') {
        return 0;                       /* an escape, a control byte, beyond ASCII, the end */
    }
    *s = t->p;
    *len = p - t->p;
    t->p = p + 1;
    return 1;
}

static inline int
is_digit(const char *p)
{
    return *p >= '0' && *p <= '9';
}

/* A number in JSON's grammar; 0 if the text is not one. */
static int
number(Text *t, Number *n)
{
    const char *p;

    skip_space(t);
    p = n->start = t->p;
    n->negative = n->is_float = n->digits = 0;
    n->exponent = 0;
    n->magnitude = 0;
    if (*p == '-') {
        n->negative = 1;
        p++;
    }
    if (!is_digit(p)) {
        return 0;
    }
    if (*p == '0') {
        p++;
        n->digits = 1;
        if (is_digit(p)) {
            return 0;                   /* a leading zero: not JSON */
        }
    }
    while (is_digit(p)) {
        if (n->digits < MAX_COUNT_DIGITS) {
            n->magnitude = n->magnitude * 10 + (uint64_t)(*p - '0');
        }
        n->digits++;
        p++;
    }
    if (*p == '.') {
        n->is_float = 1;
        if (!is_digit(++p)) {
            return 0;
        }
        while (is_digit(p)) {
            p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        int sign = 1;
        n->is_float = 1;
        p++;
        if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
        }
        if (!is_digit(p)) {
            return 0;
        }
        while (is_digit(p)) {
            if (n->exponent < MAX_EXPONENT) {
                n->exponent = n->exponent * 10 + (*p - '0');
            }
            p++;
        }
        n->exponent *= sign;
    }
    n->len = p - n->start;
    t->p = p;
    return 1;
}

/* 1 if the number is an integer of at most `digits` digits, and not -0. */
static int
plain_integer(const Number *n, int digits)
{
    return !n->is_float && n->digits <= digits && !(n->negative && n->magnitude == 0);
}

/* Past `literal` (null, true, false) if it is next. */
static int
literal(Text *t, const char *word, Py_ssize_t len)
{
    skip_space(t);
    if (t->end - t->p >= len && memcmp(t->p, word, len) == 0) {
        t->p += len;
        return 1;
    }
    return 0;
}

/* Past a plain integer at t ("1000", "-5": JSON's grammar, at most MAX_INT_DIGITS
 * digits, not -0), which a row drops: what number() and plain_integer() accept,
 * without working out its value. */
static int
dropped_integer(Text *t)
{
    const char *p = t->p, *first;
    int negative = *p == '-';

    first = p += negative;
    while (is_digit(p)) {
        p++;
    }
    if (p == first || p - first > MAX_INT_DIGITS || (*first == '0' && (p - first > 1 || negative))
            || *p == '.' || *p == 'e' || *p == 'E') {
        return 0;
    }
    t->p = p;
    return 1;
}

/* A plain string, plain integer, true, false or null (a member a row drops). */
static int
plain_scalar(Text *t)
{
    const char *s;
    Py_ssize_t len;

    skip_space(t);
    if (t->p >= t->end) {
        return 0;
    }
    if (*t->p == '"') {
        return plain_string(t, &s, &len);
    }
    if (*t->p == '-' || is_digit(t->p)) {
        return dropped_integer(t);
    }
    return literal(t, "null", 4) || literal(t, "true", 4) || literal(t, "false", 5);
}

/* A plain scalar or a flat array of them ("range": [1, 10000]). */
static int
dropped_value(Text *t)
{
    int more;

    if (!expect(t, '[')) {
        return plain_scalar(t);
    }
    if (expect(t, ']')) {
        return 1;
    }
    do {
        if (!plain_scalar(t)) {
            return 0;
        }
    } while ((more = next_member(t, ']')) == 1);
    return more == 0;
}

/* Past one JSON value, looking only at its structure (strings and their escapes,
 * brackets): [start, t->p) is its text, which orjson checks. 0 if it ends early,
 * closes a bracket it did not open, or nests deeper than `max_depth`. */
static int
skip_value(Text *t, int max_depth)
{
    const char *p, *start, *end = t->end;
    int depth = 0;

    skip_space(t);
    p = start = t->p;
    if (p < end && !(byte_class[(unsigned char)*p] & STRUCTURE)) {
        while (p < end && !strchr(" \t\r\n,}]:", *p)) {
            p++;                        /* a number or literal: up to what ends it */
        }
        t->p = p;
        return p > start;
    }
    while (p < end) {
        switch (*p++) {
        case '"':
            while (p < end && *p != '"') {
                p += *p == '\\' ? 2 : 1;        /* an escape: the next byte is not an end */
            }
            if (p >= end) {
                return 0;
            }
            p++;
            break;
        case '{':
        case '[':
            if (++depth > max_depth) {
                return 0;
            }
            break;
        case '}':
        case ']':
            if (--depth < 0) {
                return 0;
            }
            break;
        default:
            return 0;                   /* a lone backslash */
        }
        if (depth == 0) {
            t->p = p;
            return 1;
        }
        while (p < end && !(byte_class[(unsigned char)*p] & STRUCTURE)) {
            p++;
        }
    }
    return 0;
}

/* One statistic: null, a plain integer, or a float's text (which orjson reads,
 * in writer_finish). 0 if none of these. */
static int
statistic(Text *t, Statistic *s)
{
    Number n;

    s->kind = STAT_NULL;
    if (literal(t, "null", 4)) {
        return 1;
    }
    if (!number(t, &n)) {
        return 0;
    }
    if (n.is_float) {
        if (n.digits + n.exponent > MAX_MAGNITUDE) {
            return 0;
        }
        s->kind = STAT_FLOAT_TEXT;
        s->text = n.start;
        s->len = n.len;
        return 1;
    }
    if (!plain_integer(&n, MAX_INT_DIGITS)) {
        return 0;
    }
    s->kind = STAT_INT;
    s->integer = n.negative ? -(long long)n.magnitude : (long long)n.magnitude;
    return 1;
}

/* A str of `len` bytes of ASCII. */
static PyObject *
ascii_str(const char *s, Py_ssize_t len)
{
    PyObject *str = PyUnicode_New(len, 127);

    if (str != NULL) {
        memcpy(PyUnicode_DATA(str), s, len);
    }
    return str;
}

/* Where bucket key `s` goes: its position, or -1 (not a bucket of the layout). */
static Py_ssize_t
bucket_at(const Layout *layout, const char *s, Py_ssize_t len)
{
    PyObject *key, *found;
    Py_ssize_t i = -2;

    if (layout->bounds != NULL) {
        i = search_bounds(layout->bounds, layout->n, (const unsigned char *)s, len);
    }
    if (i != -2) {
        return i;
    }
    key = ascii_str(s, len);            /* not a plain number: ask the layout's index */
    if (key == NULL) {
        return -2;
    }
    found = PyDict_GetItemWithError(layout->index, key);
    Py_DECREF(key);
    if (found == NULL) {
        return PyErr_Occurred() ? -2 : -1;
    }
    i = PyLong_AsSsize_t(found);
    return i == -1 && PyErr_Occurred() ? -2 : i;
}

#define NOT_DIGITS (-3)

/* A bucket key that is a plain decimal number ("0", "135": no sign, no leading
 * zero, at most MAX_KEY_DIGITS digits), read and looked up among the layout's
 * bounds at once, from position `from` on (search_value): its position or -1.
 * NOT_DIGITS, nothing read, for any other key, which bucket_at then decides as
 * it always did (search_bounds would have given the same answer for these). */
static Py_ssize_t
digit_key(Text *t, const Layout *layout, Py_ssize_t from)
{
    const char *first, *p;
    uint64_t value = 0;

    skip_space(t);
    if (layout->bounds == NULL || *t->p != '"') {
        return NOT_DIGITS;
    }
    first = p = t->p + 1;
    while (is_digit(p) && p - first <= MAX_KEY_DIGITS) {
        value = value * 10 + (uint64_t)(*p++ - '0');
    }
    if (*p != '"' || p == first || p - first > MAX_KEY_DIGITS || (*first == '0' && p - first > 1)) {
        return NOT_DIGITS;
    }
    t->p = p + 1;
    return search_value(layout->bounds, layout->n, (int64_t)value, from);
}

/* A count: a plain non-negative integer of at most MAX_COUNT_DIGITS digits (no
 * sign, fraction, exponent or leading zero), into *value; 0 if it is not one. */
static int
count(Text *t, uint64_t *value)
{
    const char *first, *p;
    uint64_t v = 0;

    skip_space(t);
    first = p = t->p;
    while (is_digit(p) && p - first <= MAX_COUNT_DIGITS) {
        v = v * 10 + (uint64_t)(*p++ - '0');   /* a 20th digit may wrap: refused below */
    }
    if (p == first || p - first > MAX_COUNT_DIGITS || (*first == '0' && p - first > 1)
            || *p == '.' || *p == 'e' || *p == 'E') {
        return 0;
    }
    t->p = p;
    *value = v;
    return 1;
}

/* The "values" object: its buckets into w->buckets, their number into *m.
 * 1 if not plain or not a bucket of the layout, -1 on error. */
static int
values(Text *t, Writer *w, const Layout *layout, Py_ssize_t *m)
{
    const char *key;
    Py_ssize_t len, i, from = 0;
    uint64_t n;
    int more;

    *m = 0;
    if (!expect(t, '{')) {
        return 1;
    }
    if (expect(t, '}')) {
        return 0;
    }
    do {
        i = digit_key(t, layout, from);
        if (i == NOT_DIGITS) {
            if (!plain_string(t, &key, &len)) {
                return 1;
            }
            i = bucket_at(layout, key, len);
            if (i == -2) {
                return -1;
            }
        }
        if (i < 0 || i >= layout->n || !expect(t, ':') || !count(t, &n)) {
            return 1;
        }
        if (*m == w->buckets_cap && writer_grow((void **)&w->buckets, &w->buckets_cap,
                                                w->buckets_cap ? 2 * w->buckets_cap : 64,
                                                sizeof(Bucket)) < 0) {
            return -1;
        }
        w->buckets[*m].position = i;
        w->buckets[(*m)++].count = n;
        from = i + 1;
    } while ((more = next_member(t, '}')) == 1);
    return more == 0 ? 0 : 1;
}

#define NOT_PLAIN (-3)

/* Past `literal` (`len` bytes) if it comes right after the quote at t: `key`;
 * else NOT_PLAIN, nothing read. */
static inline int
usual_key(Text *t, const char *literal, Py_ssize_t len, int key)
{
    const char *p = t->p + 1;

    if (t->end - p >= len && memcmp(p, literal, len) == 0) {
        t->p = p + len;
        return key;
    }
    return NOT_PLAIN;
}

/* The key of a histogram's member at t, past it: VALUES, a statistic's position
 * or OTHER_KEY (as histogram_key says), or NOT_PLAIN if it is not a plain string.
 * The keys Firefox writes are first compared whole, closing quote included,
 * which reads them as plain_string would, without a scan and histogram_key. */
static int
member_key(Text *t)
{
    const char *key;
    Py_ssize_t len;
    int k = NOT_PLAIN;

    skip_space(t);
    if (*t->p != '"') {
        return NOT_PLAIN;
    }
    switch (t->p[1]) {
    case 'r':
        k = usual_key(t, "range\"", 6, OTHER_KEY);
        break;
    case 'b':
        k = usual_key(t, "bucket_count\"", 13, OTHER_KEY);
        break;
    case 'h':
        k = usual_key(t, "histogram_type\"", 15, OTHER_KEY);
        break;
    case 'v':
        k = usual_key(t, "values\"", 7, VALUES);
        break;
    case 's':
        k = usual_key(t, "sum\"", 4, 0);
        break;
    case 'l':
        k = usual_key(t, "log_sum\"", 8, 1);
        if (k == NOT_PLAIN) {
            k = usual_key(t, "log_sum_squares\"", 16, 2);
        }
        break;
    }
    if (k == NOT_PLAIN && plain_string(t, &key, &len)) {
        k = histogram_key(key, len);
    }
    return k;
}

/* One known histogram's object, written as its row. 1 if not plain, -1 on error. */
static int
histogram(Text *t, Writer *w, const char *name, Py_ssize_t name_len, const Layout *layout)
{
    Statistic statistics[N_STATISTICS];
    Py_ssize_t m = 0;
    int k, status, more, seen = 0;

    for (k = 0; k < N_STATISTICS; k++) {
        statistics[k].kind = STAT_NULL;     /* absent */
    }
    if (!expect(t, '{') || expect(t, '}')) {
        return 1;                       /* no "values": the Python path says why */
    }
    do {
        k = member_key(t);
        if (k == NOT_PLAIN || !expect(t, ':')) {
            return 1;
        }
        if (k == OTHER_KEY) {
            if (!dropped_value(t)) {
                return 1;
            }
            continue;
        }
        if (seen & (1 << (k + 1))) {
            return 1;                   /* a duplicate: orjson would keep the last */
        }
        seen |= 1 << (k + 1);
        if (k != VALUES) {
            if (!statistic(t, &statistics[k])) {
                return 1;
            }
        } else if ((status = values(t, w, layout, &m)) != 0) {
            return status;
        }
    } while ((more = next_member(t, '}')) == 1);
    if (more != 0 || !(seen & 1)) {
        return 1;
    }
    return writer_row(w, name, name_len, layout->n, m, statistics);
}

/* Past the value of histogram `s` (`len` bytes), which the spec does not know,
 * noting (name, start, end) in `unknown` for orjson to read. `*names` holds the
 * unknown names met so far (made at the first). 1 if the name came before or the
 * value cannot be skipped, -1 on error. */
static int
unknown_histogram(Text *t, const char *text, const char *s, Py_ssize_t len,
                  PyObject **names, PyObject *unknown)
{
    PyObject *name, *span;
    const char *start;
    Py_ssize_t before;
    int status = -1;

    if (*names == NULL && (*names = PySet_New(NULL)) == NULL) {
        return -1;
    }
    name = ascii_str(s, len);
    if (name == NULL) {
        return -1;
    }
    before = PySet_GET_SIZE(*names);
    if (PySet_Add(*names, name) < 0) {
        goto done;
    }
    status = 1;
    if (PySet_GET_SIZE(*names) == before) {
        goto done;                      /* a name twice: orjson would keep the last */
    }
    skip_space(t);
    start = t->p;
    if (!skip_value(t, MAX_UNKNOWN_DEPTH)) {
        goto done;
    }
    span = Py_BuildValue("(Onn)", name, start - text, t->p - text);
    status = span == NULL ? -1 : PyList_Append(unknown, span);
    Py_XDECREF(span);

done:
    Py_DECREF(name);
    return status;
}

/* The histograms object at t: rows into w, (name, start, end) of each unknown
 * histogram into `unknown`. 1 if not plain, -1 on error. */
static int
histograms(Text *t, const char *text, Writer *w, const RowTable *table, PyObject *unknown)
{
    PyObject *names = NULL;
    unsigned char *seen;                /* by entry of `table`: its name came already */
    const char *s;
    Py_ssize_t len, i;
    int more, status = 1;

    seen = PyMem_Calloc(table->n_entries ? table->n_entries : 1, 1);
    if (seen == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (!expect(t, '{')) {
        goto done;
    }
    do {
        if (!plain_string(t, &s, &len) || !expect(t, ':')) {
            status = 1;
            goto done;
        }
        i = row_table_find(table, s, len);
        if (i < 0) {
            status = unknown_histogram(t, text, s, len, &names, unknown);
        } else if (seen[i]) {
            status = 1;                 /* a name twice: orjson would keep the last */
        } else {
            seen[i] = 1;
            status = histogram(t, w, s, len, &table->entries[i].layout);
        }
        if (status != 0) {
            goto done;
        }
    } while ((more = next_member(t, '}')) == 1);
    status = more == 0 ? 0 : 1;

done:
    PyMem_Free(seen);
    Py_XDECREF(names);
    return status;
}

/* 1 if the key at t (a string) is "histograms", 0 if another, -1 if it is not a
 * string or has an escape (which could spell "histograms"). */
static int
top_level_key(Text *t)
{
    const char *s;
    Py_ssize_t len;

    skip_space(t);
    if (t->p >= t->end || *t->p != '"') {
        return -1;
    }
    for (s = ++t->p; t->p < t->end && *t->p != '"'; t->p++) {
        if (*t->p == '\\') {
            return -1;
        }
    }
    if (t->p == t->end) {
        return -1;
    }
    len = t->p++ - s;
    if (!expect(t, ':')) {
        return -1;
    }
    return len == 10 && memcmp(s, "histograms", 10) == 0;
}

/* The document's members after "histograms": 1 if one is "histograms" again (orjson
 * would keep the last), a key has an escape, or the document does not end there. */
static int
rest_of_document(Text *t)
{
    int more;

    while ((more = next_member(t, '}')) == 1) {
        if (top_level_key(t) != 0 || !skip_value(t, MAX_DEPTH)) {
            return 1;
        }
    }
    skip_space(t);
    return more != 0 || t->p != t->end;
}

PyObject *
rows_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *unknown = NULL, *rows = NULL, *result = NULL;
    Py_ssize_t start, end;
    const char *text;
    Writer w = {0};
    Text t;
    int status;

    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyObject_TypeCheck(args[2], &RowTable_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "rows_text(text: bytes, start, table: RowTable, loads, dumps)");
        return NULL;
    }
    text = PyBytes_AS_STRING(args[0]);
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || start > PyBytes_GET_SIZE(args[0])) {
        PyErr_SetString(PyExc_ValueError, "start is not within the text");
        return NULL;
    }
    t.p = text + start;
    t.end = text + PyBytes_GET_SIZE(args[0]);
    unknown = PyList_New(0);
    if (unknown == NULL || writer_open(&w) < 0) {
        goto done;
    }
    status = histograms(&t, text, &w, (RowTable *)args[2], unknown);
    end = t.p - text;
    if (status == 0) {
        status = rest_of_document(&t);
    }
    if (status < 0) {
        goto done;
    }
    if (status > 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    rows = writer_finish(&w, args[3], args[4]);
    if (rows != NULL) {
        result = Py_BuildValue("(OOn)", rows, unknown, end);
    }

done:
    Py_XDECREF(rows);
    Py_XDECREF(unknown);
    writer_free(&w);
    return result;
}

PyObject *
histograms_start(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *text;
    Text t;
    int key;

    if (nargs != 1 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "histograms_start(text: bytes)");
        return NULL;
    }
    text = PyBytes_AS_STRING(args[0]);
    t.p = text;
    t.end = text + PyBytes_GET_SIZE(args[0]);
    if (!expect(&t, '{')) {
        Py_RETURN_NONE;
    }
    do {
        if ((key = top_level_key(&t)) < 0) {
            Py_RETURN_NONE;
        }
        if (key) {
            skip_space(&t);
            return PyLong_FromSsize_t(t.p - text);
        }
        if (!skip_value(&t, MAX_DEPTH)) {
            Py_RETURN_NONE;
        }
    } while (next_member(&t, '}') == 1);
    Py_RETURN_NONE;
}
