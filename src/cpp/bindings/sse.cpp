// fasterapi._core.sse: the Server-Sent Events encoder and replay buffer.
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/registry.h"
#include "sse/encoder.h"
#include "sse/replay.h"

namespace py = pybind11;
using namespace fasterapi;

namespace {

py::bytes encode_event(const std::optional<std::string>& data, const std::optional<std::string>& event,
                       const std::optional<std::string>& id, std::optional<int64_t> retry,
                       const std::optional<std::string>& comment) {
    sse::Event ev;
    ev.has_data = data.has_value();
    if (data) ev.data = *data;
    if (event) ev.event = *event;
    ev.has_id = id.has_value();
    if (id) ev.id = *id;
    if (retry) {
        if (*retry < 0) throw py::value_error(sse::describe(sse::EncodeError::RetryNegative));
        ev.retry_ms = *retry;
    }
    if (comment) ev.comment = *comment;
    std::string out;
    if (sse::EncodeError e = sse::encode(ev, out); e != sse::EncodeError::None) throw py::value_error(sse::describe(e));
    return py::bytes(out);
}

}  // namespace

FASTERAPI_BIND(sse) {
    auto sub = m.def_submodule("sse", "Server-Sent Events encoder and replay buffer (WHATWG text/event-stream)");

    const char* encode_doc =
        "Encode one event (fields: comment, id, event, retry, data; then a blank line). data split on CRLF/CR/LF "
        "into data: lines; data=None writes no data field. ValueError if event or id contains CR/LF (or NUL for "
        "id), or retry is negative.";
    sub.def("encode", &encode_event, py::arg("data") = py::none(), py::arg("event") = py::none(),
            py::arg("id") = py::none(), py::arg("retry") = py::none(), py::arg("comment") = py::none(), encode_doc);
    // fasterapi.sse calls _core.encode_sse(data, event, id, retry, comment).
    m.def("encode_sse", &encode_event, py::arg("data") = py::none(), py::arg("event") = py::none(),
          py::arg("id") = py::none(), py::arg("retry") = py::none(), py::arg("comment") = py::none(), encode_doc);
    sub.def(
        "encode_comment",
        [](std::string_view text) {
            std::string out;
            sse::encode_comment(text, out);
            return py::bytes(out);
        },
        py::arg("text"), "':' comment lines, one per line of text (no blank line after).");
    sub.def("keepalive", []() { return py::bytes(sse::kKeepAlive.data(), sse::kKeepAlive.size()); },
            "b': keep-alive\\n\\n'");

    py::class_<sse::ReplayBuffer>(sub, "ReplayBuffer",
                                  "Bounded (events and bytes) history of encoded events by id, for Last-Event-ID.")
        .def(py::init<size_t, size_t>(), py::arg("max_events"), py::arg("max_bytes") = size_t{4} << 20)
        .def(
            "append", [](sse::ReplayBuffer& self, std::string_view id, std::string_view encoded) { self.append(id, encoded); },
            py::arg("id"), py::arg("encoded"))
        .def(
            "events_after",
            [](const sse::ReplayBuffer& self, std::string_view last_id) -> py::object {
                std::string out;
                if (!self.events_after(last_id, out)) return py::none();
                return py::bytes(out);
            },
            py::arg("last_id"), "Concatenated events after last_id; None if last_id is unknown or evicted.")
        .def(
            "after",
            [](const sse::ReplayBuffer& self, std::string_view last_id) -> py::object {
                py::list out;
                if (!self.for_each_after(last_id, [&](std::string_view b) { out.append(py::bytes(b.data(), b.size())); }))
                    return py::none();
                return out;
            },
            py::arg("last_id"), "Events after last_id as a list; None if last_id is unknown or evicted.")
        .def(
            "all",
            [](const sse::ReplayBuffer& self) {
                std::string out;
                self.all_events(out);
                return py::bytes(out);
            },
            "Every stored event, oldest first.")
        .def("clear", &sse::ReplayBuffer::clear)
        .def("__len__", &sse::ReplayBuffer::size)
        .def("__contains__", &sse::ReplayBuffer::contains)
        .def_property_readonly("evicted", &sse::ReplayBuffer::evicted)
        .def_property_readonly("bytes", &sse::ReplayBuffer::bytes)
        .def_property_readonly("max_events", &sse::ReplayBuffer::max_events)
        .def_property_readonly("max_bytes", &sse::ReplayBuffer::max_bytes);
}
