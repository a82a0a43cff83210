// The load generator's engine: options, one epoll loop per thread, the five
// modes, and the JSON report. Protocol parsing lives in loadgen_proto.h.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tools/lib/loadgen.h"
#include "tools/lib/loadgen_histogram.h"
#include "tools/lib/loadgen_proto.h"
#include "tools/lib/loadgen_tls.h"

namespace fasterapi::loadgen {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr size_t kReadBuf = 256 * 1024;
constexpr size_t kInflateBuf = 64 * 1024;
constexpr size_t kPlainBuf = 64 * 1024;  // TLS: decrypted bytes of one record (at most 16 KiB) at a time
constexpr size_t kMaxPendingOut = 16 * 1024 * 1024;  // per connection, open-loop sends beyond this are dropped
constexpr size_t kMaxHandshakes = 256;               // concurrent connects per thread (listen backlogs are short)
constexpr size_t kMaxNotes = 8;
constexpr int64_t kMaxWait = 100'000'000;  // bound on one epoll wait, so a stop request is seen quickly

std::atomic<bool> g_stop{false};

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * kSecond + ts.tv_nsec;
}

// ---- options -------------------------------------------------------------------

enum class Mode { WsEcho, WsRate, WsBroadcast, Sse, Http, Connect };

struct Options {
    Mode mode = Mode::WsEcho;
    std::string mode_name;
    std::string url;
    int connections = 1;
    int inflight = 1;
    size_t size = 32;
    bool binary = false;
    bool compress = false;
    double duration = 10;
    double warmup = 1;
    double rate = 0;
    int pipeline = 1;
    int threads = 1;
    double connect_timeout = 10;
    bool quiet = false;
    bool progress = false;
    std::string json_out;
    std::string verify_ca;  // --verify: PEM bundle the server certificate must chain to
    bool resume = false;    // --resume: offer the last session ticket on each new connection
    // From the URL:
    bool tls = false;
    bool ws = false;  // ws:// or wss:// (connect mode: upgrade; otherwise one GET)
    std::string host, port, path;
};

double parse_number(const std::string& flag, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    errno = 0;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || errno || !(x >= lo && x <= hi))
        throw UsageError(flag + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "], got '" + v + "'");
    return x;
}
int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
    double x = parse_number(flag, v, lo, hi);
    if (x != std::floor(x)) throw UsageError(flag + ": expected an integer, got '" + v + "'");
    return static_cast<int>(x);
}

void parse_url(Options& o) {
    std::string_view u = o.url;
    std::string_view scheme;
    size_t p = u.find("://");
    if (p == std::string_view::npos) throw UsageError("--url: expected scheme://host[:port]/path, got '" + o.url + "'");
    scheme = u.substr(0, p);
    u.remove_prefix(p + 3);
    bool ws_mode = o.mode == Mode::WsEcho || o.mode == Mode::WsRate || o.mode == Mode::WsBroadcast;
    o.tls = scheme == "wss" || scheme == "https";
    o.ws = scheme == "ws" || scheme == "wss";
    bool ok = o.mode == Mode::Connect ? (o.ws || scheme == "http" || scheme == "https") : ws_mode == o.ws &&
              (o.ws || scheme == "http" || scheme == "https");
    if (!ok)
        throw UsageError("--url: mode " + o.mode_name + " needs a " +
                         (o.mode == Mode::Connect ? "ws://, wss://, http:// or https://"
                          : ws_mode              ? "ws:// or wss://"
                                                 : "http:// or https://") +
                         " URL, got '" + o.url + "'");
    const char* default_port = o.tls ? "443" : "80";
    size_t slash = u.find('/');
    std::string_view hostport = u.substr(0, slash);
    o.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
    if (hostport.empty()) throw UsageError("--url: missing host in '" + o.url + "'");
    if (hostport.front() == '[') {  // [v6]:port
        size_t close = hostport.find(']');
        if (close == std::string_view::npos) throw UsageError("--url: bad IPv6 literal in '" + o.url + "'");
        o.host = std::string(hostport.substr(1, close - 1));
        std::string_view rest = hostport.substr(close + 1);
        o.port = rest.size() > 1 && rest[0] == ':' ? std::string(rest.substr(1)) : default_port;
    } else {
        size_t colon = hostport.rfind(':');
        o.host = std::string(hostport.substr(0, colon));
        o.port = colon == std::string_view::npos ? default_port : std::string(hostport.substr(colon + 1));
    }
    parse_int("--url port", o.port, 1, 65535);
}

Options parse_options(const std::vector<std::string>& args) {
    Options o;
    if (args.empty()) throw UsageError("missing mode (ws-echo, ws-rate, ws-broadcast, sse, http, connect)");
    o.mode_name = args[0];
    if (o.mode_name == "ws-echo") o.mode = Mode::WsEcho;
    else if (o.mode_name == "ws-rate") o.mode = Mode::WsRate;
    else if (o.mode_name == "ws-broadcast") o.mode = Mode::WsBroadcast;
    else if (o.mode_name == "sse") o.mode = Mode::Sse;
    else if (o.mode_name == "http") o.mode = Mode::Http;
    else if (o.mode_name == "connect") o.mode = Mode::Connect;
    else throw UsageError("unknown mode '" + o.mode_name + "' (ws-echo, ws-rate, ws-broadcast, sse, http, connect)");
    bool have_rate = false;
    for (size_t i = 1; i < args.size(); ++i) {
        std::string flag = args[i];
        std::string value;
        size_t eq = flag.find('=');
        bool inline_value = flag.rfind("--", 0) == 0 && eq != std::string::npos;
        if (inline_value) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        }
        auto take = [&]() -> std::string {
            if (inline_value) return value;
            if (i + 1 >= args.size()) throw UsageError(flag + ": missing value");
            return args[++i];
        };
        if (flag == "--url") o.url = take();
        else if (flag == "--connections" || flag == "-c") o.connections = parse_int(flag, take(), 1, 1'000'000);
        else if (flag == "--inflight") o.inflight = parse_int(flag, take(), 1, 1'000'000);
        else if (flag == "--size") o.size = static_cast<size_t>(parse_number(flag, take(), 0, 1 << 30));
        else if (flag == "--binary") o.binary = true;
        else if (flag == "--compress") o.compress = true;
        else if (flag == "--duration" || flag == "-d") o.duration = parse_number(flag, take(), 0.01, 86400);
        else if (flag == "--warmup") o.warmup = parse_number(flag, take(), 0, 3600);
        else if (flag == "--rate") { o.rate = parse_number(flag, take(), 0.001, 1e9); have_rate = true; }
        else if (flag == "--pipeline") o.pipeline = parse_int(flag, take(), 1, 100'000);
        else if (flag == "--threads" || flag == "-t") o.threads = parse_int(flag, take(), 1, 256);
        else if (flag == "--connect-timeout") o.connect_timeout = parse_number(flag, take(), 0.01, 3600);
        else if (flag == "--quiet" || flag == "-q") o.quiet = true;
        else if (flag == "--progress") o.progress = true;
        else if (flag == "--json-out") o.json_out = take();
        else if (flag == "--verify") o.verify_ca = take();
        else if (flag == "--resume") o.resume = true;
        else throw UsageError("unknown option '" + args[i] + "'");
        if (inline_value && (flag == "--binary" || flag == "--compress" || flag == "--quiet" || flag == "--progress" ||
                             flag == "--resume"))
            throw UsageError(flag + " takes no value");
    }
    if (o.url.empty()) throw UsageError("--url is required");
    if ((o.mode == Mode::WsRate || o.mode == Mode::WsBroadcast) && !have_rate)
        throw UsageError("--rate is required for " + o.mode_name);
    if (o.mode == Mode::WsBroadcast && o.size < 24) o.size = 24;  // room for the timestamp
    if (o.threads > o.connections) o.threads = o.connections;
    parse_url(o);
    if (!o.tls && (o.resume || !o.verify_ca.empty()))
        throw UsageError(std::string(o.resume ? "--resume" : "--verify") + " needs a wss:// or https:// URL");
    return o;
}

