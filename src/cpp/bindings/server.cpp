// fasterapi._core.Server: the native server driven from asyncio. Callbacks into
// Python go through the raw vectorcall API (one call per request / message /
// close), the hot path the whole framework is measured on.
#include <pybind11/stl.h>

#include <string>

#include "bindings/registry.h"
#include "bindings/ws_send.h"
#include "net/server.h"

namespace py = pybind11;
using fasterapi::net::HeaderList;
using fasterapi::net::Server;
using fasterapi::net::ServerConfig;

namespace {

// Owned reference helper (pybind11's object would add refcount traffic we don't need here).
struct Ref {
    PyObject* p;
    explicit Ref(PyObject* o) : p(o) {}
    ~Ref() { Py_XDECREF(p); }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
};

std::string_view as_view(PyObject* o, bool& text) {
    if (PyUnicode_Check(o)) {
        Py_ssize_t n = 0;
        const char* s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) throw py::error_already_set();
        text = true;
        return {s, static_cast<size_t>(n)};
    }
    if (PyBytes_Check(o)) {
        text = false;
        return {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
    }
    if (PyByteArray_Check(o)) {
        text = false;
        return {PyByteArray_AS_STRING(o), static_cast<size_t>(PyByteArray_GET_SIZE(o))};
    }
    throw py::type_error("expected str (text) or bytes/bytearray (binary), got " +
                         std::string(Py_TYPE(o)->tp_name));
}

// Header field values are ISO-8859-1 on the wire (RFC 9110 5.5), the same charset the
// request side decodes with, so a value round-trips. A str that is not Latin-1 is refused
// with the header's name rather than sent as UTF-8 (mojibake in every client).
std::string header_text(PyObject* o, const char* what, std::string_view name) {
    if (PyBytes_Check(o)) return {PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o))};
    if (!PyUnicode_Check(o))
        throw py::type_error(std::string("response header ") + what + " must be str or bytes, got " +
                             Py_TYPE(o)->tp_name);
    if (PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND)  // every code point < 256: the bytes are Latin-1
        return {reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(o)), static_cast<size_t>(PyUnicode_GET_LENGTH(o))};
    std::string shown = name.empty() ? "" : " '" + std::string(name) + "'";
    py::str repr = py::repr(o);
    throw py::value_error(std::string("response header") + shown + " " + what + " " + std::string(repr) +
                          " is not ISO-8859-1 (Latin-1) text, which is all a header field can carry "
                          "(RFC 9110 5.5); percent-encode it or use RFC 8187 encoding");
}

HeaderList to_headers(const py::object& obj) {
    HeaderList out;
    if (obj.is_none()) return out;
    for (auto item : obj) {
        PyObject* t = item.ptr();
        if (!(PyTuple_Check(t) || PyList_Check(t)) || PySequence_Fast_GET_SIZE(t) != 2)
            throw py::value_error("headers must be (name, value) pairs");
        std::string name = header_text(PySequence_Fast_GET_ITEM(t, 0), "name", {});
        std::string value = header_text(PySequence_Fast_GET_ITEM(t, 1), "value", name);
        out.emplace_back(std::move(name), std::move(value));
    }
    return out;
}

fasterapi::net::TlsConfig tls_config(const std::string& certfile, const std::string& keyfile,
                                     const std::string& password, const std::string& ca_certs,
                                     const std::string& ciphers, int cert_reqs, const py::bytes& ticket_key) {
    fasterapi::net::TlsConfig t;
    t.certfile = certfile;
    t.keyfile = keyfile;
    t.password = password;
    t.ca_certs = ca_certs;
    t.ciphers = ciphers;
    t.cert_reqs = cert_reqs;
    t.ticket_key = ticket_key;
    if (!t.enabled() && (!keyfile.empty() || !ca_certs.empty() || cert_reqs != 0))
        throw py::value_error("TLS options need ssl_certfile (the server certificate chain)");
    return t;
}

