// The async WebSocket path's awaitable (bindings/waiter.cpp), for the other bindings that make one.
#pragma once
#include <Python.h>

namespace fasterapi::bindings {

// A new pending fasterapi._core.Waiter on loop (new reference; nullptr with a Python error set).
PyObject* new_waiter(PyObject* loop);

// fasterapi._core.DONE, the already complete awaitable (borrowed reference).
PyObject* done();

}  // namespace fasterapi::bindings
