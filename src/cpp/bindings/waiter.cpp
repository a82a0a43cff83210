// fasterapi._core.Waiter and fasterapi._core.DONE: the awaitables of the async
// WebSocket path, in C so that a message costs no Python frame between the native
// callback and the handler's `await`.
//
// Waiter is a minimal asyncio-compatible future (the protocol asyncio.Task and
// asyncio.isfuture() check: _asyncio_future_blocking, get_loop, add_done_callback,
// result, cancel, ...). What a plain Future cannot do: resume(value) completes it
// and, when no task is running (the native poll, called from the loop's reader),
// runs the waiting Task's wake-up right there, in the Task's context, instead of
// scheduling it with call_soon for the next loop iteration. Everything else
// (set_result, set_exception, cancel, callbacks added after completion) schedules
// callbacks with loop.call_soon exactly as asyncio.Future does.
#include <Python.h>

#include <cstring>

#include "bindings/registry.h"
#include "bindings/waiter.h"

namespace py = pybind11;

namespace {

enum : unsigned char { PENDING = 0, RESULT = 1, EXCEPTION = 2, CANCELLED = 3 };

struct Waiter {
    PyObject_HEAD
    PyObject* loop;        // None for a ready waiter (Waiter.ready)
    PyObject* cb;          // first done-callback and its context (the Task's wake-up, in practice)
    PyObject* cb_ctx;
    PyObject* more;        // list of (fn, ctx) for further callbacks, or nullptr
    PyObject* value;       // the result, or the exception instance
    PyObject* cancel_msg;
    unsigned char state;
    unsigned char blocking;  // _asyncio_future_blocking
};

PyObject* g_current_tasks = nullptr;     // asyncio.tasks._current_tasks {loop: task} (a dict on 3.11)
PyObject* g_current_task = nullptr;      // asyncio.current_task, when that dict is not there
PyObject* g_cancelled_error = nullptr;   // asyncio.CancelledError
PyObject* g_invalid_state = nullptr;     // asyncio.InvalidStateError
PyObject* g_call_soon = nullptr;         // "call_soon"
PyObject* g_context_kw = nullptr;        // ("context",)
PyObject* g_loop_kw = nullptr;           // ("loop",)
PyObject* g_task_type = nullptr;         // asyncio.Task
PyObject* g_future_type = nullptr;       // asyncio.Future
PyObject* g_blocking_name = nullptr;     // interned "_asyncio_future_blocking"
PyObject* g_get_loop_name = nullptr;     // interned "get_loop"

// Made once per event loop (the last one seen): see wake_arg and w_getattro.
struct PerLoop {
    PyObject* loop = nullptr;
    PyObject* done_future = nullptr;  // an asyncio.Future already complete with None
    PyObject* get_loop = nullptr;     // a builtin returning loop (a bound method per call otherwise)
} g_per_loop;

int w_traverse(Waiter* self, visitproc visit, void* arg) {
    Py_VISIT(self->loop);
    Py_VISIT(self->cb);
    Py_VISIT(self->cb_ctx);
    Py_VISIT(self->more);
    Py_VISIT(self->value);
    Py_VISIT(self->cancel_msg);
    return 0;
}

int w_clear(Waiter* self) {
    Py_CLEAR(self->loop);
    Py_CLEAR(self->cb);
    Py_CLEAR(self->cb_ctx);
    Py_CLEAR(self->more);
    Py_CLEAR(self->value);
    Py_CLEAR(self->cancel_msg);
    return 0;
}

void w_dealloc(Waiter* self) {
    PyObject_GC_UnTrack(self);
    w_clear(self);
    Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

PyTypeObject WaiterType = {PyVarObject_HEAD_INIT(nullptr, 0)};

Waiter* w_alloc(PyObject* loop) {
    auto* self = PyObject_GC_New(Waiter, &WaiterType);
    if (!self) return nullptr;
    Py_INCREF(loop);
    self->loop = loop;
    self->cb = self->cb_ctx = self->more = self->value = self->cancel_msg = nullptr;
    self->state = PENDING;
    self->blocking = 0;
    PyObject_GC_Track(self);
    return self;
}

// Waiter(loop): pending. Vectorcall: one is made per awaited message.
PyObject* w_vectorcall(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Waiter(loop) takes one positional argument");
        return nullptr;
    }
    return reinterpret_cast<PyObject*>(w_alloc(args[0]));
}

PyObject* w_new(PyTypeObject*, PyObject* args, PyObject* kwds) {
    PyObject* loop = nullptr;
    static const char* kwlist[] = {"loop", nullptr};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Waiter", const_cast<char**>(kwlist), &loop)) return nullptr;
    return reinterpret_cast<PyObject*>(w_alloc(loop));
}

// loop.call_soon(fn, self, context=ctx)
int schedule_one(Waiter* self, PyObject* fn, PyObject* ctx) {
    if (self->loop == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "Waiter has no loop to schedule its callbacks on");
        return -1;
    }
    PyObject* argv[4] = {self->loop, fn, reinterpret_cast<PyObject*>(self), ctx};
    PyObject* r = PyObject_VectorcallMethod(g_call_soon, argv, 3, g_context_kw);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

// Schedule every callback (asyncio.Future.__schedule_callbacks) and forget them.
int schedule_all(Waiter* self) {
    PyObject* cb = self->cb;
    PyObject* ctx = self->cb_ctx;
    PyObject* more = self->more;
    self->cb = self->cb_ctx = self->more = nullptr;
    int rc = 0;
    if (cb) {
        rc = schedule_one(self, cb, ctx);
        Py_DECREF(cb);
        Py_DECREF(ctx);
    }
    if (more) {
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(more); ++i) {
            PyObject* t = PyList_GET_ITEM(more, i);
            rc = schedule_one(self, PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1));
        }
        Py_DECREF(more);
    }
    return rc;
}

