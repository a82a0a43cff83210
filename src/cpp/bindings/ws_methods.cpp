// The per-message WebSocket path in C: the WebSocket class's __anext__ (the step of `async for
// message in ws`) and send(), and the App's on_ws_message dispatcher. As Python each cost a
// frame per message: ~1,100 instructions for __anext__ (entered from C by slot_am_anext), ~400
// for send(), ~500 for the dispatcher.
//
// ws_methods(cls, connected) reads where the class's __slots__ keep the fields they need and
// returns method descriptors to install on it; ws_dispatcher() uses the same layout. Each does
// the common case right here and hands every other case to one Python method where that logic
// lives (_next, _send, _sent, _enqueue).
#include <Python.h>
#include <structmember.h>

#include "bindings/registry.h"
#include "bindings/waiter.h"
#include "bindings/ws_send.h"

namespace py = pybind11;

namespace {

struct Layout {
    Py_ssize_t queue = 0, state = 0, loop = 0, waiter = 0, ends = 0, srv = 0, conn = 0, handler = 0;
    long connected = 0;
} g_layout;
PyTypeObject* g_cls = nullptr;     // the one class g_layout describes
PyObject* g_next_name = nullptr;   // "_next"
PyObject* g_send_name = nullptr;   // "_send"
PyObject* g_sent_name = nullptr;   // "_sent"
PyObject* g_enqueue_name = nullptr;     // "_enqueue"
PyObject* g_on_message_name = nullptr;  // "on_message"

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

// A message for a handler that awaits messages: resume its waiter if it is waiting, else queue.
PyObject* deliver(PyObject* ws, PyObject* data) {
    PyObject*& waiter = slot(ws, g_layout.waiter);
    PyObject* w = waiter;
    if (w && w != Py_None) {
        waiter = Py_NewRef(Py_None);  // its reference is ours now
        int woke = fasterapi::bindings::resume_waiter(w, data);
        if (woke == -2)  // only __anext__ and WebSocket._next set it, always to a Waiter
            PyErr_Format(PyExc_TypeError, "WebSocket._waiter must be a fasterapi._core.Waiter, not %s",
                         Py_TYPE(w)->tp_name);
        Py_DECREF(w);
        if (woke < 0) return nullptr;
        if (woke) Py_RETURN_NONE;
    }
    return PyObject_CallMethodOneArg(ws, g_enqueue_name, data);
}

// A message for a callback-style handler: handler.on_message(ws, data); an Exception it raises
// goes to failed(ws) as inside `except Exception:` (sys.exc_info() is that exception).
PyObject* on_message(PyObject* failed, PyObject* ws, PyObject* handler, PyObject* data) {
    PyObject* argv[3] = {handler, ws, data};
    PyObject* r = PyObject_VectorcallMethod(g_on_message_name, argv, 3, nullptr);
    if (r || !PyErr_ExceptionMatches(PyExc_Exception)) return r;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb) PyException_SetTraceback(value, tb);
    PyObject *outer_type, *outer_value, *outer_tb;
    PyErr_GetExcInfo(&outer_type, &outer_value, &outer_tb);
    PyErr_SetExcInfo(type, value, tb);  // steals
    r = PyObject_CallOneArg(failed, ws);
    PyErr_SetExcInfo(outer_type, outer_value, outer_tb);
    return r;
}

// on_ws_message(conn, data) for the native server; self is (conns, failed).
PyObject* dispatch(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "on_ws_message(conn, data) takes 2 arguments (%zd given)", nargs);
        return nullptr;
    }
    PyObject* ws = PyDict_GetItemWithError(PyTuple_GET_ITEM(self, 0), args[0]);  // borrowed
    if (!ws) {
        if (PyErr_Occurred()) return nullptr;
        Py_RETURN_NONE;  // closed meanwhile: nothing to deliver to
    }
    // conns also holds SSE streams, which never get a WebSocket message.
    PyObject* handler = g_cls && Py_TYPE(ws) == g_cls ? slot(ws, g_layout.handler) : nullptr;
    if (!handler) Py_RETURN_NONE;
    Py_INCREF(ws);  // a handler may drop it from conns
    PyObject* r = handler == Py_None ? deliver(ws, args[1])
                                     : on_message(PyTuple_GET_ITEM(self, 1), ws, handler, args[1]);
    Py_DECREF(ws);
    return r;
}

PyMethodDef g_dispatch_def = {
    "on_ws_message", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dispatch)), METH_FASTCALL,
    "on_ws_message(conn, data)\n--\n\nDeliver a message to the WebSocket conns[conn]: resume or queue for an "
    "awaiting handler, handler.on_message(ws, data) for a callback-style one."};

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
    g_enqueue_name = PyUnicode_InternFromString("_enqueue");
    g_on_message_name = PyUnicode_InternFromString("on_message");
    if (!g_next_name || !g_send_name || !g_sent_name || !g_enqueue_name || !g_on_message_name)
        throw py::error_already_set();
    m.def(
        "ws_methods",
        [](py::type cls, long connected) {
            auto* t = reinterpret_cast<PyTypeObject*>(cls.ptr());
            bind_class(t, Layout{slot_offset(t, "_queue"), slot_offset(t, "state"), slot_offset(t, "_loop"),
                                 slot_offset(t, "_waiter"), slot_offset(t, "_waiter_ends_iteration"),
                                 slot_offset(t, "_srv"), slot_offset(t, "conn"), slot_offset(t, "handler"),
                                 connected});
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
        "_queue, state, _loop, _waiter, _waiter_ends_iteration, _srv, conn, handler; the methods "
        "_next(ends_iteration), _send(data), _sent(buffered), _enqueue(data)). TypeError if a slot is missing; "
        "RuntimeError for a second class.");
    m.def(
        "ws_dispatcher",
        [](py::dict conns, py::object failed) {
            py::tuple state = py::make_tuple(conns, failed);
            PyObject* f = PyCFunction_New(&g_dispatch_def, state.ptr());
            if (!f) throw py::error_already_set();
            return py::reinterpret_steal<py::object>(f);
        },
        py::arg("conns"), py::arg("failed"),
        "The native server's on_ws_message(conn, data) for an App: conns maps a connection id to its WebSocket "
        "(of the class given to ws_methods; other values and missing ids are ignored). A waiting handler is "
        "resumed, else the message queued (_enqueue); a callback handler gets on_message(ws, data), and failed(ws) "
        "runs, as in an `except Exception:` block, when that raises.");
}
