/* Optional C accelerator for sa3p_parser: line bookkeeping over a byte buffer (LineState) and the
 * tag-dense hot path (scan_commands).
 *
 * CPython's bytes.count(b"\n") is a scalar loop (~2 GB/s); counting newlines is the floor of the
 * raw-body path, where every byte of a write_file body must be counted so later positions are
 * right. These plain loops are auto-vectorised by gcc/clang at -O3, and keeping the counters in a
 * C object makes the per-chunk update one call. The pure-Python fallback in _lines.py
 * (LineStatePython) computes exactly the same values; tests run both on the same inputs.
 *
 * Safety rules (this code reads untrusted model output; tests/parser/test_speedups_fuzz.py checks
 * them, also under AddressSanitizer/UBSan and valgrind):
 * - every read of the buffer is at an index checked against its end first, and every length is
 *   computed as a difference of two in-range indexes (never as a sum that could overflow);
 * - stream-level counters (line, column, offset) are long long, so they are right past 2 GiB on
 *   32-bit platforms too; a sum that would overflow raises OverflowError and changes nothing
 *   (the Python fallback has unbounded ints), it never wraps;
 * - each PyObject_GetBuffer has exactly one PyBuffer_Release on every path after it, and every
 *   argument is converted and type-checked before it (a wrong type would make the code read one
 *   object as another: a crash, not an exception);
 * - every reference is owned by exactly one variable, and every API call's failure is checked;
 * - the GIL is held throughout (the only static state written after import is the cache of
 *   check_names): the buffer may be a bytearray that another thread could change while it is
 *   released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>
#include <structmember.h>

typedef long long Count; /* a stream-level count: line, column, offset */
#define COUNT_MAX LLONG_MAX

static Py_ssize_t
count_newlines(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    /* Blocks of 255 bytes with a byte-sized sum: compilers turn the inner loop into byte-wise
     * vector compares and subtractions (one 16/32-byte step each), with no widening. */
    Py_ssize_t count = 0;
    while (start < stop) {
        Py_ssize_t end = stop - start > 255 ? start + 255 : stop;
        unsigned char block = 0;
        for (Py_ssize_t index = start; index < end; index++) {
            block = (unsigned char)(block + (data[index] == '\n'));
        }
        count += block;
        start = end;
    }
    return count;
}

static Py_ssize_t
count_characters(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    /* A UTF-8 character starts at every byte that is not a continuation byte (10xxxxxx). */
    Py_ssize_t count = 0;
    while (start < stop) {
        Py_ssize_t end = stop - start > 255 ? start + 255 : stop;
        unsigned char block = 0;
        for (Py_ssize_t index = start; index < end; index++) {
            block = (unsigned char)(block + ((data[index] & 0xC0) != 0x80));
        }
        count += block;
        start = end;
    }
    return count;
}

/* The index in a buffer of `length` bytes of stream offset `offset` when the buffer starts at
 * stream offset `base`, clamped to [0, length] as slicing does (without signed overflow). */
static Py_ssize_t
buffer_index(Count offset, Count base, Py_ssize_t length)
{
    if (offset <= base) {
        return 0;
    }
    unsigned long long distance = (unsigned long long)offset - (unsigned long long)base;
    return distance < (unsigned long long)length ? (Py_ssize_t)distance : length;
}

static int
overflow(const char *what)
{
    PyErr_Format(PyExc_OverflowError, "the %s count is too large for LineState", what);
    return -1;
}

/* An int argument (anything with __index__) as a Count: 0, or -1 with an exception. */
static int
as_count(PyObject *object, Count *value)
{
    *value = PyLong_AsLongLong(object);
    return *value == -1 && PyErr_Occurred() ? -1 : 0;
}

/* LineState: the line, column and stream offset counted so far, advanced in place. A Python
 * subclass (_lines.LineCounter) adds the methods that build Position values. */
typedef struct {
    PyObject_HEAD
    Count line;
    Count column;
    Count offset;
} LineState;

/* Count data[start:stop) (not the offset): 0, or -1 with OverflowError and nothing changed. */
static int
line_state_count(LineState *self, const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    Count line = self->line, column = self->column;
    Py_ssize_t newlines = count_newlines(data, start, stop);
    if (newlines) {
        if (line > COUNT_MAX - newlines) {
            return overflow("line");
        }
        line += newlines;
        column = 1;
        /* The last line starts after the last newline (bounded by start all the same). */
        Py_ssize_t line_start = stop;
        while (line_start > start && data[line_start - 1] != '\n') {
            line_start--;
        }
        start = line_start;
    }
    Py_ssize_t characters = count_characters(data, start, stop);
    if (column > COUNT_MAX - characters) {
        return overflow("column");
    }
    self->line = line;
    self->column = column + characters;
    return 0;
}