// ---- small JSON writer -----------------------------------------------------------

class Json {
public:
    Json& raw(std::string_view s) {
        s_ += s;
        return *this;
    }
    Json& key(std::string_view k) {
        comma();
        quote(k);
        s_ += ':';
        fresh_ = true;
        return *this;
    }
    Json& str(std::string_view v) {
        comma();
        quote(v);
        return *this;
    }
    void quote(std::string_view v) {
        s_ += '"';
        for (unsigned char c : v) {
            if (c == '"' || c == '\\') {
                s_ += '\\';
                s_ += static_cast<char>(c);
            } else if (c < 0x20) {
                char b[8];
                std::snprintf(b, sizeof b, "\\u%04x", c);
                s_ += b;
            } else {
                s_ += static_cast<char>(c);
            }
        }
        s_ += '"';
    }
    Json& num(double v) {
        comma();
        if (!std::isfinite(v)) {
            s_ += "null";
            return *this;
        }
        char b[40];
        if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(b, sizeof b, "%.0f", v);
        else std::snprintf(b, sizeof b, "%.6g", v);
        s_ += b;
        return *this;
    }
    Json& num(uint64_t v) {
        comma();
        s_ += std::to_string(v);
        return *this;
    }
    Json& boolean(bool v) {
        comma();
        s_ += v ? "true" : "false";
        return *this;
    }
    Json& open(char c) {
        comma();
        s_ += c;
        fresh_ = true;
        return *this;
    }
    Json& close(char c) {
        s_ += c;
        fresh_ = false;
        return *this;
    }
    std::string take() { return std::move(s_); }

private:
    void comma() {
        if (!fresh_) s_ += ',';
        fresh_ = false;
    }
    std::string s_;
    bool fresh_ = true;
};

// ---- per-connection state --------------------------------------------------------------

// FIFO of send timestamps; grows only when more are outstanding than ever before.
class TsRing {
public:
    void push(int64_t t) {
        if (n_ == v_.size()) grow();
        v_[(head_ + n_) & (v_.size() - 1)] = t;
        ++n_;
    }
    bool pop(int64_t& t) {
        if (!n_) return false;
        t = v_[head_];
        head_ = (head_ + 1) & (v_.size() - 1);
        --n_;
        return true;
    }
    size_t size() const { return n_; }
    void clear() { head_ = n_ = 0; }

private:
    void grow() {
        std::vector<int64_t> nv(v_.empty() ? 8 : v_.size() * 2);
        for (size_t i = 0; i < n_; ++i) nv[i] = v_[(head_ + i) & (v_.size() - 1)];
        v_.swap(nv);
        head_ = 0;
    }
    std::vector<int64_t> v_;
    size_t head_ = 0, n_ = 0;
};

enum class CState : uint8_t { Pending, Connecting, Handshake, Open, Done };

struct Conn {
    int fd = -1;
    uint32_t index = 0;  // global connection number
    CState st = CState::Pending;
    bool dirty = false;
    bool reread = false;  // on Worker::reread_: more to read after a round of full reads
    bool restart = false;  // on Worker::restart_ (connect mode): open again at the next poll
    bool publisher = false;
    bool deflate = false;  // permessage-deflate negotiated
    int client_wbits = 15;
    std::vector<uint8_t> out;  // plaintext to send (TLS: encrypted onto tls->out by flush)
    size_t out_off = 0;
    std::unique_ptr<TlsStream> tls;
    int64_t t_start = 0;  // when the connect began (connect mode measures from here)
    TsRing ring;
    // WebSocket
    std::string key;
    std::string head;
    ServerFrameParser fp;
    std::unique_ptr<MessageInflater> inflater;
    bool in_msg = false, msg_compressed = false, in_ctrl = false, mismatch = false;
    uint8_t ctrl_op = 0, ctrl_len = 0, prefix_len = 0;
    uint64_t msg_len = 0;
    uint8_t prefix[24] = {};
    uint8_t ctrl[125] = {};
    // HTTP / SSE
    HttpResponseParser hp;
    SseParser sp;
    int status = 0;
    uint64_t body_len = 0;
};

struct Stats {
    Histogram hist;
    uint64_t count = 0, payload_bytes = 0, rx_bytes = 0, tx_bytes = 0, sent = 0;
    uint64_t connected = 0, err_connect = 0, err_closed = 0, err_protocol = 0;
    uint64_t dropped_sends = 0, unexpected = 0, reconnects = 0, bad_timestamps = 0, published = 0;
    bool stopped = false;
    std::map<int, uint64_t> http_status;
    std::vector<uint64_t> timeline;
    double cpu_user = 0, cpu_sys = 0, wall = 0;
    std::vector<std::string> notes;
    std::string negotiated;
    uint64_t tls_full = 0, tls_resumed = 0;  // handshakes (connect mode: in the measured window)
    std::string tls_version;
};

struct Sync;

struct Target {
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    int family = AF_INET;
    std::string host_header;
};

struct Sync {
    struct Done {
        Sync* s;
        void operator()() noexcept { s->t0.store(now_ns(), std::memory_order_release); }
    };
    explicit Sync(int n) : barrier(n, Done{this}) {}
    std::atomic<int64_t> t0{0};
    std::atomic<uint64_t> connected{0};
    std::barrier<Done> barrier;
};

double rusage_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

// ---- one thread's loop -------------------------------------------------------------------

class Worker {
public:
    Worker(const Options& o, const Target& t, Sync& sync, int id, std::vector<uint32_t> conn_ids,
           std::vector<std::unique_ptr<Worker>>* all)
        : o_(o), t_(t), sync_(sync), id_(id), all_(all), rbuf_(kReadBuf), zbuf_(kInflateBuf) {
        conns_.resize(conn_ids.size());
        for (size_t i = 0; i < conn_ids.size(); ++i) {
            conns_[i].index = conn_ids[i];
            conns_[i].publisher = o.mode == Mode::WsBroadcast && conn_ids[i] == 0;
        }
        ws_ = o.ws;
        verify_ = o.mode == Mode::WsEcho || o.mode == Mode::WsRate;
        if (o.tls) {
            tls_ = std::make_unique<TlsClient>(o.host, o.verify_ca, o.resume);
            tbuf_.resize(kPlainBuf);
        }
        make_payload();
        if (o.mode == Mode::WsEcho || o.mode == Mode::WsRate) build_frames(frames_, payload_, false);
        if (!ws_) {
            request_ = "GET " + o.path + " HTTP/1.1\r\nHost: " + t.host_header + "\r\nUser-Agent: fasterapi-loadgen\r\n";
            request_ += o.mode == Mode::Sse ? "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n" : "\r\n";
        }
        stats_.timeline.assign(static_cast<size_t>(std::ceil(o.duration)), 0);
    }
    ~Worker() {
        for (auto& c : conns_)
            if (c.fd >= 0) ::close(c.fd);
        if (ep_ >= 0) ::close(ep_);
    }

    // Never throws: a failure (e.g. out of memory) ends this thread's part of the run with
    // a note, and the barrier is always reached so the other threads are not stranded.
    void run() {
        bool ok = true;
        try {
            ep_ = epoll_create1(EPOLL_CLOEXEC);
            if (ep_ < 0) {
                note(std::string("epoll_create1: ") + std::strerror(errno));
                ok = false;
            } else if (o_.mode != Mode::Connect) {  // connect mode opens its connections while measuring
                connect_phase();
            }
        } catch (const std::exception& e) {
            note(std::string("internal error while connecting: ") + e.what());
            ok = false;
        }
        sync_.connected.fetch_add(ok ? stats_.connected : 0, std::memory_order_relaxed);
        sync_.barrier.arrive_and_wait();
        if (!ok) return;
        try {
            run_phase();
        } catch (const std::exception& e) {
            note(std::string("internal error: ") + e.what());
            stats_.stopped = true;
        }
    }