PyObject* invalid_state(const char* msg) {
    PyErr_SetString(g_invalid_state, msg);
    return nullptr;
}

PyObject* make_cancelled_error(Waiter* self) {
    if (self->cancel_msg && self->cancel_msg != Py_None)
        return PyObject_CallOneArg(g_cancelled_error, self->cancel_msg);
    return PyObject_CallNoArgs(g_cancelled_error);
}

void raise_exception_value(PyObject* exc) { PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc); }

// --- awaiting: the waiter is its own iterator (am_send: no StopIteration per message) ---------
PyObject* w_await(PyObject* self) {
    Py_INCREF(self);
    return self;
}

PySendResult w_send(PyObject* o, PyObject*, PyObject** result) {
    auto* self = reinterpret_cast<Waiter*>(o);
    switch (self->state) {
        case PENDING:
            self->blocking = 1;
            Py_INCREF(o);
            *result = o;
            return PYGEN_NEXT;
        case RESULT:
            Py_INCREF(self->value);
            *result = self->value;
            return PYGEN_RETURN;
        case EXCEPTION:
            raise_exception_value(self->value);
            break;
        default: {
            PyObject* e = make_cancelled_error(self);
            if (e) {
                raise_exception_value(e);
                Py_DECREF(e);
            }
        }
    }
    *result = nullptr;
    return PYGEN_ERROR;
}

PyObject* w_iternext(PyObject* o) {
    PyObject* r = nullptr;
    PySendResult s = w_send(o, Py_None, &r);
    if (s == PYGEN_NEXT) return r;
    if (s == PYGEN_RETURN) {
        if (r != Py_None) _PyGen_SetStopIterationValue(r);
        Py_DECREF(r);
    }
    return nullptr;
}

// --- the future protocol -----------------------------------------------------------------------
PyObject* w_get_loop(Waiter* self, PyObject*) {
    Py_INCREF(self->loop);
    return self->loop;
}

PyObject* w_done(Waiter* self, PyObject*) { return PyBool_FromLong(self->state != PENDING); }
PyObject* w_cancelled(Waiter* self, PyObject*) { return PyBool_FromLong(self->state == CANCELLED); }

PyObject* w_result(Waiter* self, PyObject*) {
    switch (self->state) {
        case PENDING: return invalid_state("Result is not set.");
        case RESULT: Py_INCREF(self->value); return self->value;
        case EXCEPTION: raise_exception_value(self->value); return nullptr;
        default: {
            PyObject* e = make_cancelled_error(self);
            if (e) {
                raise_exception_value(e);
                Py_DECREF(e);
            }
            return nullptr;
        }
    }
}

PyObject* w_exception(Waiter* self, PyObject*) {
    switch (self->state) {
        case PENDING: return invalid_state("Exception is not set.");
        case RESULT: Py_RETURN_NONE;
        case EXCEPTION: Py_INCREF(self->value); return self->value;
        default: return w_result(self, nullptr);  // raises CancelledError
    }
}