static int
line_state_init(LineState *self, PyObject *args, PyObject *kwargs)
{
    if ((args != NULL && PyTuple_GET_SIZE(args)) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "LineState() takes no arguments");
        return -1;
    }
    self->line = 1;
    self->column = 1;
    self->offset = 0;
    return 0;
}

PyDoc_STRVAR(skip_all_doc,
"skip_all(data, /)\n--\n\n"
"Count all of data, the bytes that directly follow those counted so far.");

static PyObject *
line_state_skip_all(LineState *self, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    int failed = self->offset > COUNT_MAX - view.len
                     ? overflow("offset")
                     : line_state_count(self, (const unsigned char *)view.buf, 0, view.len);
    if (!failed) {
        self->offset += view.len;
    }
    PyBuffer_Release(&view);
    return failed ? NULL : Py_NewRef(Py_None);
}

PyDoc_STRVAR(skip_doc,
"skip(buf, base, offset, /)\n--\n\n"
"Count the bytes up to stream offset offset; buf[0] is at stream offset base.");

static PyObject *
line_state_skip(LineState *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "skip() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    Count base, offset;
    if (as_count(args[1], &base) < 0 || as_count(args[2], &offset) < 0) {
        return NULL;
    }
    if (offset <= self->offset) {
        Py_RETURN_NONE;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t start = buffer_index(self->offset, base, view.len);
    Py_ssize_t stop = buffer_index(offset, base, view.len);
    int failed = stop > start &&
                 line_state_count(self, (const unsigned char *)view.buf, start, stop) < 0;
    if (!failed) {
        self->offset = offset;
    }
    PyBuffer_Release(&view);
    return failed ? NULL : Py_NewRef(Py_None);
}

static PyMethodDef line_state_methods[] = {
    {"skip_all", (PyCFunction)line_state_skip_all, METH_O, skip_all_doc},
    {"skip", (PyCFunction)(void (*)(void))line_state_skip, METH_FASTCALL, skip_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef line_state_members[] = {
    {"line", T_LONGLONG, offsetof(LineState, line), 0, "1-based line of offset."},
    {"column", T_LONGLONG, offsetof(LineState, column), 0, "1-based column of offset."},
    {"offset", T_LONGLONG, offsetof(LineState, offset), 0, "Stream offset counted up to."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject LineStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sa3p_parser._speedups.LineState",
    .tp_doc = "The line, column and stream offset counted so far, advanced in place.",
    .tp_basicsize = sizeof(LineState),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)line_state_init,
    .tp_methods = line_state_methods,
    .tp_members = line_state_members,
};

/* scan_commands: the tag-dense hot path of top-level text. It consumes units of "text, then a
 * complete self-closing command tag with only double-quoted, entity-free attributes" and stops
 * at the start of the first unit it cannot take whole (anything else: another kind of '<' that
 * matters, markdown characters, invalid UTF-8, entities, single quotes, a duplicate attribute,
 * a tag with a body, a tag longer than the limit, the end of the buffer). The Python parser
 * handles what it stops at, exactly as without this function; tests compare both paths. */

/* Interned slot names, created once at import under the GIL and only read afterwards. */
static PyObject *slot_text, *slot_name, *slot_attributes, *slot_position, *slot_line,
    *slot_column, *slot_offset;

/* One call's arguments, checked. */
typedef struct {
    const unsigned char *data;
    Py_ssize_t end;       /* the buffer's length */
    Py_ssize_t limit;     /* max_tag_length, at least 0 */
    Py_ssize_t longest;   /* the longest command name, in bytes */
    Count base;           /* the stream offset of data[0] */
    int check_markdown;
    LineState *lines;
    PyObject *kit;        /* (Text, StartTag, EndTag, Position), checked by check_kit */
    PyObject *names;      /* ((bytes, str), ...), checked by check_names */
    PyObject *out;        /* a list */
} Scan;

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
}

static int
is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static Py_ssize_t
skip_spaces(const unsigned char *data, Py_ssize_t at, Py_ssize_t end)
{
    while (at < end && is_space(data[at])) {
        at++;
    }
    return at;
}

/* Whether byte c occurs in data[from:to) (never calls memchr with a length of 0). */
static int
contains(const unsigned char *data, Py_ssize_t from, Py_ssize_t to, unsigned char c)
{
    return from < to && memchr(data + from, c, (size_t)(to - from)) != NULL;
}

/* kit must hold 4 classes that object.__new__ can create: new_value allocates them the way
 * object.__new__ does. Anything else is a TypeError, not memory read as the wrong type. */
static int
check_kit(PyObject *kit)
{
    if (!PyTuple_Check(kit) || PyTuple_GET_SIZE(kit) != 4) {
        PyErr_SetString(PyExc_TypeError, "scan_commands(): kit must be a tuple of 4 classes");
        return -1;
    }
    for (Py_ssize_t index = 0; index < 4; index++) {
        PyObject *cls = PyTuple_GET_ITEM(kit, index);
        if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_new != PyBaseObject_Type.tp_new) {
            PyErr_Format(PyExc_TypeError,
                         "scan_commands(): kit[%zd] must be a class object.__new__ creates",
                         index);
            return -1;
        }
    }
    return 0;
}

/* The last names tuple that passed check_names (a strong reference, so that its address is not
 * reused by another object) and its longest name: the parser passes the same tuple on every call,
 * and a tuple of bytes and str cannot change. Written only with the GIL held. */
static PyObject *checked_names;
static Py_ssize_t checked_longest;

/* names must be a tuple of (bytes, str) pairs, the bytes non-empty and the str's UTF-8. Returns
 * the longest name's length in bytes, or -1 with a TypeError. */
static Py_ssize_t
check_names(PyObject *names)
{
    if (names == checked_names) {
        return checked_longest;
    }
    if (!PyTuple_CheckExact(names)) {
        PyErr_SetString(PyExc_TypeError, "scan_commands(): names must be a tuple");
        return -1;
    }
    Py_ssize_t longest = 0;
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(names); index++) {
        PyObject *pair = PyTuple_GET_ITEM(names, index);
        PyObject *raw = PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2
                            ? PyTuple_GET_ITEM(pair, 0) : NULL;
        PyObject *name = raw != NULL ? PyTuple_GET_ITEM(pair, 1) : NULL;
        Py_ssize_t length = 0;
        const char *utf8 = raw != NULL && PyBytes_Check(raw) && PyBytes_GET_SIZE(raw) > 0 &&
                                   PyUnicode_Check(name)
                               ? PyUnicode_AsUTF8AndSize(name, &length) : NULL;
        if (utf8 == NULL || length != PyBytes_GET_SIZE(raw) ||
            memcmp(utf8, PyBytes_AS_STRING(raw), (size_t)length) != 0) {
            PyErr_Clear(); /* PyUnicode_AsUTF8AndSize fails only for lone surrogates */
            PyErr_Format(PyExc_TypeError,
                         "scan_commands(): names[%zd] must be (name.encode(), name) for a "
                         "non-empty str name", index);
            return -1;
        }
        longest = length > longest ? length : longest;
    }
    Py_XSETREF(checked_names, Py_NewRef(names));
    checked_longest = longest;
    return longest;
}

