// Server.ws_send for the other bindings (bindings/server.cpp): WebSocket.send in C calls it
// without a Python call.
#pragma once
#include <Python.h>

#include <cstddef>

namespace fasterapi::bindings {

// When srv is a fasterapi._core.Server and conn an int: sends data (str: a text message,
// bytes/bytearray: binary) on conn, sets buffered to the bytes still buffered (-1: the
// connection is gone; -2: a Python error is set, e.g. TypeError for another type) and
// high_water to the server's send_high_water, and returns true. Otherwise returns false
// and does nothing (the caller takes the generic path).
bool server_ws_send(PyObject* srv, PyObject* conn, PyObject* data, long long& buffered, size_t& high_water);

}  // namespace fasterapi::bindings
