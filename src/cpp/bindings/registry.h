// Each bindings/<area>.cpp registers its own definitions, so areas can be added
// without touching a central list: FASTERAPI_BIND(ws) { m.def(...); }
#pragma once
#include <pybind11/pybind11.h>

namespace fasterapi::bindings {

using BindFn = void (*)(pybind11::module_&);

struct Registrar {
    Registrar(const char* name, BindFn fn, int order);
};

void bind_all(pybind11::module_& m);

}  // namespace fasterapi::bindings

// order: lower binds first (types used by other areas' signatures bind early).
#define FASTERAPI_BIND_ORDERED(name, order)                                              \
    static void fasterapi_bind_##name(pybind11::module_& m);                            \
    static const ::fasterapi::bindings::Registrar fasterapi_registrar_##name{#name,      \
        &fasterapi_bind_##name, order};                                                 \
    static void fasterapi_bind_##name(pybind11::module_& m)
#define FASTERAPI_BIND(name) FASTERAPI_BIND_ORDERED(name, 100)