/* The index in names of the command whose name is at data[at:end) followed by a delimiter, or
 * -1. At most one name (of name characters, as ParserConfig ensures) is followed by a delimiter
 * there, so the order of names does not matter. */
static Py_ssize_t
command_at(const unsigned char *data, Py_ssize_t at, Py_ssize_t end, PyObject *names)
{
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(names); index++) {
        PyObject *raw = PyTuple_GET_ITEM(PyTuple_GET_ITEM(names, index), 0);
        Py_ssize_t length = PyBytes_GET_SIZE(raw);
        if (length < end - at && memcmp(data + at, PyBytes_AS_STRING(raw), (size_t)length) == 0) {
            unsigned char next = data[at + length];
            if (is_space(next) || next == '/' || next == '>') {
                return index;
            }
        }
    }
    return -1;
}

/* A new instance of cls, created as object.__new__(cls) would (check_kit made sure that is how
 * cls is created), with the slots names[i] set to values[i]. The values are stolen; a NULL one
 * (a failed call, whose exception is set) makes the result NULL. */
static PyObject *
new_value(PyObject *cls, int count, PyObject *const *names, PyObject **values)
{
    PyObject *self = NULL;
    int complete = 1;
    for (int index = 0; index < count; index++) {
        complete = complete && values[index] != NULL;
    }
    if (complete) {
        self = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
    }
    for (int index = 0; self != NULL && index < count; index++) {
        if (PyObject_GenericSetAttr(self, names[index], values[index]) < 0) {
            Py_CLEAR(self);
        }
    }
    for (int index = 0; index < count; index++) {
        Py_XDECREF(values[index]);
    }
    return self;
}

