#include <algorithm>
#include <string>
#include <vector>

#include "bindings/registry.h"

namespace fasterapi::bindings {
namespace {
struct Entry {
    const char* name;
    BindFn fn;
    int order;
};
std::vector<Entry>& entries() {
    static std::vector<Entry> e;  // function-local: safe from static init order
    return e;
}
}  // namespace

Registrar::Registrar(const char* name, BindFn fn, int order) { entries().push_back({name, fn, order}); }

void bind_all(pybind11::module_& m) {
    auto& e = entries();
    std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
        if (a.order != b.order) return a.order < b.order;
        return std::string(a.name) < std::string(b.name);
    });
    for (const auto& entry : e) entry.fn(m);
}
}  // namespace fasterapi::bindings

PYBIND11_MODULE(_core, m) {
    m.doc() = "FasterAPI native core: WebSocket, permessage-deflate, SSE, HTTP/1.1 and the epoll server";
    m.attr("__version__") = "0.1.0";
    fasterapi::bindings::bind_all(m);
}
