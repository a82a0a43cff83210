// fasterapi._core.loadgen: the native load generator, callable from Python
// (Locust users, the bench runner). The run happens with the GIL released, so
// Python threads (even servers in the same process) keep running meanwhile.
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/registry.h"
#include "tools/lib/loadgen.h"

namespace py = pybind11;

FASTERAPI_BIND(loadgen) {
    auto sub = m.def_submodule("loadgen", "Native load generator (fasterapi-loadgen) as a function");
    sub.def(
        "run",
        [](const std::vector<std::string>& args) {
            std::string json;
            try {
                py::gil_scoped_release release;
                json = fasterapi::loadgen::run_loadgen(args);
            } catch (const fasterapi::loadgen::UsageError& e) {
                throw py::value_error(e.what());
            }
            return py::module_::import("json").attr("loads")(json);
        },
        py::arg("args"),
        "Run one load test, e.g. run(['ws-echo', '--url', 'ws://127.0.0.1:9001/', '--duration', '5']);\n"
        "returns the JSON report as a dict. Raises ValueError on bad arguments, RuntimeError when the\n"
        "run cannot start. Blocks for the run's duration with the GIL released.");
    sub.def("stop", &fasterapi::loadgen::request_stop,
            "End the run(s) in progress early (from another thread); their reports cover the time measured.");
    sub.def("usage", &fasterapi::loadgen::usage, "The fasterapi-loadgen --help text.");
}