    Stats& stats() { return stats_; }
    uint64_t live_count() const { return live_count_.load(std::memory_order_relaxed); }
    uint64_t live_errors() const { return live_errors_.load(std::memory_order_relaxed); }

private:
    // ---- bookkeeping ----
    void note(std::string s) {
        for (auto& n : stats_.notes)
            if (n == s) return;
        if (stats_.notes.size() < kMaxNotes) stats_.notes.push_back(std::move(s));
    }
    bool in_window(int64_t now) const { return now >= mstart_ && now < end_; }
    void record(int64_t now, int64_t start, uint64_t payload) {
        if (!in_window(now)) return;
        if (start > 0) stats_.hist.record(static_cast<uint64_t>(now > start ? now - start : 0));
        ++stats_.count;
        stats_.payload_bytes += payload;
        // Timeline second without a division per message: now only moves forward.
        while (now >= sec_end_) {
            ++sec_;
            sec_end_ += kSecond;
        }
        if (sec_ < stats_.timeline.size()) ++stats_.timeline[sec_];
    }
    void make_payload() {
        // Text-like bytes (letters and spaces from a fixed seed): realistic for deflate, valid UTF-8.
        payload_.resize(o_.size);
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (auto& b : payload_) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t r = x % 32;
            b = static_cast<uint8_t>(r < 26 ? 'a' + r : ' ');
        }
    }
    // The echo frames, masked once up front and resent. RFC 6455 5.3 asks a fresh
    // unpredictable mask per frame so that script-controlled bytes cannot be laid out to
    // poison an intermediary's cache; a load generator sends its own fixed payload to a server
    // under test, so reusing pre-masked frames is safe, and it keeps the per-message cost at a
    // memcpy. The masks still come from the CSPRNG and rotate over up to kMaskedFrames frames
    // (fewer for large messages: at most ~1 MiB of frames) so the server's unmasking is not fed
    // one key forever. Broadcast, ping/pong and close frames are still masked one by one.
    static constexpr size_t kMaskedFrames = 16;
    void build_frames(std::vector<std::vector<uint8_t>>& out, const std::vector<uint8_t>& body, bool rsv1) {
        const uint8_t opcode = o_.binary ? 2 : 1;
        size_t n = std::clamp<size_t>((size_t{1} << 20) / (body.size() + 14), 1, kMaskedFrames);
        out.assign(n, {});
        for (auto& f : out) append_client_frame(f, opcode, rsv1, body.data(), body.size(), masks_.next());
    }
    const std::vector<std::vector<uint8_t>>& compressed_frames(int wbits) {
        auto& frames = zframes_[wbits & 15];
        if (frames.empty()) {
            std::vector<uint8_t> z;
            MessageDeflater d(wbits);
            if (!d.compress(payload_.data(), payload_.size(), z)) z.clear();
            build_frames(frames, z, true);
        }
        return frames;
    }

    // ---- sockets ----
    void mark_dirty(Conn& c) {
        if (!c.dirty) {
            c.dirty = true;
            dirty_.push_back(&c);
        }
    }
    void start_connect(Conn& c) {
        int fd = ::socket(t_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            connect_failed(c, std::string("socket: ") + std::strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c.fd = fd;
        c.st = CState::Connecting;
        c.t_start = now_ns();
        ++handshaking_;
        c.out.clear();
        c.out_off = 0;
        if (c.tls) c.tls->reset();
        c.ring.clear();
        c.head.clear();
        c.fp = ServerFrameParser{};
        c.hp = HttpResponseParser{};
        c.sp = SseParser{};
        c.in_msg = c.in_ctrl = false;
        // Edge-triggered, registered once for both directions: no epoll_ctl per message (and
        // no level-triggered re-poll of every socket on the next wait). on_readable reads until
        // a short read, so no edge is lost; EPOLLOUT only matters when c.out has bytes left.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &c;
        epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&t_.addr), t_.addr_len);
        if (rc < 0 && errno != EINPROGRESS) {
            connect_failed(c, std::string("connect: ") + std::strerror(errno));
        }
    }
    void close_conn(Conn& c) {
        if (c.st == CState::Connecting || c.st == CState::Handshake) --handshaking_;
        if (c.fd >= 0) {
            epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            c.fd = -1;
        }
        if (c.tls) c.tls->reset();
        c.st = CState::Done;
        // Connect mode: every slot opens its next connection at the next poll (never from
        // inside this one's callbacks, and a refused connect cannot recurse).
        if (o_.mode == Mode::Connect && running_ && !c.restart && now_ns() < end_) {
            c.restart = true;
            restart_.push_back(&c);
        }
    }
    void connect_failed(Conn& c, std::string why) {
        ++stats_.err_connect;
        note(std::move(why));
        close_conn(c);
    }
    void opened(Conn& c) {
        --handshaking_;
        c.st = CState::Open;
        if (c.tls && o_.mode != Mode::Connect) count_handshake(c);
        if (!running_) ++stats_.connected;
        if (running_) start_traffic(c, now_ns());
    }
    void count_handshake(Conn& c) {
        ++(c.tls->resumed() ? stats_.tls_resumed : stats_.tls_full);
        if (stats_.tls_version.empty()) stats_.tls_version = c.tls->version();
    }
    // Connect mode: one connection done (TLS handshake, upgrade or response): count it, close
    // it (close frame, close_notify) and open the next.
    void cycle(Conn& c, int64_t now) {
        record(now, c.t_start, 0);
        if (c.tls && in_window(now)) count_handshake(c);
        goodbye(c);
        close_conn(c);
    }
    // Best effort, never waits: a WebSocket close frame and close_notify, sent at once.
    void goodbye(Conn& c) {
        if (c.st != CState::Open || c.fd < 0) return;
        c.out.clear();
        c.out_off = 0;
        if (ws_) {
            static const uint8_t bye[2] = {0x03, 0xe8};  // 1000
            append_client_frame(c.out, 8, false, bye, 2, masks_.next());
        }
        const std::vector<uint8_t>* wire = &c.out;
        if (c.tls) {
            c.tls->out.clear();
            c.tls->out_off = 0;
            if (!c.out.empty()) c.tls->write(c.out.data(), c.out.size());
            c.tls->shutdown();
            wire = &c.tls->out;
        }
        if (!wire->empty()) ::send(c.fd, wire->data(), wire->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    void lost(Conn& c, const char* why) {
        bool during = running_ && now_ns() < end_;
        if (c.st == CState::Handshake && c.tls && !c.tls->established()) {
            connect_failed(c, std::string("tls handshake: ") + why);
        } else if (c.st == CState::Connecting || c.st == CState::Handshake) {
            connect_failed(c, why);
        } else {
            if (during) {
                ++stats_.err_closed;
                note(std::string("closed: ") + why);
            }
            close_conn(c);
        }
        if (during && o_.mode == Mode::Http) reconnect(c);
    }
    void reconnect(Conn& c) {
        ++stats_.reconnects;
        if (c.fd >= 0) close_conn(c);
        start_connect(c);
    }
    void protocol_error(Conn& c, std::string why) {
        ++stats_.err_protocol;
        note("protocol: " + why);
        close_conn(c);
    }
    // Bytes queued for this connection, not yet taken by the kernel.
    static size_t queued(const Conn& c) {
        return c.out.size() - c.out_off + (c.tls ? c.tls->out.size() - c.tls->out_off : 0);
    }
    void flush(Conn& c) {
        c.dirty = false;
        if (c.fd < 0) return;
        if (!c.tls) {
            send_out(c, c.out, c.out_off);
            return;
        }
        // TLS: plaintext is encrypted onto tls->out in one go (a memory write), then sent.
        TlsStream& t = *c.tls;
        if (c.out_off < c.out.size() && t.established()) {
            if (!t.write(c.out.data() + c.out_off, c.out.size() - c.out_off)) {
                protocol_error(c, "tls: " + t.error());
                return;
            }
            c.out.clear();
            c.out_off = 0;
        }
        send_out(c, t.out, t.out_off);
    }
    void send_out(Conn& c, std::vector<uint8_t>& buf, size_t& off) {
        while (off < buf.size()) {
            ssize_t n = ::send(c.fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += static_cast<size_t>(n);
                if (measuring_) stats_.tx_bytes += static_cast<uint64_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT (edge) resumes
            lost(c, n < 0 ? std::strerror(errno) : "send returned 0");
            return;
        }
        buf.clear();
        off = 0;
    }
    void flush_dirty() {
        // flush() may reconnect (and so re-dirty) a connection: iterate by index.
        for (size_t i = 0; i < dirty_.size(); ++i) flush(*dirty_[i]);
        dirty_.clear();
    }

    // ---- handshakes ----
    void on_connected(Conn& c) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            connect_failed(c, std::string("connect: ") + std::strerror(err));
            return;
        }
        c.st = CState::Handshake;
        if (tls_) {  // the TLS handshake first; send_request() once it is established
            if (!c.tls) c.tls = std::make_unique<TlsStream>();
            if (!c.tls->start(*tls_)) {
                connect_failed(c, "tls: " + c.tls->error());
                return;
            }
            flush(c);  // the ClientHello
            return;
        }
        send_request(c);
    }
    void send_request(Conn& c) {
        if (o_.mode == Mode::Http || (o_.mode == Mode::Connect && !ws_)) {
            opened(c);
            return;
        }
        std::string req;
        if (ws_) {
            c.key = make_ws_key();
            req = "GET " + o_.path + " HTTP/1.1\r\nHost: " + t_.host_header +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + c.key +
                  "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: fasterapi-loadgen\r\n";
            // client_no_context_takeover: we compress each message alone, so a fixed payload is
            // compressed once; client_max_window_bits lets the server pick our window.
            if (o_.compress)
                req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
                       "client_max_window_bits\r\n";
            req += "\r\n";
        } else {
            req = request_;
        }
        c.out.insert(c.out.end(), req.begin(), req.end());
        flush(c);
    }

    // Returns false if the connection was closed.
    bool ws_handshake_bytes(Conn& c, const uint8_t* p, size_t n, int64_t now) {
        size_t from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
        c.head.append(reinterpret_cast<const char*>(p), n);
        size_t end = c.head.find("\r\n\r\n", from);
        if (end == std::string::npos) {
            if (c.head.size() > 16384) connect_failed(c, "handshake response too large");
            return c.fd >= 0;
        }
        std::string_view h(c.head.data(), end + 2);
        if (h.size() < 12 || h.substr(0, 7) != "HTTP/1." || h[8] != ' ') {
            connect_failed(c, "bad handshake response");
            return false;
        }
        int status = std::atoi(std::string(h.substr(9, 3)).c_str());
        if (status != 101) {
            ++stats_.http_status[status];
            connect_failed(c, "handshake: HTTP " + std::to_string(status));
            return false;
        }
        std::string expect = ws_accept(c.key);
        bool accept_ok = false, have_ext = false;
        DeflateParams dp;
        size_t pos = h.find('\n') + 1;
        while (pos < h.size()) {
            size_t eol = h.find('\n', pos);
            std::string_view line = h.substr(pos, eol - pos);
            pos = eol + 1;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            size_t colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
            if (name.size() == 20 && strncasecmp(name.data(), "sec-websocket-accept", 20) == 0) {
                accept_ok = value == expect;
            } else if (name.size() == 24 && strncasecmp(name.data(), "sec-websocket-extensions", 24) == 0) {
                if (have_ext || !o_.compress || !parse_deflate_response(value, dp)) {
                    connect_failed(c, "handshake: unexpected Sec-WebSocket-Extensions: " + std::string(value));
                    return false;
                }
                have_ext = true;
                stats_.negotiated = std::string(value);
            }
        }
        if (!accept_ok) {
            connect_failed(c, "handshake: bad Sec-WebSocket-Accept");
            return false;
        }
        if (o_.compress && !have_ext) note("server declined permessage-deflate: messages sent uncompressed");
        c.deflate = have_ext;
        c.client_wbits = dp.client_window_bits;
        if (c.deflate) c.inflater = std::make_unique<MessageInflater>();
        std::string rest = c.head.substr(end + 4);
        c.head.clear();
        c.head.shrink_to_fit();
        opened(c);
        if (!rest.empty()) return ws_bytes(c, reinterpret_cast<const uint8_t*>(rest.data()), rest.size(), now);
        return true;
    }

    // ---- WebSocket traffic ----
    void ws_send(Conn& c, int64_t stamp, bool open_loop) {
        if (open_loop && queued(c) > kMaxPendingOut) {
            ++stats_.dropped_sends;
            return;
        }
        const auto& frames = c.deflate ? compressed_frames(c.client_wbits) : frames_;
        const auto& f = frames[next_frame_++ % frames.size()];
        c.out.insert(c.out.end(), f.begin(), f.end());
        c.ring.push(stamp);
        if (in_window(stamp)) ++stats_.sent;
        mark_dirty(c);
    }
    void publish(Conn& c, int64_t stamp) {
        // "<CLOCK_MONOTONIC ns> " then filler: receivers take latency from the leading number.
        char ts[24];
        int n = std::snprintf(ts, sizeof ts, "%lld ", static_cast<long long>(stamp));
        std::memcpy(pubbuf_.data(), ts, static_cast<size_t>(n));
        const uint8_t opcode = o_.binary ? 2 : 1;
        if (queued(c) > kMaxPendingOut) {
            ++stats_.dropped_sends;
            return;
        }
        if (c.deflate) {
            if (!pub_deflater_) pub_deflater_ = std::make_unique<MessageDeflater>(c.client_wbits);
            if (!pub_deflater_->compress(pubbuf_.data(), pubbuf_.size(), pubz_)) {
                protocol_error(c, "deflate failed");
                return;
            }
            append_client_frame(c.out, opcode, true, pubz_.data(), pubz_.size(), masks_.next());
        } else {
            append_client_frame(c.out, opcode, false, pubbuf_.data(), pubbuf_.size(), masks_.next());
        }
        if (in_window(stamp)) ++stats_.sent;
        ++stats_.published;
        mark_dirty(c);
    }

    struct WsHandler {
        Worker& w;
        Conn& c;
        int64_t now;
        bool on_frame(uint8_t op, bool fin, bool rsv1, uint64_t len) {
            if (op >= 8) {
                if (op > 10) return w.ws_fail(c, "reserved control opcode");
                if (!fin || len > 125 || rsv1) return w.ws_fail(c, "bad control frame");
                c.in_ctrl = true;
                c.ctrl_op = op;
                c.ctrl_len = 0;
                return true;
            }
            c.in_ctrl = false;
            if (op == 0) {
                if (!c.in_msg) return w.ws_fail(c, "continuation without a message");
                if (rsv1) return w.ws_fail(c, "RSV1 on a continuation frame");
            } else if (op == 1 || op == 2) {
                if (c.in_msg) return w.ws_fail(c, "new message inside a fragmented one");
                if (rsv1 && !c.deflate) return w.ws_fail(c, "RSV1 without permessage-deflate");
                c.in_msg = true;
                c.msg_compressed = rsv1;
                c.msg_len = 0;
                c.prefix_len = 0;
                c.mismatch = false;
            } else {
                return w.ws_fail(c, "reserved data opcode");
            }
            fin_ = fin;
            return true;
        }
        void take(const uint8_t* p, size_t n) {
            if (w.verify_) {  // echoes are compared with what was sent, piece by piece (a memcmp)
                const size_t at = c.msg_len;
                c.mismatch = c.mismatch || at + n > w.payload_.size() ||
                             std::memcmp(w.payload_.data() + at, p, n) != 0;
                c.msg_len += n;
                return;
            }
            c.msg_len += n;
            if (c.prefix_len < sizeof c.prefix) {
                size_t k = std::min(n, sizeof c.prefix - c.prefix_len);
                std::memcpy(c.prefix + c.prefix_len, p, k);
                c.prefix_len = static_cast<uint8_t>(c.prefix_len + k);
            }
        }
        bool on_payload(const uint8_t* p, size_t n) {
            if (c.in_ctrl) {
                std::memcpy(c.ctrl + c.ctrl_len, p, n);
                c.ctrl_len = static_cast<uint8_t>(c.ctrl_len + n);
                return true;
            }
            if (c.msg_compressed) {
                if (!c.inflater->feed(p, n, w.zbuf_.data(), w.zbuf_.size(),
                                      [this](const uint8_t* q, size_t k) { take(q, k); }))
                    return w.ws_fail(c, "inflate failed");
                return true;
            }
            take(p, n);
            return true;
        }
        bool on_frame_end() {
            if (c.in_ctrl) {
                c.in_ctrl = false;
                return w.ws_control(c, now);
            }
            if (!fin_) return true;
            if (c.msg_compressed &&
                !c.inflater->finish(w.zbuf_.data(), w.zbuf_.size(), [this](const uint8_t* q, size_t k) { take(q, k); }))
                return w.ws_fail(c, "inflate failed");
            c.in_msg = false;
            return w.ws_message(c, now);
        }
        bool fin_ = false;  // FIN of the data frame being received
    };

    bool ws_fail(Conn& c, const char* why) {
        protocol_error(c, why);
        return false;
    }
    bool ws_control(Conn& c, int64_t now) {
        if (c.ctrl_op == 9) {  // ping -> pong with the same payload
            append_client_frame(c.out, 10, false, c.ctrl, c.ctrl_len, masks_.next());
            mark_dirty(c);
        } else if (c.ctrl_op == 8) {  // close: answer with the same code, then drop the connection
            append_client_frame(c.out, 8, false, c.ctrl, c.ctrl_len >= 2 ? 2 : 0, masks_.next());
            flush(c);
            if (running_ && now < end_) {
                ++stats_.err_closed;
                char why[64];
                std::snprintf(why, sizeof why, "closed: server sent close %d",
                              c.ctrl_len >= 2 ? (c.ctrl[0] << 8 | c.ctrl[1]) : 1005);
                note(why);
            }
            close_conn(c);
            return false;
        }
        return true;
    }
    bool ws_message(Conn& c, int64_t now) {
        if (o_.mode == Mode::WsBroadcast) {
            uint64_t ts = 0;
            if (SseParser::parse_timestamp(reinterpret_cast<const char*>(c.prefix), c.prefix_len, ts) &&
                static_cast<int64_t>(ts) <= now && now - static_cast<int64_t>(ts) < 1000 * kSecond) {
                record(now, static_cast<int64_t>(ts), c.msg_len);
            } else {
                if (in_window(now)) ++stats_.bad_timestamps;
                record(now, 0, c.msg_len);
            }
            return true;
        }
        int64_t sent_at = 0;
        if (!c.ring.pop(sent_at)) {
            ++stats_.unexpected;
            return true;
        }
        if (c.msg_len != o_.size) {
            protocol_error(c, "echo of " + std::to_string(c.msg_len) + " bytes, sent " + std::to_string(o_.size));
            return false;
        }
        if (c.mismatch) {
            protocol_error(c, "echoed payload differs from the one sent");
            return false;
        }
        record(now, sent_at, c.msg_len);
        if (o_.mode == Mode::WsEcho && running_ && now < end_) ws_send(c, now, false);
        return true;
    }
    bool ws_bytes(Conn& c, const uint8_t* p, size_t n, int64_t now) {
        WsHandler h{*this, c, now};
        // A frame's payload may span reads: its header byte (FIN) is still in the parser.
        h.fin_ = (c.fp.hdr[0] & 0x80) != 0;
        if (!c.fp.feed(p, n, h)) {
            if (c.fd >= 0 && c.fp.error != ServerFrameParser::Error::None)
                protocol_error(c, c.fp.error == ServerFrameParser::Error::Masked ? "masked server frame"
                                  : c.fp.error == ServerFrameParser::Error::ReservedBits ? "RSV2/RSV3 set"
                                                                                          : "bad frame length");
            return false;
        }
        return c.fd >= 0;
    }

    // ---- HTTP / SSE traffic ----
    void http_send(Conn& c, int64_t stamp) {
        c.out.insert(c.out.end(), request_.begin(), request_.end());
        c.ring.push(stamp);
        if (in_window(stamp)) ++stats_.sent;
        mark_dirty(c);
    }
    struct HttpHandler {
        Worker& w;
        Conn& c;
        int64_t now;
        bool on_head(int status) {
            c.status = status;
            c.body_len = 0;
            if (status < 200 || status > 299) ++w.stats_.http_status[status];
            if (w.o_.mode == Mode::Sse && c.st == CState::Handshake) {
                if (status != 200) {
                    w.connect_failed(c, "sse: HTTP " + std::to_string(status));
                    return false;
                }
                w.opened(c);
            }
            return true;
        }
        bool on_body(const uint8_t* p, size_t n) {
            c.body_len += n;
            if (w.o_.mode == Mode::Sse) {
                if (w.in_window(now)) w.stats_.payload_bytes += n;
                c.sp.feed(p, n, *this);
            }
            return true;
        }
        void on_event(bool has_ts, uint64_t ts) {
            auto t = static_cast<int64_t>(ts);
            if (has_ts && t <= now && now - t < 1000 * kSecond) {
                w.record(now, t, 0);
            } else {
                if (has_ts && w.in_window(now)) ++w.stats_.bad_timestamps;
                w.record(now, 0, 0);
            }
        }
        bool on_complete() {
            if (w.o_.mode == Mode::Sse) {
                w.lost(c, "event stream ended");
                return false;
            }
            if (w.o_.mode == Mode::Connect) {
                w.cycle(c, now);
                return false;
            }
            int64_t sent_at = 0;
            if (!c.ring.pop(sent_at)) {
                w.protocol_error(c, "response without a request");
                return false;
            }
            w.record(now, sent_at, c.body_len);
            if (!c.hp.keep_alive()) {
                if (w.running_ && now < w.end_) w.reconnect(c);
                else w.close_conn(c);
                return false;
            }
            if (w.running_ && now < w.end_) w.http_send(c, now);
            return true;
        }
    };

    bool http_bytes(Conn& c, const uint8_t* p, size_t n, int64_t now) {
        HttpHandler h{*this, c, now};
        if (!c.hp.feed(p, n, h)) {
            if (c.fd >= 0 && c.hp.error()) protocol_error(c, c.hp.error());
            return false;
        }
        return c.fd >= 0;
    }

    // ---- events ----
    // Edge-triggered: reads until a short read (the socket was drained; later data raises a
    // new edge). A connection still full after 4 reads goes on reread_ so a fast stream cannot
    // starve the others; poll() comes back to it without waiting.
    void on_readable(Conn& c) {
        for (int rounds = 0; c.fd >= 0; ++rounds) {
            if (rounds == 4) {
                if (!c.reread) {
                    c.reread = true;
                    reread_.push_back(&c);
                }
                return;
            }
            ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                lost(c, std::strerror(errno));
                return;
            }
            int64_t now = now_ns();
            if (n == 0) {
                on_eof(c, now);
                return;
            }
            if (in_window(now)) stats_.rx_bytes += static_cast<uint64_t>(n);
            const uint8_t* p = rbuf_.data();
            bool alive = c.tls ? tls_bytes(c, p, static_cast<size_t>(n), now) : bytes(c, p, static_cast<size_t>(n), now);
            if (!alive || static_cast<size_t>(n) < rbuf_.size()) return;
        }
    }
    // Plaintext from the server. Returns false if the connection was closed.
    bool bytes(Conn& c, const uint8_t* p, size_t n, int64_t now) {
        if (ws_) return c.st == CState::Open ? ws_bytes(c, p, n, now) : ws_handshake_bytes(c, p, n, now);
        return http_bytes(c, p, n, now);
    }
    void on_eof(Conn& c, int64_t now) {
        if (!ws_ && c.st == CState::Open) {
            HttpHandler h{*this, c, now};
            if (c.hp.eof(h)) return;  // completed a close-delimited response: handled
        }
        lost(c, "connection closed by server");
    }
    // Ciphertext from the server: the handshake, then records decrypted one at a time.
    bool tls_bytes(Conn& c, const uint8_t* p, size_t n, int64_t now) {
        TlsStream& t = *c.tls;
        t.feed(p, n);
        if (!t.established()) {
            TlsStream::Result r = t.handshake();
            if (r == TlsStream::Result::Error || r == TlsStream::Result::Closed) {
                connect_failed(c, "tls handshake: " + (t.error().empty() ? std::string("closed") : t.error()));
                return false;
            }
            if (t.out_off < t.out.size()) flush(c);  // handshake messages (the client Finished)
            if (r == TlsStream::Result::More || c.fd < 0) return c.fd >= 0;
            send_request(c);
            if (c.fd < 0) return false;
        }
        for (;;) {
            size_t k = 0;
            TlsStream::Result r = t.read(tbuf_.data(), tbuf_.size(), k);
            if (r == TlsStream::Result::Done) {
                if (!bytes(c, tbuf_.data(), k, now) || c.fd < 0) return false;
                continue;
            }
            if (t.out_off < t.out.size()) mark_dirty(c);  // e.g. a KeyUpdate answer
            if (r == TlsStream::Result::More) return true;
            if (r == TlsStream::Result::Closed) on_eof(c, now);  // close_notify
            else lost(c, ("tls: " + t.error()).c_str());
            return false;
        }
    }
    void on_event(Conn& c, uint32_t ev) {
        if (c.st == CState::Connecting) {
            if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
            // Edge-triggered: bytes that came with the connect edge must be read now.
            if (c.fd >= 0 && c.st != CState::Connecting && (ev & (EPOLLIN | EPOLLRDHUP))) on_readable(c);
            return;
        }
        if ((ev & EPOLLOUT) && queued(c)) flush(c);
        if (c.fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) on_readable(c);
    }
    void poll(int64_t deadline) {
        epoll_event evs[256];
        int64_t wait = reread_.empty() && restart_.empty() ? std::max<int64_t>(0, deadline - now_ns()) : 0;
        int n;
        if (have_pwait2_) {
            timespec ts{static_cast<time_t>(wait / kSecond), static_cast<long>(wait % kSecond)};
            n = epoll_pwait2(ep_, evs, 256, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                have_pwait2_ = false;
                return;
            }
        } else {
            n = epoll_wait(ep_, evs, 256, static_cast<int>((wait + 999'999) / 1'000'000));
        }
        // Each connection's replies go out as soon as its reads are parsed (as a plain epoll
        // client does), so the server works on them while the rest of the batch is read.
        for (int i = 0; i < n; ++i) {
            on_event(*static_cast<Conn*>(evs[i].data.ptr), evs[i].events);
            if (!dirty_.empty()) flush_dirty();
        }
        if (!reread_.empty()) {
            rereading_.swap(reread_);  // on_readable may queue a connection again
            for (Conn* c : rereading_) {
                c->reread = false;
                if (c->fd >= 0) on_readable(*c);
                if (!dirty_.empty()) flush_dirty();
            }
            rereading_.clear();
        }
        if (!restart_.empty()) {
            rereading_.swap(restart_);
            for (Conn* c : rereading_) {
                c->restart = false;
                if (c->fd < 0 && running_ && now_ns() < end_) start_connect(*c);
            }
            rereading_.clear();
        }
        flush_dirty();
    }

    // ---- phases ----
    void connect_phase() {
        int64_t deadline = now_ns() + static_cast<int64_t>(o_.connect_timeout * 1e9);
        size_t next = 0;
        for (;;) {
            while (next < conns_.size() && handshaking_ < kMaxHandshakes) start_connect(conns_[next++]);
            flush_dirty();
            if (next == conns_.size() && handshaking_ == 0) break;
            if (now_ns() >= deadline || g_stop.load(std::memory_order_relaxed)) break;
            poll(std::min(deadline, now_ns() + kMaxWait));
        }
        size_t timed_out = 0;
        for (auto& c : conns_) {
            if (c.st == CState::Pending || c.st == CState::Connecting || c.st == CState::Handshake) {
                ++timed_out;
                ++stats_.err_connect;
                close_conn(c);
            }
        }
        if (timed_out) note(std::to_string(timed_out) + " connection(s) not established within --connect-timeout");
    }

    void start_traffic(Conn& c, int64_t now) {
        switch (o_.mode) {
        case Mode::WsEcho:
            for (int i = 0; i < o_.inflight; ++i) ws_send(c, now, false);
            break;
        case Mode::Http:
            for (int i = 0; i < o_.pipeline; ++i) http_send(c, now);
            break;
        case Mode::Connect:
            if (ws_) cycle(c, now);
            else http_send(c, now);
            break;
        default:
            break;
        }
    }

    void run_phase() {
        int64_t t0 = sync_.t0.load(std::memory_order_acquire);
        mstart_ = t0 + static_cast<int64_t>(o_.warmup * 1e9);
        end_ = mstart_ + static_cast<int64_t>(o_.duration * 1e9);
        sec_ = 0;
        sec_end_ = mstart_ + kSecond;
        if (sync_.connected.load(std::memory_order_relaxed) == 0 && o_.mode != Mode::Connect) end_ = mstart_ = t0;
        running_ = true;
        for (auto& c : conns_)
            if (c.st == CState::Open) start_traffic(c, t0);
            else if (o_.mode == Mode::Connect) start_connect(c);
        flush_dirty();

        // Open-loop schedules: ws-rate spreads --rate over all threads' connections;
        // ws-broadcast's publisher (connection 0) sends --rate alone.
        std::vector<Conn*> open;
        for (auto& c : conns_)
            if (c.st == CState::Open && (o_.mode != Mode::WsBroadcast || c.publisher)) open.push_back(&c);
        double per_thread = o_.mode == Mode::WsRate ? o_.rate / o_.threads : o_.rate;
        bool scheduled = (o_.mode == Mode::WsRate || o_.mode == Mode::WsBroadcast) && !open.empty();
        double interval = scheduled ? 1e9 / per_thread : 0;
        uint64_t k = 0;
        if (o_.mode == Mode::WsBroadcast) {
            pubbuf_ = payload_;
            if (id_ == 0 && open.empty()) note("publisher (connection 0) not connected: nothing published");
        }

        bool measuring = false;
        rusage ru0{};
        int64_t next_progress = t0 + kSecond;
        for (;;) {
            int64_t now = now_ns();
            if (!measuring && now >= mstart_) {
                measuring = measuring_ = true;
                getrusage(RUSAGE_THREAD, &ru0);
            }
            if (g_stop.load(std::memory_order_relaxed) && now < end_) {
                end_ = std::max(now, mstart_);
                stats_.stopped = true;
            }
            if (now >= end_) break;
            int64_t next_send = end_;
            if (scheduled) {
                for (;;) {
                    int64_t due = t0 + static_cast<int64_t>(static_cast<double>(k) * interval);
                    if (due >= end_) break;
                    if (due > now) {
                        next_send = due;
                        break;
                    }
                    // Pick the next open connection round-robin; closed ones are skipped.
                    Conn* c = nullptr;
                    for (size_t tries = 0; tries < open.size() && !c; ++tries) {
                        Conn* cand = open[k % open.size()];
                        if (cand->st == CState::Open) c = cand;
                        else ++k;
                    }
                    if (!c) {
                        scheduled = false;
                        break;
                    }
                    if (o_.mode == Mode::WsRate) ws_send(*c, due, true);
                    else publish(*c, due);
                    ++k;
                }
                flush_dirty();
            }
            live_count_.store(stats_.count, std::memory_order_relaxed);
            live_errors_.store(stats_.err_connect + stats_.err_closed + stats_.err_protocol, std::memory_order_relaxed);
            if (id_ == 0 && o_.progress && now >= next_progress) {
                print_progress(now, t0);
                next_progress += kSecond;
            }
            int64_t deadline = std::min({end_, next_send, now + kMaxWait});
            if (!measuring) deadline = std::min(deadline, mstart_);
            if (id_ == 0 && o_.progress) deadline = std::min(deadline, next_progress);
            poll(deadline);
        }
        rusage ru1{};
        getrusage(RUSAGE_THREAD, &ru1);
        if (!measuring) ru0 = ru1;
        stats_.cpu_user = rusage_s(ru1.ru_utime) - rusage_s(ru0.ru_utime);
        stats_.cpu_sys = rusage_s(ru1.ru_stime) - rusage_s(ru0.ru_stime);
        stats_.wall = static_cast<double>(end_ - mstart_) / 1e9;
        running_ = false;  // connect mode: no restarts
        for (auto& c : conns_) {  // polite goodbye; we do not wait for the answer
            goodbye(c);
            close_conn(c);
        }
    }

    void print_progress(int64_t now, int64_t t0) {
        uint64_t total = 0, errors = 0;
        for (auto& w : *all_) {
            total += w->live_count();
            errors += w->live_errors();
        }
        double rate = static_cast<double>(total - last_progress_count_);
        last_progress_count_ = total;
        std::fprintf(stderr, "[%5.1fs] %s%s %.0f/s total %llu errors %llu\n", static_cast<double>(now - t0) / 1e9,
                     o_.mode_name.c_str(), now < mstart_ ? " (warmup)" : "", rate,
                     static_cast<unsigned long long>(total), static_cast<unsigned long long>(errors));
    }

    const Options& o_;
    const Target& t_;
    Sync& sync_;
    int id_;
    std::vector<std::unique_ptr<Worker>>* all_;
    int ep_ = -1;
    bool ws_ = false;
    bool verify_ = false;  // ws-echo / ws-rate: echoed payloads must equal payload_
    bool running_ = false;
    bool measuring_ = false;  // inside the measured window (tx bytes are counted)
    bool have_pwait2_ = true;
    size_t handshaking_ = 0;
    int64_t mstart_ = INT64_MAX, end_ = INT64_MAX;
    size_t sec_ = SIZE_MAX;           // timeline second of the last record(); -1 before the first
    int64_t sec_end_ = INT64_MIN;     // when it ends (set with mstart_)
    std::vector<Conn> conns_;
    std::vector<Conn*> dirty_, reread_, rereading_, restart_;
    std::vector<uint8_t> rbuf_, zbuf_, tbuf_, payload_, pubbuf_, pubz_;
    std::unique_ptr<TlsClient> tls_;
    std::vector<std::vector<uint8_t>> frames_, zframes_[16];  // pre-masked echo frames (build_frames)
    size_t next_frame_ = 0;
    std::unique_ptr<MessageDeflater> pub_deflater_;
    std::string request_;
    MaskSource masks_;
    Stats stats_;
    std::atomic<uint64_t> live_count_{0}, live_errors_{0};
    uint64_t last_progress_count_ = 0;
};

Target resolve(const Options& o) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res);
    if (rc != 0 || !res) throw std::runtime_error("cannot resolve " + o.host + ": " + gai_strerror(rc));
    Target t;
    std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
    t.addr_len = res->ai_addrlen;
    t.family = res->ai_family;
    freeaddrinfo(res);
    bool v6 = o.host.find(':') != std::string::npos;
    t.host_header = (v6 ? "[" + o.host + "]" : o.host);
    if (o.port != "80") t.host_header += ":" + o.port;
    return t;
}

