// The async WebSocket path's awaitable (bindings/waiter.cpp), for the other bindings that make one.
#pragma once
#include <Python.h>

namespace fasterapi::bindings {

// A new pending fasterapi._core.Waiter on loop (new reference; nullptr with a Python error set).
PyObject* new_waiter(PyObject* loop);

// Waiter.resume(value) for a fasterapi._core.Waiter w: 1 if it woke the awaiting Task (or
// queued its wake-up), 0 if w was already done, -1 with a Python error set. -2 if w is not a
// Waiter (nothing done).
int resume_waiter(PyObject* w, PyObject* value);

// fasterapi._core.DONE, the already complete awaitable (borrowed reference).
PyObject* done();

}  // namespace fasterapi::bindings