/* Add name=value to attributes: 1; the name is already there: 0; error: -1. */
static int
add_attribute(PyObject *attributes, const unsigned char *data, Py_ssize_t name_start,
              Py_ssize_t name_end, Py_ssize_t value_start, Py_ssize_t value_end)
{
    PyObject *key = PyUnicode_DecodeASCII((const char *)data + name_start, name_end - name_start,
                                          NULL);
    if (key == NULL) {
        return -1;
    }
    int status = PyDict_Contains(attributes, key);
    if (status == 0) {
        PyObject *value = PyUnicode_DecodeUTF8((const char *)data + value_start,
                                               value_end - value_start, "replace");
        status = value == NULL || PyDict_SetItem(attributes, key, value) < 0 ? -1 : 1;
        Py_XDECREF(value);
    }
    else if (status > 0) {
        status = 0;
    }
    Py_DECREF(key);
    return status;
}

/* Parse the attributes and "/>" of a simple tag from p to end; returns the dict (new) and sets
 * *stop after the "/>", or returns NULL: with an exception on error, without one if the tag is
 * not one this function takes. p may be beyond end (then the tag is not taken). */
static PyObject *
simple_attributes(const unsigned char *data, Py_ssize_t p, Py_ssize_t end, Py_ssize_t *stop)
{
    PyObject *attributes = PyDict_New();
    if (attributes == NULL) {
        return NULL;
    }
    for (;;) {
        Py_ssize_t q = skip_spaces(data, p, end);
        if (q == p || q >= end || !is_name_start(data[q])) {
            p = q;
            break;
        }
        Py_ssize_t name_start = q;
        while (q < end && is_name_char(data[q])) {
            q++;
        }
        Py_ssize_t name_end = q;
        q = skip_spaces(data, q, end);
        if (q >= end || data[q] != '=') {
            goto not_taken;
        }
        q = skip_spaces(data, q + 1, end);
        if (q >= end || data[q] != '"') {
            goto not_taken;
        }
        Py_ssize_t value_start = ++q;
        while (q < end && data[q] != '"' && data[q] != '<' && data[q] != '&') {
            q++;
        }
        if (q >= end || data[q] != '"') {
            goto not_taken;
        }
        int added = add_attribute(attributes, data, name_start, name_end, value_start, q);
        if (added <= 0) {
            goto not_taken; /* a duplicate (0), or an error (-1: the exception is set) */
        }
        p = q + 1;
    }
    if (p < end && end - p >= 2 && data[p] == '/' && data[p + 1] == '>') {
        *stop = p + 2;
        return attributes;
    }
not_taken:
    Py_DECREF(attributes);
    return NULL;
}

/* Where the next '<' that may start a command tag or its close tag is, from `from` (`end` if
 * none); *command is the index in names for a complete open-tag name, else -1. */
static Py_ssize_t
next_command_angle(const unsigned char *data, Py_ssize_t from, Py_ssize_t end, PyObject *names,
                   Py_ssize_t *command)
{
    *command = -1;
    for (Py_ssize_t angle = from; angle < end; angle++) {
        const unsigned char *found = memchr(data + angle, '<', (size_t)(end - angle));
        if (found == NULL) {
            break;
        }
        angle = found - data;
        int closing = end - angle > 1 && data[angle + 1] == '/';
        Py_ssize_t at = angle + 1 + closing;
        Py_ssize_t index = at < end ? command_at(data, at, end, names) : -1;
        if (index >= 0 || at >= end) {
            *command = closing ? -1 : index;
            return angle;
        }
    }
    return end;
}

/* Whether data[angle:end) may be a tag the end of the buffer cut (no '>' and no other '<' yet,
 * shorter than the limit): the parser waits there for more bytes. */
static int
cut_tag_at(const unsigned char *data, Py_ssize_t angle, Py_ssize_t end, Py_ssize_t limit)
{
    return angle < end && end - angle < limit && !contains(data, angle, end, '>') &&
           !contains(data, angle + 1, end, '<');
}

/* Where a tag name cut by the end of the buffer may start: the last '<' of the tail that could
 * hold the longest name, or end. */
static Py_ssize_t
last_angle(const unsigned char *data, Py_ssize_t from, Py_ssize_t end, Py_ssize_t longest)
{
    Py_ssize_t stop = end - from > longest + 2 ? end - longest - 2 : from;
    for (Py_ssize_t angle = end - 1; angle >= stop; angle--) {
        if (data[angle] == '<') {
            return angle;
        }
    }
    return end;
}