class PyServer : public fasterapi::net::Callbacks {
   public:
    PyServer(py::object on_request, py::object on_ws_message, py::object on_close, py::object on_drain,
             ServerConfig cfg)
        : on_request_(std::move(on_request)),
          on_ws_message_(std::move(on_ws_message)),
          on_close_(std::move(on_close)),
          on_drain_(std::move(on_drain)),
          server(std::move(cfg), this) {}

    void on_request(uint64_t conn, const fasterapi::http::Request& req, std::string_view body,
                    std::string_view peer) override {
        PyObject* headers = PyList_New(static_cast<Py_ssize_t>(req.num_headers));
        if (!headers) return report();
        for (size_t i = 0; i < req.num_headers; ++i) {
            // Field values are ISO-8859-1 (obs-text; RFC 9110 5.5), never UTF-8-if-it-decodes:
            // responses encode with the same charset, so a value round-trips byte for byte.
            const auto& h = req.headers[i];
            PyObject* n = PyUnicode_DecodeLatin1(h.name.data(), static_cast<Py_ssize_t>(h.name.size()), nullptr);
            PyObject* v = PyUnicode_DecodeLatin1(h.value.data(), static_cast<Py_ssize_t>(h.value.size()), nullptr);
            PyObject* pair = n && v ? PyTuple_Pack(2, n, v) : nullptr;
            Py_XDECREF(n);
            Py_XDECREF(v);
            if (!pair) {
                Py_DECREF(headers);
                return report();
            }
            PyList_SET_ITEM(headers, static_cast<Py_ssize_t>(i), pair);
        }
        Ref args[] = {
            Ref(PyLong_FromUnsignedLongLong(conn)),
            Ref(PyUnicode_DecodeLatin1(req.method.data(), static_cast<Py_ssize_t>(req.method.size()), nullptr)),
            Ref(PyUnicode_DecodeLatin1(req.path.data(), static_cast<Py_ssize_t>(req.path.size()), nullptr)),
            Ref(PyUnicode_DecodeLatin1(req.query.data(), static_cast<Py_ssize_t>(req.query.size()), nullptr)),
            Ref(headers),
            Ref(PyBytes_FromStringAndSize(body.data(), static_cast<Py_ssize_t>(body.size()))),
            Ref(PyUnicode_FromStringAndSize(peer.data(), static_cast<Py_ssize_t>(peer.size()))),
            Ref(PyBool_FromLong(req.upgrade_websocket)),
            Ref(PyLong_FromLong(req.version_minor)),
        };
        PyObject* argv[9];
        for (int i = 0; i < 9; ++i) {
            if (!args[i].p) return report();
            argv[i] = args[i].p;
        }
        call(on_request_.ptr(), argv, 9);
    }

    void on_ws_message(uint64_t conn, bool text, std::string_view payload) override {
        Ref id(PyLong_FromUnsignedLongLong(conn));
        // Text was validated as UTF-8 natively; decoding cannot fail.
        Ref data(text ? PyUnicode_DecodeUTF8(payload.data(), static_cast<Py_ssize_t>(payload.size()), nullptr)
                      : PyBytes_FromStringAndSize(payload.data(), static_cast<Py_ssize_t>(payload.size())));
        if (!id.p || !data.p) return report();
        PyObject* argv[2] = {id.p, data.p};
        call(on_ws_message_.ptr(), argv, 2);
    }

    void on_close(uint64_t conn, uint16_t code, std::string_view reason) override {
        Ref id(PyLong_FromUnsignedLongLong(conn));
        Ref c(PyLong_FromLong(code));
        Ref r(PyUnicode_DecodeUTF8(reason.data(), static_cast<Py_ssize_t>(reason.size()), "replace"));
        if (!id.p || !c.p || !r.p) return report();
        PyObject* argv[3] = {id.p, c.p, r.p};
        call(on_close_.ptr(), argv, 3);
    }