PyObject* w_make_cancelled_error(Waiter* self, PyObject*) { return make_cancelled_error(self); }

PyObject* w_add_done_callback(Waiter* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    PyObject* fn = nullptr;
    PyObject* ctx = Py_None;
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "add_done_callback(fn, *, context=None)");
        return nullptr;
    }
    fn = args[0];
    for (Py_ssize_t i = 0; i < nk; ++i) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "context") != 0) {
            PyErr_SetString(PyExc_TypeError, "add_done_callback() got an unexpected keyword argument");
            return nullptr;
        }
        ctx = args[nargs + i];
    }
    PyObject* owned_ctx = ctx == Py_None ? PyContext_CopyCurrent() : (Py_INCREF(ctx), ctx);
    if (!owned_ctx) return nullptr;
    if (self->state != PENDING) {
        int rc = schedule_one(self, fn, owned_ctx);
        Py_DECREF(owned_ctx);
        if (rc < 0) return nullptr;
        Py_RETURN_NONE;
    }
    if (!self->cb) {
        Py_INCREF(fn);
        self->cb = fn;
        self->cb_ctx = owned_ctx;
        Py_RETURN_NONE;
    }
    if (!self->more && !(self->more = PyList_New(0))) {
        Py_DECREF(owned_ctx);
        return nullptr;
    }
    PyObject* t = PyTuple_Pack(2, fn, owned_ctx);
    Py_DECREF(owned_ctx);
    if (!t) return nullptr;
    int rc = PyList_Append(self->more, t);
    Py_DECREF(t);
    if (rc < 0) return nullptr;
    Py_RETURN_NONE;
}

PyObject* w_remove_done_callback(Waiter* self, PyObject* fn) {
    Py_ssize_t removed = 0;
    if (self->cb) {
        int eq = PyObject_RichCompareBool(self->cb, fn, Py_EQ);
        if (eq < 0) return nullptr;
        if (eq) {
            Py_CLEAR(self->cb);
            Py_CLEAR(self->cb_ctx);
            ++removed;
        }
    }
    if (self->more) {
        PyObject* kept = PyList_New(0);
        if (!kept) return nullptr;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->more); ++i) {
            PyObject* t = PyList_GET_ITEM(self->more, i);
            int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(t, 0), fn, Py_EQ);
            if (eq < 0 || (!eq && PyList_Append(kept, t) < 0)) {
                Py_DECREF(kept);
                return nullptr;
            }
            removed += eq;
        }
        Py_SETREF(self->more, kept);
    }
    return PyLong_FromSsize_t(removed);
}

PyObject* w_set_result(Waiter* self, PyObject* value) {
    if (self->state != PENDING) return invalid_state("invalid state");
    Py_INCREF(value);
    self->value = value;
    self->state = RESULT;
    if (schedule_all(self) < 0) return nullptr;
    Py_RETURN_NONE;
}

PyObject* w_set_exception(Waiter* self, PyObject* exc) {
    if (self->state != PENDING) return invalid_state("invalid state");
    PyObject* inst = exc;
    if (PyExceptionClass_Check(exc)) {
        inst = PyObject_CallNoArgs(exc);
        if (!inst) return nullptr;
    } else {
        Py_INCREF(inst);
    }
    if (!PyExceptionInstance_Check(inst)) {
        Py_DECREF(inst);
        PyErr_SetString(PyExc_TypeError, "invalid exception object");
        return nullptr;
    }
    self->value = inst;
    self->state = EXCEPTION;
    if (schedule_all(self) < 0) return nullptr;
    Py_RETURN_NONE;
}

PyObject* w_cancel(Waiter* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    PyObject* msg = nargs > 0 ? args[0] : Py_None;
    if (kwnames && PyTuple_GET_SIZE(kwnames) == 1) msg = args[nargs];
    if (self->state != PENDING) Py_RETURN_FALSE;
    Py_INCREF(msg);
    self->cancel_msg = msg;
    self->state = CANCELLED;
    if (schedule_all(self) < 0) return nullptr;
    Py_RETURN_TRUE;
}

PyObject* return_self(PyObject* self, PyObject*) {
    Py_INCREF(self);
    return self;
}
PyMethodDef g_get_loop_def = {"get_loop", return_self, METH_NOARGS, nullptr};

