/* Optional C accelerator for sa3p_parser: line bookkeeping over a byte buffer (LineState).
 *
 * CPython's bytes.count(b"\n") is a scalar loop (~2 GB/s); counting newlines is the floor of the
 * raw-body path, where every byte of a write_file body must be counted so later positions are
 * right. These plain loops are auto-vectorised by gcc/clang at -O3, and keeping the counters in a
 * C object makes the per-chunk update one call. The pure-Python fallback in _lines.py
 * (LineStatePython) computes exactly the same values; tests run both on the same inputs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

static Py_ssize_t
count_newlines(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    /* Blocks of 255 bytes with a byte-sized sum: compilers turn the inner loop into byte-wise
     * vector compares and subtractions (one 16/32-byte step each), with no widening. */
    size_t count = 0;
    while (start < stop) {
        Py_ssize_t end = stop - start > 255 ? start + 255 : stop;
        unsigned char block = 0;
        for (Py_ssize_t index = start; index < end; index++) {
            block += data[index] == '\n';
        }
        count += block;
        start = end;
    }
    return (Py_ssize_t)count;
}

static Py_ssize_t
count_characters(const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    /* A UTF-8 character starts at every byte that is not a continuation byte (10xxxxxx). */
    size_t count = 0;
    while (start < stop) {
        Py_ssize_t end = stop - start > 255 ? start + 255 : stop;
        unsigned char block = 0;
        for (Py_ssize_t index = start; index < end; index++) {
            block += (data[index] & 0xC0) != 0x80;
        }
        count += block;
        start = end;
    }
    return (Py_ssize_t)count;
}

static Py_ssize_t
clamp(Py_ssize_t value, Py_ssize_t length)
{
    return value < 0 ? 0 : (value > length ? length : value);
}

/* LineState: the line, column and stream offset counted so far, advanced in place. A Python
 * subclass (_lines.LineCounter) adds the methods that build Position values. */
typedef struct {
    PyObject_HEAD
    Py_ssize_t line;
    Py_ssize_t column;
    Py_ssize_t offset;
} LineState;