    void on_drain(uint64_t conn) override {
        Ref id(PyLong_FromUnsignedLongLong(conn));
        if (!id.p) return report();
        PyObject* argv[1] = {id.p};
        call(on_drain_.ptr(), argv, 1);
    }

    py::object on_request_, on_ws_message_, on_close_, on_drain_;
    Server server;

   private:
    static void call(PyObject* fn, PyObject* const* argv, size_t n) {
        PyObject* r = PyObject_Vectorcall(fn, argv, n, nullptr);
        if (!r) return report();
        Py_DECREF(r);
    }
    // A callback must never unwind through the C++ server: report and go on.
    static void report() { PyErr_WriteUnraisable(nullptr); }
};

PyTypeObject* g_server_type = nullptr;  // fasterapi._core.Server, set when the class is bound

// The PyServer inside an initialised fasterapi._core.Server instance of exactly that type, else
// nullptr (a plain pybind11 instance keeps its value pointer inline: no type-map lookup).
PyServer* native_server(PyObject* o) {
    if (!g_server_type || Py_TYPE(o) != g_server_type) return nullptr;
    return static_cast<PyServer*>(reinterpret_cast<py::detail::instance*>(o)->get_value_and_holder().value_ptr());
}

PyServer* server_of(PyObject* o) {
    PyServer* s = native_server(o);
    return s ? s : py::cast<PyServer*>(py::handle(o));  // raises for an uninitialised or foreign object
}

long long send_on(PyServer* s, uint64_t conn, PyObject* data) {
    try {
        bool text = false;
        std::string_view v = as_view(data, text);
        return s->server.ws_send(conn, v, text);
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (py::builtin_exception& e) {  // as_view's TypeError
        e.set_error();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    return -2;
}

// Server.ws_send(conn, data): every message either handler style sends goes through here, so
// it is a plain METH_FASTCALL method rather than a pybind11 one. pybind11's dispatcher costs
// ~450 instructions a call and its methods make a bound method on every attribute access;
// a method descriptor is called unbound (LOAD_METHOD) with the arguments as they are.
PyObject* ws_send(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "ws_send(conn, data) takes 2 arguments (%zd given)", nargs);
        return nullptr;
    }
    uint64_t conn = PyLong_AsUnsignedLongLong(args[0]);
    if (conn == static_cast<uint64_t>(-1) && PyErr_Occurred()) return nullptr;
    PyServer* s = nullptr;
    try {
        s = server_of(self);
    } catch (py::error_already_set& e) {
        e.restore();
        return nullptr;
    } catch (py::cast_error& e) {
        PyErr_SetString(PyExc_TypeError, e.what());
        return nullptr;
    }
    long long n = send_on(s, conn, args[1]);
    return n == -2 ? nullptr : PyLong_FromLongLong(n);
}

PyMethodDef g_ws_send_def = {
    "ws_send", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(ws_send)), METH_FASTCALL,
    "ws_send($self, conn, data, /)\n--\n\nSend str as a text message or bytes as binary; returns bytes still "
    "buffered, -1 if closed. TypeError for any other type."};

}  // namespace

bool fasterapi::bindings::server_ws_send(PyObject* srv, PyObject* conn, PyObject* data, long long& buffered,
                                         size_t& high_water) {
    PyServer* s = native_server(srv);
    if (!s || !PyLong_CheckExact(conn)) return false;  // the generic path (and its errors)
    uint64_t id = PyLong_AsUnsignedLongLong(conn);
    buffered = id == static_cast<uint64_t>(-1) && PyErr_Occurred() ? -2 : send_on(s, id, data);
    high_water = s->server.send_high_water();
    return true;
}

