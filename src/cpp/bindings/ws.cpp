// fasterapi._core.ws: the WebSocket frame core (parser, builder, masking, UTF-8,
// close codes) for Python tests and tools. The server uses the C++ API directly.
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bindings/registry.h"
#include "ws/builder.h"
#include "ws/close_codes.h"
#include "ws/deflate.h"
#include "ws/mask.h"
#include "ws/receiver.h"
#include "ws/utf8.h"

namespace py = pybind11;
using namespace fasterapi::ws;

namespace {

// Bytes of any object with the buffer protocol (bytes, bytearray, memoryview).
std::string_view view(const py::buffer& b, py::buffer_info& info) {
    info = b.request();
    if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize)) {
        throw py::value_error("expected a contiguous bytes-like object");
    }
    return {static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize)};
}

py::bytes to_bytes(std::string_view s) { return py::bytes(s.data(), s.size()); }

Opcode to_opcode(int op) {
    // Reserved values (3-7, 11-15) are allowed so tests can build invalid frames.
    if (op < 0 || op > 15) throw py::value_error("opcode must be in 0..15");
    return static_cast<Opcode>(op);
}

// Collects Receiver callbacks as tuples (wsproto-like small immutable events).
struct EventList {
    py::list events;
    void on_message(Opcode op, std::string_view p) {
        events.append(py::make_tuple("message", static_cast<int>(op), to_bytes(p)));
    }
    void on_ping(std::string_view p) { events.append(py::make_tuple("ping", to_bytes(p))); }
    void on_pong(std::string_view p) { events.append(py::make_tuple("pong", to_bytes(p))); }
    void on_close(uint16_t code, std::string_view reason) {
        events.append(py::make_tuple("close", code, to_bytes(reason)));
    }
    void on_error(uint16_t code, const char* reason) { events.append(py::make_tuple("error", code, py::str(reason))); }
};

class FrameParser {
public:
    FrameParser(size_t max_message_size, bool require_mask, bool deflate, int window_bits, bool no_context_takeover)
        : rx_(ReceiverConfig{max_message_size, require_mask}) {
        if (deflate) {
            if (window_bits < 8 || window_bits > 15) throw py::value_error("window_bits must be in 8..15");
            inflater_ = std::make_unique<Inflater>(window_bits, no_context_takeover);
            rx_.set_inflater(inflater_.get());
        }
    }

    py::list feed(const py::buffer& data) {
        py::buffer_info info;
        const std::string_view in = view(data, info);
        buf_.assign(in);  // the receiver unmasks in place: never in the caller's object
        EventList ev;
        consumed_ += rx_.feed(reinterpret_cast<uint8_t*>(buf_.data()), buf_.size(), ev);
        return ev.events;
    }

    bool failed() const { return rx_.failed(); }
    bool closed() const { return rx_.closed(); }
    size_t consumed() const { return consumed_; }

private:
    Receiver<EventList> rx_;
    std::unique_ptr<Inflater> inflater_;
    std::string buf_;
    size_t consumed_ = 0;
};

}  // namespace

FASTERAPI_BIND(ws) {
    auto sub = m.def_submodule("ws", "WebSocket frame core (RFC 6455): parser, builder, masking, UTF-8, close codes");

    sub.attr("CONTINUATION") = 0;
    sub.attr("TEXT") = 1;
    sub.attr("BINARY") = 2;
    sub.attr("CLOSE") = 8;
    sub.attr("PING") = 9;
    sub.attr("PONG") = 10;

    py::class_<FrameParser>(sub, "FrameParser",
                            "Incremental server-side (require_mask=True) or client-side frame parser. feed() returns "
                            "events: ('message', opcode, bytes), ('ping', bytes), ('pong', bytes), "
                            "('close', code, reason_bytes) and ('error', close_code, reason).")
        .def(py::init<size_t, bool, bool, int, bool>(), py::arg("max_message_size") = size_t{16} << 20,
             py::arg("require_mask") = true, py::arg("deflate") = false, py::arg("window_bits") = 15,
             py::arg("no_context_takeover") = false)
        .def("feed", &FrameParser::feed, py::arg("data"),
             "Parses the next bytes (any split); returns the events they complete.")
        .def_property_readonly("failed", &FrameParser::failed)
        .def_property_readonly("closed", &FrameParser::closed)
        .def_property_readonly("consumed", &FrameParser::consumed, "Total bytes consumed so far.");

    sub.def(
        "build_frame",
        [](int opcode, const py::buffer& payload, bool fin, bool rsv1, bool masked) {
            py::buffer_info info;
            const std::string_view p = view(payload, info);
            std::string out;
            if (masked) {
                append_client_frame(out, to_opcode(opcode), p, fin, rsv1);
            } else {
                append_frame(out, to_opcode(opcode), p, fin, rsv1);
            }
            return to_bytes(out);
        },
        py::arg("opcode"), py::arg("payload"), py::arg("fin") = true, py::arg("rsv1") = false,
        py::arg("masked") = false, "One frame; masked=True uses a fresh key from the OS CSPRNG.");
    sub.def(
        "build_message",
        [](int opcode, const py::buffer& payload, size_t fragment_size, bool masked, bool rsv1) {
            py::buffer_info info;
            const std::string_view p = view(payload, info);
            std::string out;
            append_message(out, to_opcode(opcode), p, fragment_size, rsv1, masked);
            return to_bytes(out);
        },
        py::arg("opcode"), py::arg("payload"), py::arg("fragment_size") = 0, py::arg("masked") = false,
        py::arg("rsv1") = false, "A message split into frames of at most fragment_size payload bytes (0 = one frame).");
    sub.def(
        "build_close",
        [](int code, const std::string& reason, bool masked) {
            if (code < 0 || code > 65535) throw py::value_error("close code must be in 0..65535");
            std::string out;
            append_close(out, static_cast<uint16_t>(code), reason, masked);
            return to_bytes(out);
        },
        py::arg("code"), py::arg("reason") = "", py::arg("masked") = false,
        "Close frame; the UTF-8 reason is cut to 123 bytes on a code point boundary; code 1005 = empty frame.");
    sub.def(
        "unmask",
        [](const py::buffer& data, const py::buffer& key, size_t phase) {
            py::buffer_info di, ki;
            const std::string_view d = view(data, di);
            const std::string_view k = view(key, ki);
            if (k.size() != 4) throw py::value_error("key must be 4 bytes");
            std::string out(d);
            unmask(reinterpret_cast<uint8_t*>(out.data()), out.size(), reinterpret_cast<const uint8_t*>(k.data()),
                   phase);
            return to_bytes(out);
        },
        py::arg("data"), py::arg("key"), py::arg("phase") = 0,
        "XOR with the 4-byte key; phase = offset of data[0] within the payload.");
    sub.def(
        "utf8_valid",
        [](const py::buffer& data) {
            py::buffer_info info;
            const std::string_view d = view(data, info);
            return utf8_valid(reinterpret_cast<const uint8_t*>(d.data()), d.size());
        },
        py::arg("data"));
    sub.def(
        "is_valid_close_code",
        [](long code) { return code >= 0 && code <= 65535 && is_valid_close_code_on_wire(static_cast<uint16_t>(code)); },
        py::arg("code"), "May this code appear in a Close frame on the wire (RFC 6455 7.4)?");
}