// g_per_loop for loop; nullptr (Python error set) if it cannot be made.
const PerLoop* per_loop(PyObject* loop) {
    if (g_per_loop.loop == loop) return &g_per_loop;
    PyObject* argv[1] = {loop};
    PyObject* fut = PyObject_Vectorcall(g_future_type, argv, 0, g_loop_kw);  // Future(loop=loop)
    PyObject* r = fut ? PyObject_CallMethod(fut, "set_result", "O", Py_None) : nullptr;
    PyObject* getter = r ? PyCFunction_New(&g_get_loop_def, loop) : nullptr;
    Py_XDECREF(r);
    if (!getter) {
        Py_XDECREF(fut);
        return nullptr;
    }
    Py_INCREF(loop);
    Py_XSETREF(g_per_loop.loop, loop);
    Py_XSETREF(g_per_loop.done_future, fut);
    Py_XSETREF(g_per_loop.get_loop, getter);
    return &g_per_loop;
}

// What to pass the awaiting Task's wake-up. The C Task's task_wakeup reads a plain
// asyncio.Future's result directly but calls result() through a by-name attribute lookup
// (a new str, hashed, an uncached type lookup and a bound method) on anything else: ~1,300
// instructions per message. Both then step the Task with nothing sent in, so a Future
// completed with None gives the same wake-up; any other callback gets the waiter itself.
PyObject* wake_arg(Waiter* self, PyObject* cb) {
    PyObject* task = PyCFunction_Check(cb) ? PyCFunction_GET_SELF(cb) : nullptr;
    if (!task || reinterpret_cast<PyObject*>(Py_TYPE(task)) != g_task_type ||
        std::strcmp(reinterpret_cast<PyCFunctionObject*>(cb)->m_ml->ml_name, "task_wakeup") != 0)
        return reinterpret_cast<PyObject*>(self);
    const PerLoop* pl = per_loop(self->loop);
    if (!pl) {
        PyErr_Clear();  // the slower wake-up is still a correct one
        return reinterpret_cast<PyObject*>(self);
    }
    return pl->done_future;
}

// resume(value) -> bool: complete with value and, when no task is running and the only
// callback is one waiter (the awaiting Task's wake-up), run it now in its context.
// False (nothing done) if the waiter was already done (cancelled).
PyObject* w_resume(Waiter* self, PyObject* value) {
    if (self->state != PENDING) Py_RETURN_FALSE;
    Py_INCREF(value);
    self->value = value;
    self->state = RESULT;
    if (self->cb && !self->more) {
        bool idle;
        if (g_current_tasks) {
            PyObject* running = PyDict_GetItemWithError(g_current_tasks, self->loop);  // borrowed
            if (!running && PyErr_Occurred()) return nullptr;
            idle = running == nullptr;
        } else {
            PyObject* running = PyObject_CallOneArg(g_current_task, self->loop);
            if (!running) return nullptr;
            idle = running == Py_None;
            Py_DECREF(running);
        }
        if (idle) {
            PyObject* cb = self->cb;
            PyObject* ctx = self->cb_ctx;
            self->cb = self->cb_ctx = nullptr;
            if (PyContext_Enter(ctx) == 0) {
                PyObject* r = PyObject_CallOneArg(cb, wake_arg(self, cb));
                PyContext_Exit(ctx);
                Py_DECREF(cb);
                Py_DECREF(ctx);
                if (!r) return nullptr;
                Py_DECREF(r);
                Py_RETURN_TRUE;
            }
            PyErr_Clear();  // that context is in use: fall back to the loop
            self->cb = cb;
            self->cb_ctx = ctx;
        }
    }
    if (schedule_all(self) < 0) return nullptr;
    Py_RETURN_TRUE;
}

// Waiter.ready(value): already complete (a queued message: awaiting it returns at once).
PyObject* w_ready(PyObject*, PyObject* value) {
    Waiter* w = w_alloc(Py_None);
    if (!w) return nullptr;
    Py_INCREF(value);
    w->value = value;
    w->state = RESULT;
    return reinterpret_cast<PyObject*>(w);
}