static int
has_markdown(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    return contains(data, start, stop, '`') || contains(data, start, stop, '~');
}

/* Append Text(data[start:stop]) to out if it is valid UTF-8: 1; invalid: 0; error: -1. */
static int
append_text(const Scan *scan, Py_ssize_t start, Py_ssize_t stop)
{
    PyObject *text = PyUnicode_DecodeUTF8((const char *)scan->data + start, stop - start, NULL);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    PyObject *value = new_value(PyTuple_GET_ITEM(scan->kit, 0), 1, &slot_text, &text);
    int failed = value == NULL || PyList_Append(scan->out, value) < 0;
    Py_XDECREF(value);
    return failed ? -1 : 1;
}

/* The Position of the '<' at data[angle], advancing lines to it as LineCounter.advance does. */
static PyObject *
position_at(const Scan *scan, Py_ssize_t angle)
{
    LineState *lines = scan->lines;
    if (scan->base > COUNT_MAX - angle) {
        overflow("offset");
        return NULL;
    }
    Count stream = scan->base + angle;
    if (stream > lines->offset) {
        Py_ssize_t from = buffer_index(lines->offset, scan->base, angle);
        if (line_state_count(lines, scan->data, from, angle) < 0) {
            return NULL;
        }
        lines->offset = stream;
    }
    /* One call at a time: none may run with the exception of a failed one set. */
    PyObject *names[] = {slot_line, slot_column, slot_offset};
    PyObject *values[] = {PyLong_FromLongLong(lines->line), NULL, NULL};
    values[1] = values[0] == NULL ? NULL : PyLong_FromLongLong(lines->column);
    values[2] = values[1] == NULL ? NULL : PyLong_FromLongLong(stream < 0 ? 0 : stream);
    return new_value(PyTuple_GET_ITEM(scan->kit, 3), 3, names, values);
}

/* Append StartTag (with its Position) and EndTag for a unit whose attributes parsed (borrowed).
 * 0, or -1 with an exception. */
static int
append_unit(const Scan *scan, Py_ssize_t angle, PyObject *name, PyObject *attributes)
{
    PyObject *position = position_at(scan, angle);
    if (position == NULL) {
        return -1;
    }
    PyObject *start_names[] = {slot_name, slot_attributes, slot_position};
    PyObject *start_values[] = {Py_NewRef(name), PyDictProxy_New(attributes), position};
    PyObject *start_tag = new_value(PyTuple_GET_ITEM(scan->kit, 1), 3, start_names, start_values);
    PyObject *end_values[] = {Py_NewRef(name)};
    PyObject *end_tag = start_tag == NULL ? NULL : new_value(PyTuple_GET_ITEM(scan->kit, 2), 1,
                                                             &slot_name, end_values);
    if (start_tag == NULL) {
        Py_DECREF(end_values[0]);
    }
    int failed = end_tag == NULL || PyList_Append(scan->out, start_tag) < 0 ||
                 PyList_Append(scan->out, end_tag) < 0;
    Py_XDECREF(start_tag);
    Py_XDECREF(end_tag);
    return failed ? -1 : 0;
}

/* Take the units from *unit on; *unit and *angle tell where it stopped and the '<' there.
 * 0, or -1 with an exception. */
static int
take_units(const Scan *scan, Py_ssize_t *unit, Py_ssize_t *angle)
{
    for (;;) {
        Py_ssize_t command;
        *angle = next_command_angle(scan->data, *unit, scan->end, scan->names, &command);
        if (command < 0 || (scan->check_markdown && has_markdown(scan->data, *unit, *angle))) {
            return 0;
        }
        PyObject *pair = PyTuple_GET_ITEM(scan->names, command);
        Py_ssize_t window = scan->end - *angle > scan->limit ? *angle + scan->limit : scan->end;
        Py_ssize_t after_name = *angle + 1 + PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0));
        Py_ssize_t stop = 0;
        PyObject *attributes = simple_attributes(scan->data, after_name, window, &stop);
        if (attributes == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        int text = *angle > *unit ? append_text(scan, *unit, *angle) : 1;
        int failed = text < 0 ||
                     (text > 0 && append_unit(scan, *angle, PyTuple_GET_ITEM(pair, 1),
                                              attributes) < 0);
        Py_DECREF(attributes);
        if (failed || text == 0) {
            return failed ? -1 : 0;
        }
        *unit = stop;
    }
}