void raise_fd_limit(size_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(want));
    setrlimit(RLIMIT_NOFILE, &rl);
}

const char* count_key(Mode m) {
    switch (m) {
    case Mode::WsBroadcast: return "deliveries";
    case Mode::Sse: return "events";
    case Mode::Http: return "requests";
    case Mode::Connect: return "connections";
    default: return "messages";
    }
}

std::string report(const Options& o, std::vector<std::unique_ptr<Worker>>& workers) {
    Stats all;
    double max_util = 0, wall = 0;
    std::vector<double> utils;
    all.timeline.assign(workers.front()->stats().timeline.size(), 0);
    for (auto& w : workers) {
        Stats& s = w->stats();
        all.hist.merge(s.hist);
        all.count += s.count;
        all.payload_bytes += s.payload_bytes;
        all.rx_bytes += s.rx_bytes;
        all.tx_bytes += s.tx_bytes;
        all.sent += s.sent;
        all.connected += s.connected;
        all.err_connect += s.err_connect;
        all.err_closed += s.err_closed;
        all.err_protocol += s.err_protocol;
        all.dropped_sends += s.dropped_sends;
        all.unexpected += s.unexpected;
        all.reconnects += s.reconnects;
        all.bad_timestamps += s.bad_timestamps;
        all.published += s.published;
        all.stopped |= s.stopped;
        for (auto& [k, v] : s.http_status) all.http_status[k] += v;
        for (size_t i = 0; i < all.timeline.size(); ++i) all.timeline[i] += s.timeline[i];
        all.cpu_user += s.cpu_user;
        all.cpu_sys += s.cpu_sys;
        wall = std::max(wall, s.wall);
        double u = s.wall > 0 ? (s.cpu_user + s.cpu_sys) / s.wall : 0;
        utils.push_back(u);
        max_util = std::max(max_util, u);
        for (auto& n : s.notes)
            if (std::find(all.notes.begin(), all.notes.end(), n) == all.notes.end()) all.notes.push_back(n);
        if (all.negotiated.empty()) all.negotiated = s.negotiated;
        all.tls_full += s.tls_full;
        all.tls_resumed += s.tls_resumed;
        if (all.tls_version.empty()) all.tls_version = s.tls_version;
    }
    const double dur = wall;  // 0 when nothing ran (no connection, or stopped during warmup)
    auto per_s = [dur](uint64_t n) { return dur > 0 ? static_cast<double>(n) / dur : 0.0; };
    const bool inconclusive = max_util >= 0.9;
    auto us = [](uint64_t ns) { return std::round(static_cast<double>(ns) / 10.0) / 100.0; };  // 0.01 us

    Json j;
    j.open('{');
    j.key("tool").str("fasterapi-loadgen");
    j.key("version").str("1");
    j.key("mode").str(o.mode_name);
    j.key("url").str(o.url);
    j.key("config").open('{');
    j.key("connections").num(static_cast<uint64_t>(o.connections));
    j.key("threads").num(static_cast<uint64_t>(o.threads));
    j.key("duration").num(o.duration);
    j.key("warmup").num(o.warmup);
    j.key("connect_timeout").num(o.connect_timeout);
    if (o.mode == Mode::WsEcho) j.key("inflight").num(static_cast<uint64_t>(o.inflight));
    if (o.mode == Mode::WsRate || o.mode == Mode::WsBroadcast) j.key("rate").num(o.rate);
    if (o.mode == Mode::Http) j.key("pipeline").num(static_cast<uint64_t>(o.pipeline));
    if (o.tls) j.key("resume").boolean(o.resume).key("verify").boolean(!o.verify_ca.empty());
    if (o.mode == Mode::WsEcho || o.mode == Mode::WsRate || o.mode == Mode::WsBroadcast) {
        j.key("size").num(static_cast<uint64_t>(o.size));
        j.key("binary").boolean(o.binary);
        j.key("compress").boolean(o.compress);
    }
    j.close('}');
    j.key("connected").num(all.connected);
    j.key("duration_s").num(dur);
    j.key(count_key(o.mode)).num(all.count);
    j.key("rate_per_s").num(per_s(all.count));
    j.key("bytes_per_s").num(per_s(all.payload_bytes));
    j.key("wire_rx_bytes_per_s").num(per_s(all.rx_bytes));
    j.key("wire_tx_bytes_per_s").num(per_s(all.tx_bytes));
    if (o.mode != Mode::Sse) {
        j.key("sent").num(all.sent);
        j.key("send_rate_per_s").num(per_s(all.sent));
    }
    if (o.mode == Mode::WsRate) j.key("target_rate_per_s").num(o.rate);
    if (o.mode == Mode::WsBroadcast) {
        j.key("published").num(all.published);
        j.key("expected_deliveries_per_s").num(o.rate * static_cast<double>(all.connected > 0 ? all.connected - 1 : 0));
    }
    if (o.compress) j.key("negotiated").str(all.negotiated);
    if (o.tls) {  // handshakes counted: connect mode in the measured window, other modes while connecting
        j.key("tls").open('{');
        j.key("version").str(all.tls_version);
        j.key("full_handshakes").num(all.tls_full);
        j.key("resumed_handshakes").num(all.tls_resumed);
        j.close('}');
    }
    j.key("errors").open('{');
    j.key("connect").num(all.err_connect);
    j.key("closed").num(all.err_closed);
    j.key("protocol").num(all.err_protocol);
    j.key("http_status").open('{');
    for (auto& [k, v] : all.http_status) j.key(std::to_string(k)).num(v);
    j.close('}');
    j.close('}');
    j.key("latency_us").open('{');
    j.key("count").num(all.hist.count());
    j.key("min").num(us(all.hist.min()));
    j.key("mean").num(std::round(all.hist.mean() / 10.0) / 100.0);
    j.key("p50").num(us(all.hist.percentile(50)));
    j.key("p90").num(us(all.hist.percentile(90)));
    j.key("p99").num(us(all.hist.percentile(99)));
    j.key("p999").num(us(all.hist.percentile(99.9)));
    j.key("max").num(us(all.hist.max()));
    j.close('}');
    j.key("histogram_us").open('[');
    for (auto& [v, n] : all.hist.buckets()) {
        j.open('[');
        j.num(us(v)).num(n);
        j.close(']');
    }
    j.close(']');
    j.key("timeline").open('[');
    for (uint64_t v : all.timeline) j.num(v);
    j.close(']');
    j.key("cpu").open('{');
    j.key("user_s").num(std::round(all.cpu_user * 1000) / 1000);
    j.key("sys_s").num(std::round(all.cpu_sys * 1000) / 1000);
    j.key("utilization").num(std::round(max_util * 1000) / 1000);
    j.key("per_thread").open('[');
    for (double u : utils) j.num(std::round(u * 1000) / 1000);
    j.close(']');
    j.close('}');
    j.key("inconclusive").boolean(inconclusive);

    std::vector<std::string> notes;
    if (inconclusive)
        notes.push_back("generator CPU utilization >= 0.9 per thread: the generator, not the server, may be the limit");
    if (o.mode == Mode::WsRate)
        notes.push_back("open loop: latency measured from each message's intended send time");
    if (o.mode == Mode::WsBroadcast)
        notes.push_back("latency from the publisher's intended send time carried in each payload");
    if (o.mode == Mode::Sse)
        notes.push_back("latency recorded for events whose data starts with a CLOCK_MONOTONIC ns timestamp");
    if (all.dropped_sends)
        notes.push_back(std::to_string(all.dropped_sends) + " scheduled sends dropped: server not reading (>16 MiB queued)");
    if (all.unexpected) notes.push_back(std::to_string(all.unexpected) + " unsolicited messages received");
    if (all.reconnects) notes.push_back(std::to_string(all.reconnects) + " reconnects");
    if (all.bad_timestamps)
        notes.push_back(std::to_string(all.bad_timestamps) + " messages without a usable timestamp (no latency)");
    if (all.connected == 0 && o.mode != Mode::Connect) notes.push_back("no connection established");
    if (o.mode == Mode::Connect && all.count == 0) notes.push_back("no connection completed");
    if (o.resume && all.tls_resumed < all.tls_full)
        notes.push_back("--resume: the server resumed only " + std::to_string(all.tls_resumed) + " of " +
                        std::to_string(all.tls_full + all.tls_resumed) + " handshakes (tickets not honoured?)");
    if (all.stopped) notes.push_back("stopped early on request: duration_s is the time actually measured");
    for (auto& n : all.notes) notes.push_back(n);
    j.key("notes").open('[');
    for (auto& n : notes) j.str(n);
    j.close(']');
    j.close('}');

    if (!o.quiet) {
        std::fprintf(stderr,
                     "%s %s: %llu %s in %.2fs = %.0f/s, latency p50 %.1fus p99 %.1fus max %.1fus, "
                     "errors connect %llu closed %llu protocol %llu, cpu %.2f%s\n",
                     o.mode_name.c_str(), o.url.c_str(), static_cast<unsigned long long>(all.count), count_key(o.mode),
                     dur, per_s(all.count), us(all.hist.percentile(50)),
                     us(all.hist.percentile(99)), us(all.hist.max()), static_cast<unsigned long long>(all.err_connect),
                     static_cast<unsigned long long>(all.err_closed), static_cast<unsigned long long>(all.err_protocol),
                     max_util, inconclusive ? " (INCONCLUSIVE)" : "");
    }
    return j.take();
}

}  // namespace