PyObject* w_get_blocking(Waiter* self, void*) { return PyBool_FromLong(self->blocking); }
int w_set_blocking(Waiter* self, PyObject* v, void*) {
    int b = v ? PyObject_IsTrue(v) : 0;
    if (b < 0) return -1;
    self->blocking = static_cast<unsigned char>(b);
    return 0;
}
PyObject* w_get_loop_attr(Waiter* self, void*) { return w_get_loop(self, nullptr); }

// The Task reads _asyncio_future_blocking and get_loop and clears the flag each time it
// suspends on a waiter (once per message): answered here before the generic lookup, which
// would make a bound method for get_loop every time.
PyObject* w_getattro(PyObject* o, PyObject* name) {
    auto* self = reinterpret_cast<Waiter*>(o);
    if (name == g_blocking_name) return PyBool_FromLong(self->blocking);
    if (name == g_get_loop_name && self->loop != Py_None) {
        if (const PerLoop* pl = per_loop(self->loop)) {
            Py_INCREF(pl->get_loop);
            return pl->get_loop;
        }
        PyErr_Clear();
    }
    return PyObject_GenericGetAttr(o, name);
}

int w_setattro(PyObject* o, PyObject* name, PyObject* v) {
    if (name == g_blocking_name && v) return w_set_blocking(reinterpret_cast<Waiter*>(o), v, nullptr);
    return PyObject_GenericSetAttr(o, name, v);
}

PyObject* w_repr(Waiter* self) {
    static const char* names[] = {"pending", "finished", "finished", "cancelled"};
    return PyUnicode_FromFormat("<Waiter %s>", names[self->state]);
}