/* The tail after the units: text then a tag the end of the buffer cut, or text to the end, is
 * emitted and waited after. Sets *stop and *wait; 0, or -1 with an exception. */
static int
take_tail(const Scan *scan, Py_ssize_t unit, Py_ssize_t angle, Py_ssize_t *stop, int *wait)
{
    *stop = unit;
    *wait = 0;
    if (unit >= scan->end) {
        return 0;
    }
    Py_ssize_t cut = angle < scan->end ? angle : last_angle(scan->data, unit, scan->end,
                                                            scan->longest);
    int plain = !scan->check_markdown || !has_markdown(scan->data, unit, cut);
    if (!plain || (cut != scan->end && !cut_tag_at(scan->data, cut, scan->end, scan->limit))) {
        return 0;
    }
    int text = cut > unit ? append_text(scan, unit, cut) : 1;
    *wait = text > 0;
    *stop = *wait ? cut : unit;
    return text < 0 ? -1 : 0;
}

PyDoc_STRVAR(scan_commands_doc,
"scan_commands(buf, start, lines, base, limit, check_markdown, final, kit, names, out, /)\n"
"--\n\n"
"Append Text, StartTag and EndTag values for the simple units at buf[start:] to out.\n\n"
"Returns (stop, wait, text_start). wait False: the first unit not taken starts at stop (the\n"
"parser's other paths take over there). wait True: only text followed by a cut tag at stop,\n"
"or by the end of the buffer (stop), remained; it was emitted from text_start, and the parser\n"
"waits at stop for more bytes. lines is the LineState (advanced to each tag's '<'), base the\n"
"stream offset of buf[0], kit the classes (Text, StartTag, EndTag, Position), names a tuple of\n"
"(name.encode(), name) command names. Wrong argument types raise TypeError.");

static PyObject *
scan_commands(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_Format(PyExc_TypeError, "scan_commands() takes 10 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyObject_TypeCheck(args[2], &LineStateType) || !PyList_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "scan_commands(): lines must be a LineState, out a list");
        return NULL;
    }
    Scan scan = {.lines = (LineState *)args[2], .kit = args[7], .names = args[8], .out = args[9]};
    Py_ssize_t start;
    int final;
    if (check_kit(scan.kit) < 0 || (scan.longest = check_names(scan.names)) < 0 ||
        ((start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError)) == -1 && PyErr_Occurred()) ||
        as_count(args[3], &scan.base) < 0 ||
        ((scan.limit = PyNumber_AsSsize_t(args[4], PyExc_OverflowError)) == -1 &&
         PyErr_Occurred()) ||
        (scan.check_markdown = PyObject_IsTrue(args[5])) < 0 ||
        (final = PyObject_IsTrue(args[6])) < 0) {
        return NULL;
    }
    scan.limit = scan.limit < 0 ? 0 : scan.limit; /* no tag fits: the same as any limit <= 0 */
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    scan.data = (const unsigned char *)view.buf;
    scan.end = view.len;
    Py_ssize_t unit = start < 0 ? 0 : (start > scan.end ? scan.end : start), angle = scan.end;
    Py_ssize_t stop = unit;
    int wait = 0;
    int failed = take_units(&scan, &unit, &angle) < 0;
    if (!failed && !final) {
        failed = take_tail(&scan, unit, angle, &stop, &wait) < 0;
    }
    else {
        stop = unit;
    }
    PyBuffer_Release(&view);
    return failed ? NULL : Py_BuildValue("(nOn)", stop, wait ? Py_True : Py_False, unit);
}

static PyMethodDef speedups_methods[] = {
    {"scan_commands", (PyCFunction)(void (*)(void))scan_commands, METH_FASTCALL,
     scan_commands_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sa3p_parser._speedups",
    .m_doc = "Optional C accelerator for sa3p_parser (see _lines.py for the fallback).",
    .m_size = 0,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&LineStateType) < 0) {
        return NULL;
    }
    PyObject **slots[] = {&slot_text, &slot_name, &slot_attributes, &slot_position,
                          &slot_line, &slot_column, &slot_offset};
    const char *slot_names[] = {"text", "name", "attributes", "position",
                                "line", "column", "offset"};
    for (int index = 0; index < 7; index++) {
        if (*slots[index] == NULL &&
            (*slots[index] = PyUnicode_InternFromString(slot_names[index])) == NULL) {
            return NULL;
        }
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "LineState", (PyObject *)&LineStateType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
