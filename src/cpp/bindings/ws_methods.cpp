// The WebSocket class's per-message methods in C: __anext__ (the step of `async for message in
// ws`) and send(). As Python methods each cost a frame per message: ~1,100 instructions for
// __anext__ (entered from C by slot_am_anext), ~400 for send().
//
// ws_methods(cls, connected) reads where the class's __slots__ keep the fields they need and
// returns method descriptors to install on it. Each does the common case right here and hands
// every other case to one Python method where that logic lives (_next, _send, _sent).
#include <Python.h>
#include <structmember.h>

#include "bindings/registry.h"
#include "bindings/waiter.h"
#include "bindings/ws_send.h"

namespace py = pybind11;

namespace {

struct Layout {
    Py_ssize_t queue = 0, state = 0, loop = 0, waiter = 0, ends = 0, srv = 0, conn = 0;
    long connected = 0;
} g_layout;
PyTypeObject* g_cls = nullptr;     // the one class g_layout describes
PyObject* g_next_name = nullptr;   // "_next"
PyObject* g_send_name = nullptr;   // "_send"
PyObject* g_sent_name = nullptr;   // "_sent"

PyObject*& slot(PyObject* self, Py_ssize_t offset) {
    return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(self) + offset);
}

PyObject* anext(PyObject* self, PyObject*) {
    const Layout& l = g_layout;
    PyObject* queue = slot(self, l.queue);
    int queued = queue == nullptr || queue == Py_None ? 0 : PyObject_IsTrue(queue);
    if (queued < 0) return nullptr;
    PyObject* state = slot(self, l.state);
    PyObject* loop = slot(self, l.loop);
    if (!queued && loop && state && PyLong_CheckExact(state) && PyLong_AsLong(state) == l.connected) {
        PyObject* w = fasterapi::bindings::new_waiter(loop);
        if (!w) return nullptr;
        Py_INCREF(w);
        Py_XSETREF(slot(self, l.waiter), w);
        Py_INCREF(Py_True);
        Py_XSETREF(slot(self, l.ends), Py_True);
        return w;
    }
    return PyObject_CallMethodOneArg(self, g_next_name, Py_True);
}

PyMethodDef g_anext_def = {"__anext__", anext, METH_NOARGS,
                           "The next message's awaitable (async for); ends the loop once the connection is closed."};

// send(data): the native send and, below the high-water mark, DONE. A connection that is gone
// or above the mark goes to self._sent(n); a server that is not the native one (an access-log
// wrapper) to self._send(data).
PyObject* send(PyObject* self, PyObject* data) {
    PyObject* srv = slot(self, g_layout.srv);
    PyObject* conn = slot(self, g_layout.conn);
    long long n = 0;
    size_t high_water = 0;
    if (!srv || !conn || !fasterapi::bindings::server_ws_send(srv, conn, data, n, high_water))
        return PyObject_CallMethodOneArg(self, g_send_name, data);
    if (n == -2) return nullptr;
    if (n >= 0 && static_cast<unsigned long long>(n) <= high_water) return Py_NewRef(fasterapi::bindings::done());
    PyObject* buffered = PyLong_FromLongLong(n);
    if (!buffered) return nullptr;
    PyObject* r = PyObject_CallMethodOneArg(self, g_sent_name, buffered);
    Py_DECREF(buffered);
    return r;
}

PyMethodDef g_send_def = {
    "send", send, METH_O,
    "send(data)\n--\n\nSend str as a text message or bytes (bytearray) as a binary one (RFC 6455 section 5.6). "
    "Returns an awaitable: awaiting it waits while the connection's buffered bytes are above send_high_water. "
    "Raises WebSocketDisconnect if the connection is gone, RuntimeError before accept(), TypeError for any other "
    "type."};

// Installs one layout for one class: both methods must describe the same class.
void bind_class(PyTypeObject* t, const Layout& layout) {
    if (g_cls && g_cls != t) throw std::runtime_error("the WebSocket methods serve one class per process");
    g_layout = layout;
    Py_INCREF(t);
    Py_XSETREF(g_cls, t);
}

Py_ssize_t slot_offset(PyTypeObject* cls, const char* name) {
    PyObject* d = PyDict_GetItemString(cls->tp_dict, name);  // borrowed
    if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type) ||
        reinterpret_cast<PyMemberDescrObject*>(d)->d_member->type != T_OBJECT_EX)
        throw py::type_error(std::string(cls->tp_name) + " has no __slots__ entry " + name);
    return reinterpret_cast<PyMemberDescrObject*>(d)->d_member->offset;
}

}  // namespace

FASTERAPI_BIND(ws_methods) {
    g_next_name = PyUnicode_InternFromString("_next");
    g_send_name = PyUnicode_InternFromString("_send");
    g_sent_name = PyUnicode_InternFromString("_sent");
    if (!g_next_name || !g_send_name || !g_sent_name) throw py::error_already_set();
    m.def(
        "ws_methods",
        [](py::type cls, long connected) {
            auto* t = reinterpret_cast<PyTypeObject*>(cls.ptr());
            bind_class(t, Layout{slot_offset(t, "_queue"), slot_offset(t, "state"), slot_offset(t, "_loop"),
                                 slot_offset(t, "_waiter"), slot_offset(t, "_waiter_ends_iteration"),
                                 slot_offset(t, "_srv"), slot_offset(t, "conn"), connected});
            py::dict methods;
            for (PyMethodDef* def : {&g_anext_def, &g_send_def}) {
                PyObject* descr = PyDescr_NewMethod(t, def);
                if (!descr) throw py::error_already_set();
                methods[def->ml_name] = py::reinterpret_steal<py::object>(descr);
            }
            return methods;
        },
        py::arg("cls"), py::arg("connected"),
        "{'__anext__': ..., 'send': ...}: method descriptors to install on cls, the WebSocket class (the __slots__ "
        "_queue, state, _loop, _waiter, _waiter_ends_iteration, _srv, conn; the methods _next(ends_iteration), "
        "_send(data), _sent(buffered)). TypeError if a slot is missing; RuntimeError for a second class.");
}