FASTERAPI_BIND_ORDERED(server, 200) {
    m.def(
        "check_tls",
        [](const std::string& certfile, const std::string& keyfile, const std::string& password,
           const std::string& ca_certs, const std::string& ciphers, int cert_reqs) {
            fasterapi::net::TlsContext ctx(
                tls_config(certfile, keyfile, password, ca_certs, ciphers, cert_reqs, py::bytes()));
        },
        py::arg("ssl_certfile"), py::arg("ssl_keyfile") = "", py::arg("ssl_keyfile_password") = "",
        py::arg("ssl_ca_certs") = "", py::arg("ssl_ciphers") = "", py::arg("ssl_cert_reqs") = 0,
        "Load and check TLS files as the server will; ValueError naming the file or option at fault.");
    using fasterapi::net::SlowPolicy;
    using fasterapi::net::SseRouteOptions;
    using fasterapi::net::WsRouteOptions;

    py::class_<PyServer> cls(m, "Server",
                             "Native HTTP/1.1 + WebSocket + SSE server (drive poll() when fileno() is readable)");
    cls.def(py::init([](py::object on_request, py::object on_ws_message, py::object on_close,
                         py::object on_drain, const std::string& host, int port, int backlog, bool reuse_port,
                         size_t max_connections, size_t max_request_line, size_t max_header_bytes,
                         size_t max_headers, uint64_t max_body_size, double request_timeout,
                         double keepalive_timeout, size_t send_high_water, size_t send_low_water,
                         size_t max_send_buffer, double close_timeout, const std::string& ssl_certfile,
                         const std::string& ssl_keyfile, const std::string& ssl_keyfile_password,
                         const std::string& ssl_ca_certs, const std::string& ssl_ciphers, int ssl_cert_reqs,
                         const py::bytes& ssl_ticket_key, int fd) {
                 if (port < 0 || port > 65535) throw py::value_error("port must be in 0..65535");
                 if (send_low_water > send_high_water)
                     throw py::value_error("send_low_water must not exceed send_high_water");
                 ServerConfig cfg;
                 cfg.host = host;
                 cfg.port = port;
                 cfg.backlog = backlog;
                 cfg.reuse_port = reuse_port;
                 cfg.max_connections = max_connections;
                 cfg.http_limits.max_request_line = max_request_line;
                 cfg.http_limits.max_header_bytes = max_header_bytes;
                 cfg.http_limits.max_headers = max_headers;
                 cfg.http_limits.max_body_size = max_body_size;
                 cfg.request_timeout_ms = static_cast<uint32_t>(request_timeout * 1000);
                 cfg.keepalive_timeout_ms = static_cast<uint32_t>(keepalive_timeout * 1000);
                 cfg.send_high_water = send_high_water;
                 cfg.send_low_water = send_low_water;
                 cfg.max_send_buffer = max_send_buffer;
                 cfg.close_timeout_ms = static_cast<uint32_t>(close_timeout * 1000);
                 cfg.tls = tls_config(ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs, ssl_ciphers,
                                      ssl_cert_reqs, ssl_ticket_key);
                 cfg.fd = fd;
                 return new PyServer(std::move(on_request), std::move(on_ws_message), std::move(on_close),
                                     std::move(on_drain), std::move(cfg));
             }),
             py::arg("on_request"), py::arg("on_ws_message"), py::arg("on_close"), py::arg("on_drain"),
             py::kw_only(), py::arg("host") = "127.0.0.1", py::arg("port") = 8000, py::arg("backlog") = 1024,
             py::arg("reuse_port") = false, py::arg("max_connections") = 10000,
             py::arg("max_request_line") = 8192, py::arg("max_header_bytes") = 16384,
             py::arg("max_headers") = 100, py::arg("max_body_size") = 1u << 20,
             py::arg("request_timeout") = 10.0, py::arg("keepalive_timeout") = 5.0,
             py::arg("send_high_water") = 1u << 20, py::arg("send_low_water") = 256u << 10,
             py::arg("max_send_buffer") = 64u << 20, py::arg("close_timeout") = 3.0,
             py::arg("ssl_certfile") = "", py::arg("ssl_keyfile") = "", py::arg("ssl_keyfile_password") = "",
             py::arg("ssl_ca_certs") = "", py::arg("ssl_ciphers") = "", py::arg("ssl_cert_reqs") = 0,
             py::arg("ssl_ticket_key") = py::bytes(), py::arg("fd") = -1)
        .def("listen", [](PyServer& s) { s.server.listen(); return s.server.listen_port(); },
             "Load the TLS files (ValueError naming the file), then bind and listen (or adopt fd); "
             "returns the bound port (0 for a Unix socket).")
        .def(
            "reload_tls",
            [](PyServer& s, const std::string& certfile, const std::string& keyfile, const std::string& password,
               const std::string& ca_certs, const std::string& ciphers, int cert_reqs, const py::bytes& ticket_key) {
                s.server.reload_tls(tls_config(certfile, keyfile, password, ca_certs, ciphers, cert_reqs, ticket_key));
            },
            py::arg("ssl_certfile"), py::arg("ssl_keyfile") = "", py::arg("ssl_keyfile_password") = "",
            py::arg("ssl_ca_certs") = "", py::arg("ssl_ciphers") = "", py::arg("ssl_cert_reqs") = 0,
            py::arg("ssl_ticket_key") = py::bytes(),
            "Load the TLS files again (certificate renewal, no restart): connections accepted from now on use "
            "them, open ones keep theirs. ValueError naming the file at fault (the previous files keep "
            "serving); RuntimeError if this server does not serve TLS.")
        .def_property_readonly("tls", [](PyServer& s) { return s.server.tls(); },
                               "True once listen() has set up TLS (https/wss).")
        .def("fileno", [](PyServer& s) { return s.server.fd(); })
        .def("poll", [](PyServer& s) { s.server.poll(); }, "Service every ready socket and timer; never blocks.")
        .def("add_ws_route",
             [](PyServer& s, size_t max_message_size, bool compression, std::vector<std::string> subprotocols,
                std::vector<std::string> allowed_origins, double ping_interval, double pong_timeout,
                double idle_timeout, size_t fragment_size, const std::string& slow_policy, size_t max_backlog,
                int window_bits, int client_window_bits, int mem_level, int compression_level,
                bool no_context_takeover, bool client_no_context_takeover, size_t compress_min_size) {
                 WsRouteOptions o;
                 if (slow_policy != "close" && slow_policy != "drop")
                     throw py::value_error("slow_policy must be 'close' or 'drop', got '" + slow_policy + "'");
                 if (window_bits < 9 || window_bits > 15 || client_window_bits < 8 || client_window_bits > 15)
                     throw py::value_error("window bits must be 9..15 (server) and 8..15 (client)");
                 if (mem_level < 1 || mem_level > 9) throw py::value_error("mem_level must be 1..9");
                 o.max_message_size = max_message_size;
                 o.compression = compression;
                 o.deflate.enabled = compression;
                 o.deflate.server_max_window_bits = window_bits;
                 o.deflate.client_max_window_bits = client_window_bits;
                 o.deflate.mem_level = mem_level;
                 o.deflate.compression_level = compression_level;
                 o.deflate.server_no_context_takeover = no_context_takeover;
                 o.deflate.client_no_context_takeover = client_no_context_takeover;
                 o.deflate.min_size = compress_min_size;
                 o.subprotocols = std::move(subprotocols);
                 o.allowed_origins = std::move(allowed_origins);
                 o.ping_interval_ms = static_cast<uint32_t>(ping_interval * 1000);
                 o.pong_timeout_ms = static_cast<uint32_t>(pong_timeout * 1000);
                 o.idle_timeout_ms = static_cast<uint32_t>(idle_timeout * 1000);
                 o.fragment_size = fragment_size;
                 o.slow_policy = slow_policy == "drop" ? SlowPolicy::Drop : SlowPolicy::Close;
                 o.max_backlog = max_backlog;
                 return s.server.add_ws_route(std::move(o));
             },
             py::kw_only(), py::arg("max_message_size") = 16u << 20, py::arg("compression") = false,
             py::arg("subprotocols") = std::vector<std::string>{},
             py::arg("allowed_origins") = std::vector<std::string>{}, py::arg("ping_interval") = 20.0,
             py::arg("pong_timeout") = 20.0, py::arg("idle_timeout") = 0.0, py::arg("fragment_size") = 0,
             py::arg("slow_policy") = "close", py::arg("max_backlog") = 4u << 20, py::arg("window_bits") = 15,
             py::arg("client_window_bits") = 15, py::arg("mem_level") = 8, py::arg("compression_level") = 1,
             py::arg("no_context_takeover") = false, py::arg("client_no_context_takeover") = false,
             py::arg("compress_min_size") = 0)
        .def("add_sse_route",
             [](PyServer& s, double ping_interval, const std::string& slow_policy, size_t max_backlog) {
                 if (slow_policy != "close" && slow_policy != "drop")
                     throw py::value_error("slow_policy must be 'close' or 'drop', got '" + slow_policy + "'");
                 SseRouteOptions o;
                 o.ping_interval_ms = static_cast<uint32_t>(ping_interval * 1000);
                 o.slow_policy = slow_policy == "drop" ? SlowPolicy::Drop : SlowPolicy::Close;
                 o.max_backlog = max_backlog;
                 return s.server.add_sse_route(o);
             },
             py::kw_only(), py::arg("ping_interval") = 15.0, py::arg("slow_policy") = "drop",
             py::arg("max_backlog") = 4u << 20)
        .def("respond",
             [](PyServer& s, uint64_t conn, int status, const py::object& headers, py::bytes body, bool head_only) {
                 if (status < 100 || status > 999) throw py::value_error("status must be a 3-digit HTTP status");
                 char* p = nullptr;
                 Py_ssize_t n = 0;
                 PyBytes_AsStringAndSize(body.ptr(), &p, &n);
                 return s.server.respond(conn, status, to_headers(headers), {p, static_cast<size_t>(n)}, head_only);
             },
             py::arg("conn"), py::arg("status"), py::arg("headers"), py::arg("body"), py::arg("head_only") = false,
             "Write the response for the pending request. Header str values go out as ISO-8859-1 (bytes as is; "
             "RFC 9110 5.5); ValueError names a header whose value is not Latin-1. HEAD (or head_only) sends the "
             "same fields and no body.")
        .def("ws_prepare",
             [](PyServer& s, uint64_t conn, int route) {
                 auto info = s.server.ws_prepare(conn, route);
                 return py::make_tuple(info.status, info.reason, info.subprotocol, info.offered_subprotocols);
             })
        .def("ws_accept",
             [](PyServer& s, uint64_t conn, const std::string& subprotocol, const py::object& headers) {
                 return s.server.ws_accept(conn, subprotocol, to_headers(headers));
             },
             py::arg("conn"), py::arg("subprotocol") = "", py::arg("headers") = py::none(),
             "101 for the prepared upgrade; headers as for respond() (Latin-1, ValueError otherwise).")
        .def("ws_reject", [](PyServer& s, uint64_t conn, int status, const std::string& reason) {
            return s.server.ws_reject(conn, status, reason);
        })
        .def("ws_close",
             [](PyServer& s, uint64_t conn, int code, const std::string& reason) {
                 return s.server.ws_close(conn, static_cast<uint16_t>(code), reason);
             },
             py::arg("conn"), py::arg("code") = 1000, py::arg("reason") = "")
        .def("ws_finish_fail", [](PyServer& s, uint64_t conn) { return s.server.ws_finish_fail(conn); },
             "Send the close frame held back after a protocol error (see on_close).")
        .def("ws_ping", [](PyServer& s, uint64_t conn, py::bytes payload) {
            return s.server.ws_ping(conn, std::string(payload));
        })
        .def("sse_start",
             [](PyServer& s, uint64_t conn, int route, const py::object& headers) {
                 return s.server.sse_start(conn, route, to_headers(headers));
             },
             py::arg("conn"), py::arg("route"), py::arg("headers") = py::none(),
             "Start the event stream (headers as for respond()); for a HEAD request, write GET's header fields "
             "and no body, and the exchange is complete (RFC 9110 9.3.2).")
        .def("sse_send_raw",
             [](PyServer& s, uint64_t conn, py::bytes encoded) {
                 char* p = nullptr;
                 Py_ssize_t n = 0;
                 PyBytes_AsStringAndSize(encoded.ptr(), &p, &n);
                 return s.server.sse_send_raw(conn, {p, static_cast<size_t>(n)});
             })
        .def("sse_end", [](PyServer& s, uint64_t conn) { return s.server.sse_end(conn); })
        .def("subscribe", [](PyServer& s, uint64_t conn, const std::string& t) { return s.server.subscribe(conn, t); })
        .def("unsubscribe",
             [](PyServer& s, uint64_t conn, const std::string& t) { return s.server.unsubscribe(conn, t); })
        .def("publish",
             [](PyServer& s, const std::string& topic, py::handle data, py::object sse_encoded) {
                 bool text = false;
                 std::string_view v = as_view(data.ptr(), text);
                 std::string sse;
                 if (!sse_encoded.is_none()) sse = sse_encoded.cast<std::string>();
                 return s.server.publish(topic, v, text, sse);
             },
             py::arg("topic"), py::arg("data"), py::arg("sse_encoded") = py::none(),
             "Fan a message out to every subscriber natively (frame built once); returns deliveries.")
        .def("subscribers", [](PyServer& s, const std::string& t) { return s.server.subscribers(t); })
        .def("track_topic_changes", [](PyServer& s, bool on) { s.server.track_topic_changes(on); },
             "Record topics whose local subscriber set becomes non-empty or empty (off by default).")
        .def("topics_changed", [](PyServer& s) { return s.server.topics_changed(); })
        .def("take_topic_changes", [](PyServer& s) { return s.server.take_topic_changes(); },
             "Topics changed since the last take (deduplicated); check subscribers() for the new state.")
        .def("buffered", [](PyServer& s, uint64_t conn) { return s.server.buffered(conn); })
        .def("alive", [](PyServer& s, uint64_t conn) { return s.server.alive(conn); })
        .def("close_connection", [](PyServer& s, uint64_t conn) { s.server.close_connection(conn); })
        .def("begin_shutdown", [](PyServer& s) { s.server.begin_shutdown(); })
        .def("connection_count", [](PyServer& s) { return s.server.connection_count(); })
        .def("stats", [](PyServer& s) {
            const auto& st = s.server.stats();
            py::dict d;
            d["accepted"] = st.accepted;
            d["refused_full"] = st.refused_full;
            d["closed"] = st.closed;
            d["requests"] = st.requests;
            d["ws_messages_in"] = st.ws_messages_in;
            d["ws_messages_out"] = st.ws_messages_out;
            d["protocol_errors"] = st.protocol_errors;
            d["timeouts"] = st.timeouts;
            d["slow_dropped"] = st.slow_dropped;
            d["slow_closed"] = st.slow_closed;
            d["send_overflow"] = st.send_overflow;
            d["http_errors"] = st.http_errors;
            d["tls_errors"] = st.tls_errors;
            d["tls_reloads"] = st.tls_reloads;
            d["tls_reload_failures"] = st.tls_reload_failures;
            d["shared_compressions"] = st.shared_compressions;
            d["connections"] = s.server.connection_count();
            d["tls_buffers_held"] = s.server.tls_buffers_held();
            return d;
        });
    py::object send(py::reinterpret_steal<py::object>(
        PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), &g_ws_send_def)));
    if (!send) throw py::error_already_set();
    cls.attr("ws_send") = send;
    g_server_type = reinterpret_cast<PyTypeObject*>(cls.ptr());

}
