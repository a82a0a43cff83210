// WebSocket.__anext__ in C: the per-message step of `async for message in ws`. As a Python
// method it cost a frame entered from C (slot_am_anext), ~1,100 instructions a message.
//
// anext_method(cls, connected) reads where cls's __slots__ keep _queue, state, _loop, _waiter
// and _waiter_ends_iteration, and returns a method descriptor to install as cls.__anext__.
// The common case (nothing queued, connected) makes the Waiter and stores it right here;
// every other case calls cls._next(self, True), the one place that logic lives.
#include <Python.h>
#include <structmember.h>

#include "bindings/registry.h"
#include "bindings/waiter.h"

namespace py = pybind11;

namespace {

struct Layout {
    Py_ssize_t queue = 0, state = 0, loop = 0, waiter = 0, ends = 0;
    long connected = 0;
} g_layout;
PyTypeObject* g_cls = nullptr;    // the one class g_layout describes
PyObject* g_next_name = nullptr;  // "_next"

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

Py_ssize_t slot_offset(PyTypeObject* cls, const char* name) {
    PyObject* d = PyDict_GetItemString(cls->tp_dict, name);  // borrowed
    if (!d || !Py_IS_TYPE(d, &PyMemberDescr_Type) ||
        reinterpret_cast<PyMemberDescrObject*>(d)->d_member->type != T_OBJECT_EX)
        throw py::type_error(std::string(cls->tp_name) + " has no __slots__ entry " + name);
    return reinterpret_cast<PyMemberDescrObject*>(d)->d_member->offset;
}

}  // namespace

FASTERAPI_BIND(ws_anext) {
    g_next_name = PyUnicode_InternFromString("_next");
    if (!g_next_name) throw py::error_already_set();
    m.def(
        "anext_method",
        [](py::type cls, long connected) {
            auto* t = reinterpret_cast<PyTypeObject*>(cls.ptr());
            Layout layout{slot_offset(t, "_queue"), slot_offset(t, "state"), slot_offset(t, "_loop"),
                          slot_offset(t, "_waiter"), slot_offset(t, "_waiter_ends_iteration"), connected};
            if (g_cls && g_cls != t) throw std::runtime_error("anext_method() serves one class per process");
            g_layout = layout;
            Py_INCREF(t);
            Py_XSETREF(g_cls, t);
            PyObject* descr = PyDescr_NewMethod(t, &g_anext_def);
            if (!descr) throw py::error_already_set();
            return py::reinterpret_steal<py::object>(descr);
        },
        py::arg("cls"), py::arg("connected"),
        "A method descriptor for cls.__anext__ (the WebSocket class: the __slots__ _queue, state, _loop, _waiter, "
        "_waiter_ends_iteration, and a _next(ends_iteration) method). TypeError if a slot is missing.");
}