PyMethodDef w_methods[] = {
    {"get_loop", reinterpret_cast<PyCFunction>(w_get_loop), METH_NOARGS, nullptr},
    {"done", reinterpret_cast<PyCFunction>(w_done), METH_NOARGS, nullptr},
    {"cancelled", reinterpret_cast<PyCFunction>(w_cancelled), METH_NOARGS, nullptr},
    {"result", reinterpret_cast<PyCFunction>(w_result), METH_NOARGS, nullptr},
    {"exception", reinterpret_cast<PyCFunction>(w_exception), METH_NOARGS, nullptr},
    {"_make_cancelled_error", reinterpret_cast<PyCFunction>(w_make_cancelled_error), METH_NOARGS, nullptr},
    {"add_done_callback", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(w_add_done_callback)),
     METH_FASTCALL | METH_KEYWORDS, nullptr},
    {"remove_done_callback", reinterpret_cast<PyCFunction>(w_remove_done_callback), METH_O, nullptr},
    {"set_result", reinterpret_cast<PyCFunction>(w_set_result), METH_O, nullptr},
    {"set_exception", reinterpret_cast<PyCFunction>(w_set_exception), METH_O, nullptr},
    {"cancel", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(w_cancel)), METH_FASTCALL | METH_KEYWORDS,
     nullptr},
    {"resume", reinterpret_cast<PyCFunction>(w_resume), METH_O,
     "Complete with value; run the waiting Task's wake-up now when no task is running. False if already done."},
    {"ready", reinterpret_cast<PyCFunction>(w_ready), METH_O | METH_STATIC,
     "A waiter already complete with value (awaiting it returns at once)."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef w_getset[] = {
    {"_asyncio_future_blocking", reinterpret_cast<getter>(w_get_blocking), reinterpret_cast<setter>(w_set_blocking),
     nullptr, nullptr},
    {"_loop", reinterpret_cast<getter>(w_get_loop_attr), nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyAsyncMethods w_async = {w_await, nullptr, nullptr, w_send};

// DONE: awaiting it returns None at once (send()/accept()/close() when no backpressure applies).
PyObject* d_await(PyObject* self) {
    Py_INCREF(self);
    return self;
}
PySendResult d_send(PyObject*, PyObject*, PyObject** result) {
    Py_INCREF(Py_None);
    *result = Py_None;
    return PYGEN_RETURN;
}
PyObject* d_iternext(PyObject*) { return nullptr; }
PyObject* d_repr(PyObject*) { return PyUnicode_FromString("DONE"); }
PyAsyncMethods d_async = {d_await, nullptr, nullptr, d_send};
PyTypeObject DoneType = {PyVarObject_HEAD_INIT(nullptr, 0)};

}  // namespace

PyObject* fasterapi::bindings::new_waiter(PyObject* loop) { return reinterpret_cast<PyObject*>(w_alloc(loop)); }

int fasterapi::bindings::resume_waiter(PyObject* w, PyObject* value) {
    if (!Py_IS_TYPE(w, &WaiterType)) return -2;
    PyObject* r = w_resume(reinterpret_cast<Waiter*>(w), value);
    if (!r) return -1;
    Py_DECREF(r);
    return r == Py_True;
}

namespace {
PyObject* g_done = nullptr;
}
PyObject* fasterapi::bindings::done() { return g_done; }

FASTERAPI_BIND(waiter) {
    PyObject* asyncio = PyImport_ImportModule("asyncio");
    if (!asyncio) throw py::error_already_set();
    g_current_task = PyObject_GetAttrString(asyncio, "current_task");
#if PY_VERSION_HEX < 0x030C0000  // later versions keep the running task elsewhere
    if (PyObject* tasks = PyObject_GetAttrString(asyncio, "tasks")) {
        PyObject* d = PyObject_GetAttrString(tasks, "_current_tasks");
        Py_DECREF(tasks);
        if (d && PyDict_CheckExact(d)) g_current_tasks = d;
        else Py_XDECREF(d);
    }
    PyErr_Clear();
#endif
    g_cancelled_error = PyObject_GetAttrString(asyncio, "CancelledError");
    g_invalid_state = PyObject_GetAttrString(asyncio, "InvalidStateError");
    g_task_type = PyObject_GetAttrString(asyncio, "Task");
    g_future_type = PyObject_GetAttrString(asyncio, "Future");
    Py_DECREF(asyncio);
    g_call_soon = PyUnicode_InternFromString("call_soon");
    g_context_kw = Py_BuildValue("(s)", "context");
    g_loop_kw = Py_BuildValue("(s)", "loop");
    g_blocking_name = PyUnicode_InternFromString("_asyncio_future_blocking");
    g_get_loop_name = PyUnicode_InternFromString("get_loop");
    if (!g_current_task || !g_cancelled_error || !g_invalid_state || !g_task_type || !g_future_type || !g_call_soon ||
        !g_context_kw || !g_loop_kw || !g_blocking_name || !g_get_loop_name)
        throw py::error_already_set();

    WaiterType.tp_name = "fasterapi._core.Waiter";
    WaiterType.tp_basicsize = sizeof(Waiter);
    WaiterType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
    WaiterType.tp_doc =
        "Minimal asyncio-compatible future of the async WebSocket path; resume() wakes the awaiting Task "
        "without a loop iteration when no task is running.";
    WaiterType.tp_new = w_new;
    WaiterType.tp_vectorcall = w_vectorcall;
    WaiterType.tp_dealloc = reinterpret_cast<destructor>(w_dealloc);
    WaiterType.tp_traverse = reinterpret_cast<traverseproc>(w_traverse);
    WaiterType.tp_clear = reinterpret_cast<inquiry>(w_clear);
    WaiterType.tp_as_async = &w_async;
    WaiterType.tp_iter = PyObject_SelfIter;
    WaiterType.tp_iternext = w_iternext;
    WaiterType.tp_methods = w_methods;
    WaiterType.tp_getset = w_getset;
    WaiterType.tp_getattro = w_getattro;
    WaiterType.tp_setattro = w_setattro;
    WaiterType.tp_repr = reinterpret_cast<reprfunc>(w_repr);
    if (PyType_Ready(&WaiterType) < 0) throw py::error_already_set();

    DoneType.tp_name = "fasterapi._core.Done";
    DoneType.tp_basicsize = sizeof(PyObject);
    DoneType.tp_flags = Py_TPFLAGS_DEFAULT;
    DoneType.tp_doc = "Awaitable that is already complete: awaiting it returns None at once.";
    DoneType.tp_as_async = &d_async;
    DoneType.tp_iter = PyObject_SelfIter;
    DoneType.tp_iternext = d_iternext;
    DoneType.tp_repr = d_repr;
    if (PyType_Ready(&DoneType) < 0) throw py::error_already_set();
    PyObject* done = PyType_GenericAlloc(&DoneType, 0);
    if (!done) throw py::error_already_set();

    Py_INCREF(&WaiterType);
    m.add_object("Waiter", py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(&WaiterType)));
    Py_INCREF(&DoneType);
    m.add_object("Done", py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(&DoneType)));
    g_done = done;  // the module keeps it alive
    m.add_object("DONE", py::reinterpret_steal<py::object>(done));
}