std::string usage() {
    return "usage: fasterapi-loadgen MODE --url URL [options]\n"
           "modes:\n"
           "  ws-echo       closed loop: each connection keeps --inflight messages outstanding\n"
           "  ws-rate       open loop at --rate messages/s in total, latency from intended send time\n"
           "  ws-broadcast  connection 0 publishes --rate timestamped messages/s; all count deliveries\n"
           "  sse           subscribers count events/s; latency from a leading monotonic-ns timestamp\n"
           "  http          keep-alive GET requests, --pipeline deep\n"
           "  connect       new connections per second: each of --connections slots connects, completes\n"
           "                the TLS handshake (wss/https), the upgrade (ws/wss) or one GET (http/https),\n"
           "                closes and starts over; latency from connect() to the upgrade/response\n"
           "options:\n"
           "  --url URL               ws[s]://host:port/path (ws modes) or http[s]://host:port/path;\n"
           "                          wss/https speak TLS (OpenSSL; TLS 1.2+, ALPN http/1.1)\n"
           "  --verify CAFILE         TLS: verify the server certificate against CAFILE and the host\n"
           "                          (default: no verification, for loopback benchmarks)\n"
           "  --resume                TLS: offer the last session ticket (resumed handshakes)\n"
           "  --connections N         connections (default 1)\n"
           "  --inflight N            ws-echo: messages outstanding per connection (default 1)\n"
           "  --size BYTES            ws payload size (default 32)\n"
           "  --binary                binary messages (default text)\n"
           "  --compress              offer permessage-deflate\n"
           "  --rate R                ws-rate / ws-broadcast: messages per second\n"
           "  --pipeline N            http: requests in flight per connection (default 1)\n"
           "  --duration S            measured seconds (default 10)\n"
           "  --warmup S              unmeasured seconds before (default 1)\n"
           "  --threads N             epoll loops / threads (default 1)\n"
           "  --connect-timeout S     time allowed to establish all connections (default 10)\n"
           "  --json-out FILE         also write the JSON report to FILE\n"
           "  --progress              one line per second on stderr\n"
           "  --quiet                 no summary line on stderr\n"
           "Output: one JSON document on stdout.\n";
}

void request_stop() noexcept { g_stop.store(true, std::memory_order_relaxed); }

std::string run_loadgen(const std::vector<std::string>& args) {
    Options o = parse_options(args);
    g_stop.store(false, std::memory_order_relaxed);
    Target t = resolve(o);
    raise_fd_limit(static_cast<size_t>(o.connections) + 64);
    Sync sync(o.threads);
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < o.threads; ++i) {
        std::vector<uint32_t> ids;
        for (int c = i; c < o.connections; c += o.threads) ids.push_back(static_cast<uint32_t>(c));
        workers.push_back(std::make_unique<Worker>(o, t, sync, i, std::move(ids), &workers));
    }
    if (o.threads == 1) {
        workers[0]->run();
    } else {
        std::vector<std::thread> threads;
        for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
        for (auto& th : threads) th.join();
    }
    std::string json = report(o, workers);
    if (!o.json_out.empty()) {
        std::ofstream f(o.json_out, std::ios::binary | std::ios::trunc);
        f << json << '\n';
        if (!f) throw std::runtime_error("cannot write " + o.json_out);
    }
    return json;
}

}  // namespace fasterapi::loadgen