static void
line_state_count(LineState *self, const unsigned char *data, Py_ssize_t start, Py_ssize_t stop)
{
    Py_ssize_t newlines = count_newlines(data, start, stop);
    if (newlines) {
        self->line += newlines;
        self->column = 1;
        start = stop;
        while (data[start - 1] != '\n') {
            start--;
        }
    }
    self->column += count_characters(data, start, stop);
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
    line_state_count(self, (const unsigned char *)view.buf, 0, view.len);
    self->offset += view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
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
    Py_ssize_t base = PyLong_AsSsize_t(args[1]);
    if (base == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[2]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (offset <= self->offset) {
        Py_RETURN_NONE;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t start = clamp(self->offset - base, view.len), stop = clamp(offset - base, view.len);
    if (stop > start) {
        line_state_count(self, (const unsigned char *)view.buf, start, stop);
    }
    self->offset = offset;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef line_state_methods[] = {
    {"skip_all", (PyCFunction)line_state_skip_all, METH_O, skip_all_doc},
    {"skip", (PyCFunction)(void (*)(void))line_state_skip, METH_FASTCALL, skip_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef line_state_members[] = {
    {"line", T_PYSSIZET, offsetof(LineState, line), 0, "1-based line of offset."},
    {"column", T_PYSSIZET, offsetof(LineState, column), 0, "1-based column of offset."},
    {"offset", T_PYSSIZET, offsetof(LineState, offset), 0, "Stream offset counted up to."},
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

static PyObject *slot_text, *slot_name, *slot_attributes, *slot_position, *slot_line,
    *slot_column, *slot_offset;

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

/* The str of the command name at data[at:end) followed by a delimiter, or NULL (borrowed). */
static PyObject *
command_at(const unsigned char *data, Py_ssize_t at, Py_ssize_t end, PyObject *names)
{
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(names); index++) {
        PyObject *pair = PyTuple_GET_ITEM(names, index);
        PyObject *raw = PyTuple_GET_ITEM(pair, 0);
        Py_ssize_t length = PyBytes_GET_SIZE(raw);
        if (at + length < end && memcmp(data + at, PyBytes_AS_STRING(raw), length) == 0) {
            unsigned char next = data[at + length];
            if (is_space(next) || next == '/' || next == '>') {
                return PyTuple_GET_ITEM(pair, 1);
            }
        }
    }
    return NULL;
}

/* A new instance of cls with its slots set: (name, value) pairs, values stolen. */
static PyObject *
new_value(PyObject *cls, int count, PyObject **names, PyObject **values)
{
    PyObject *self = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
    for (int index = 0; index < count; index++) {
        if (self != NULL && values[index] != NULL &&
            PyObject_GenericSetAttr(self, names[index], values[index]) < 0) {
            Py_CLEAR(self);
        }
    }
    for (int index = 0; index < count; index++) {
        Py_XDECREF(values[index]);
    }
    return self;
}

/* Parse the attributes and "/>" of a simple tag from p; returns the dict (new) and sets *stop,
 * or returns NULL without an exception if the tag is not one this function takes. */
static PyObject *
simple_attributes(const unsigned char *data, Py_ssize_t p, Py_ssize_t end, Py_ssize_t *stop)
{
    PyObject *attributes = PyDict_New();
    while (attributes != NULL) {
        Py_ssize_t q = p;
        while (q < end && is_space(data[q])) {
            q++;
        }
        if (q == p || q >= end || !is_name_start(data[q])) {
            p = q;
            break;
        }
        Py_ssize_t name_start = q;
        while (q < end && is_name_char(data[q])) {
            q++;
        }
        Py_ssize_t name_end = q;
        while (q < end && is_space(data[q])) {
            q++;
        }
        if (q >= end || data[q] != '=') {
            goto not_simple;
        }
        q++;
        while (q < end && is_space(data[q])) {
            q++;
        }
        if (q >= end || data[q] != '"') {
            goto not_simple;
        }
        Py_ssize_t value_start = ++q;
        while (q < end && data[q] != '"' && data[q] != '<' && data[q] != '&') {
            q++;
        }
        if (q >= end || data[q] != '"') {
            goto not_simple;
        }
        PyObject *key = PyUnicode_DecodeASCII((const char *)data + name_start,
                                              name_end - name_start, NULL);
        PyObject *value = PyUnicode_DecodeUTF8((const char *)data + value_start,
                                               q - value_start, "replace");
        int duplicate = key != NULL && PyDict_Contains(attributes, key);
        if (key == NULL || value == NULL || duplicate ||
            PyDict_SetItem(attributes, key, value) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (duplicate) {
                goto not_simple;
            }
            Py_CLEAR(attributes);
            return NULL;
        }
        Py_DECREF(key);
        Py_DECREF(value);
        p = q + 1;
    }
    if (attributes != NULL && p + 1 < end && data[p] == '/' && data[p + 1] == '>') {
        *stop = p + 2;
        return attributes;
    }
not_simple:
    Py_XDECREF(attributes);
    return NULL;
}

/* Where the next '<' that may start a command tag or its close tag is, from `from` (`end` if
 * none); *name is the command's name for a complete open-tag name, else NULL (borrowed). */
static Py_ssize_t
next_command_angle(const unsigned char *data, Py_ssize_t from, Py_ssize_t end, PyObject *names,
                   PyObject **name)
{
    *name = NULL;
    for (Py_ssize_t angle = from; angle < end; angle++) {
        const unsigned char *found = memchr(data + angle, '<', end - angle);
        if (found == NULL) {
            break;
        }
        angle = found - data;
        int closing = angle + 1 < end && data[angle + 1] == '/';
        Py_ssize_t at = angle + 1 + closing;
        PyObject *command = command_at(data, at, end, names);
        if (command != NULL || at >= end) {
            *name = closing ? NULL : command;
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
    return angle < end && end - angle < limit && memchr(data + angle, '>', end - angle) == NULL &&
           memchr(data + angle + 1, '<', end - angle - 1) == NULL;
}

/* Where a tag name cut by the end of the buffer may start: the last '<' of the tail that could
 * hold the longest name, or end. */
static Py_ssize_t
last_angle(const unsigned char *data, Py_ssize_t from, Py_ssize_t end, PyObject *names)
{
    Py_ssize_t longest = 0;
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(names); index++) {
        PyObject *raw = PyTuple_GET_ITEM(PyTuple_GET_ITEM(names, index), 0);
        longest = PyBytes_GET_SIZE(raw) > longest ? PyBytes_GET_SIZE(raw) : longest;
    }
    Py_ssize_t stop = end - longest - 2 > from ? end - longest - 2 : from;
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
    return memchr(data + start, '`', stop - start) != NULL ||
           memchr(data + start, '~', stop - start) != NULL;
}

/* Append Text(data[start:stop]) to out if it is valid UTF-8: 1; invalid: 0; error: -1. */
static int
append_text(PyObject *out, PyObject *cls, const unsigned char *data, Py_ssize_t start,
            Py_ssize_t stop)
{
    PyObject *text = PyUnicode_DecodeUTF8((const char *)data + start, stop - start, NULL);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    PyObject *value = new_value(cls, 1, &slot_text, &text);
    int failed = value == NULL || PyList_Append(out, value) < 0;
    Py_XDECREF(value);
    return failed ? -1 : 1;
}

/* Append Text, StartTag (with its Position) and EndTag for a unit whose attributes parsed. */
static int
append_unit(PyObject *out, PyObject *kit, LineState *lines, const unsigned char *data,
            Py_ssize_t base, Py_ssize_t angle, PyObject *name, PyObject *attributes)
{
    if (lines->offset - base < angle) {
        line_state_count(lines, data, lines->offset - base < 0 ? 0 : lines->offset - base, angle);
        lines->offset = base + angle;
    }
    PyObject *proxy = PyDictProxy_New(attributes);
    PyObject *position_names[] = {slot_line, slot_column, slot_offset};
    PyObject *position_values[] = {PyLong_FromSsize_t(lines->line),
                                   PyLong_FromSsize_t(lines->column),
                                   PyLong_FromSsize_t(base + angle)};
    PyObject *position = new_value(PyTuple_GET_ITEM(kit, 3), 3, position_names, position_values);
    PyObject *start_names[] = {slot_name, slot_attributes, slot_position};
    PyObject *start_values[] = {Py_NewRef(name), proxy, position};
    PyObject *start_tag = new_value(PyTuple_GET_ITEM(kit, 1), 3, start_names, start_values);
    PyObject *end_values[] = {Py_NewRef(name)};
    PyObject *end_tag = new_value(PyTuple_GET_ITEM(kit, 2), 1, &slot_name, end_values);
    int failed = proxy == NULL || position == NULL || start_tag == NULL || end_tag == NULL ||
                 PyList_Append(out, start_tag) < 0 || PyList_Append(out, end_tag) < 0;
    Py_XDECREF(start_tag);
    Py_XDECREF(end_tag);
    return failed ? -1 : 0;
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
"(bytes, str) command names.");

static PyObject *
scan_commands(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10 || !PyObject_TypeCheck(args[2], &LineStateType) ||
        !PyTuple_Check(args[7]) || PyTuple_GET_SIZE(args[7]) != 4 || !PyTuple_Check(args[8]) ||
        !PyList_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError, "scan_commands(): bad arguments");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t base = start == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[3]);
    Py_ssize_t limit = base == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[4]);
    int check_markdown = limit == -1 && PyErr_Occurred() ? -1 : PyObject_IsTrue(args[5]);
    int final = check_markdown < 0 ? -1 : PyObject_IsTrue(args[6]);
    if (final < 0) {
        return NULL;
    }
    LineState *lines = (LineState *)args[2];
    PyObject *kit = args[7], *names = args[8], *out = args[9];
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)view.buf;
    Py_ssize_t end = view.len, unit = clamp(start, end), angle = end;
    int failed = 0;
    for (;;) {
        PyObject *name = NULL;
        angle = next_command_angle(data, unit, end, names, &name);
        if (name == NULL || (check_markdown && has_markdown(data, unit, angle))) {
            break;
        }
        Py_ssize_t stop = 0;
        Py_ssize_t window = end - angle > limit ? angle + limit : end;
        Py_ssize_t after_name = angle + 1 + PyUnicode_GET_LENGTH(name);
        PyObject *attributes = simple_attributes(data, after_name, window, &stop);
        if (attributes == NULL) {
            failed = PyErr_Occurred() != NULL;
            break;
        }
        int text = angle > unit ? append_text(out, PyTuple_GET_ITEM(kit, 0), data, unit, angle) : 1;
        if (text > 0) {
            failed = append_unit(out, kit, lines, data, base, angle, name, attributes) < 0;
        }
        Py_DECREF(attributes);
        if (text <= 0 || failed) {
            failed = failed || text < 0;
            break;
        }
        unit = stop;
    }
    /* The tail: text then a tag the end of the buffer cut, or text to the end. */
    int wait = 0;
    Py_ssize_t stop = unit;
    if (!failed && !final && unit < end) {
        Py_ssize_t cut = angle < end ? angle : last_angle(data, unit, end, names);
        int plain = !check_markdown || !has_markdown(data, unit, cut);
        if (plain && (cut == end || cut_tag_at(data, cut, end, limit))) {
            int text = cut > unit ? append_text(out, PyTuple_GET_ITEM(kit, 0), data, unit, cut) : 1;
            failed = text < 0;
            wait = text > 0;
            stop = wait ? cut : unit;
        }
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
