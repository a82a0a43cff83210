// Pub/sub: topic membership of WebSocket and SSE connections, and publish(), which
// builds a frame (or SSE chunk) once and writes it to every subscriber, applying each
// route's slow-subscriber policy.
#include "net/connection.h"

#include <algorithm>
#include "http/response.h"
#include "ws/builder.h"

namespace fasterapi::net {

void Server::drop_topics(Connection* c) {
    if (!c->topics) return;
    for (const auto& t : *c->topics) {
        auto it = topics_.find(t);
        if (it != topics_.end()) {
            it->second.erase(c);
            if (it->second.empty()) {
                if (track_topics_) changed_topics_.insert(it->first);
                topics_.erase(it);
            }
        }
    }
    c->topics.reset();
}

bool Server::subscribe(uint64_t id, const std::string& topic) {
    Connection* c = find(id);
    if (!c || (c->kind != ConnKind::WebSocket && c->kind != ConnKind::Sse)) return false;
    if (!c->topics) c->topics = std::make_unique<std::vector<std::string>>();
    if (std::find(c->topics->begin(), c->topics->end(), topic) == c->topics->end())
        c->topics->push_back(topic);
    auto& subs = topics_[topic];
    if (subs.insert(c).second && subs.size() == 1 && track_topics_) changed_topics_.insert(topic);
    return true;
}

bool Server::unsubscribe(uint64_t id, const std::string& topic) {
    Connection* c = find(id);
    if (!c || !c->topics) return false;
    auto& t = *c->topics;
    auto it = std::find(t.begin(), t.end(), topic);
    if (it == t.end()) return false;
    t.erase(it);
    auto tt = topics_.find(topic);
    if (tt != topics_.end()) {
        tt->second.erase(c);
        if (tt->second.empty()) {
            if (track_topics_) changed_topics_.insert(topic);
            topics_.erase(tt);
        }
    }
    return true;
}

std::vector<std::string> Server::take_topic_changes() {
    std::vector<std::string> out(changed_topics_.begin(), changed_topics_.end());
    changed_topics_.clear();
    return out;
}

size_t Server::subscribers(const std::string& topic) const {
    auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.size();
}

size_t Server::publish(const std::string& topic, std::string_view data, bool text,
                       std::string_view sse_encoded) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    // Frames built once: plain, compressed once per window size for peers whose server-side
    // context is reset per message (server_no_context_takeover: any of them can inflate the
    // same bytes, as with uWS's shared compressor), and the SSE chunk once.
    std::string plain, sse_chunk;
    std::array<std::string, 16> shared_z;
    uint8_t hdr[14];
    size_t hl = ws::write_frame_header(hdr, text ? ws::Opcode::Text : ws::Opcode::Binary, true, false,
                                       data.size(), nullptr);
    plain.assign(reinterpret_cast<char*>(hdr), hl);
    plain.append(data);
    std::vector<Connection*> targets(it->second.begin(), it->second.end());
    size_t delivered = 0;
    bool was_corking = corking_;  // a callback below may publish again (nested)
    corking_ = true;  // every write below waits for uncork(): one write per subscriber per loop iteration
    for (Connection* c : targets) {
        if (c->closed) continue;
        if (c->kind == ConnKind::WebSocket) {
            if (c->ws->close_sent) continue;
            const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(c->ws->route)];
            if (c->buffered() > ro.max_backlog) {
                if (ro.slow_policy == SlowPolicy::Drop) {
                    stats_.slow_dropped++;
                } else {
                    // Close 1008 behind the backlog (one small frame over max_backlog, within
                    // max_send_buffer); nothing more is queued, and if the peer has not read up
                    // to it and answered within close_timeout the TCP connection is closed.
                    // The application hears 1008 now.
                    stats_.slow_closed++;
                    drop_topics(c);
                    start_ws_close(c, 1008, "subscriber too slow");
                    if (!c->closed && c->notify_close) {
                        c->notify_close = false;
                        cb_->on_close(c->id, 1008, "subscriber too slow");
                    }
                }
                continue;
            }
            if (c->ws->deflate && c->ws->params.server_no_context_takeover && !ro.fragment_size &&
                data.size() >= ro.deflate.min_size) {
                int bits = std::clamp(c->ws->params.server_max_window_bits, 9, 15);
                std::string& z = shared_z[static_cast<size_t>(bits)];
                if (z.empty()) {
                    auto& d = shared_deflaters_[static_cast<size_t>(bits)];
                    if (!d)
                        d = std::make_unique<ws::Deflater>(bits, ro.deflate.mem_level, true,
                                                           ro.deflate.compression_level);
                    std::string payload;
                    d->compress(data, payload);
                    uint8_t zh[14];
                    size_t zl = ws::write_frame_header(zh, text ? ws::Opcode::Text : ws::Opcode::Binary, true,
                                                       true, payload.size(), nullptr);
                    z.assign(reinterpret_cast<char*>(zh), zl);
                    z.append(payload);
                    stats_.shared_compressions++;
                }
                write_out(c, z);
            } else if (c->ws->deflate) {
                send_ws_frame(c, text ? 1 : 2, data, true);
            } else {
                write_out(c, plain);
            }
            stats_.ws_messages_out++;
            delivered++;
        } else if (c->kind == ConnKind::Sse) {
            if (sse_encoded.empty()) continue;
            const SseRouteOptions& so = sse_routes_[static_cast<size_t>(c->sse_route)];
            if (c->buffered() > so.max_backlog) {
                if (so.slow_policy == SlowPolicy::Drop) {
                    stats_.slow_dropped++;
                } else {
                    stats_.slow_closed++;
                    close_conn(c, 1008, "subscriber too slow");
                }
                continue;
            }
            if (c->sse_chunked) {
                if (sse_chunk.empty()) http::append_chunk(sse_chunk, sse_encoded);
                write_out(c, sse_chunk);
            } else {
                write_out(c, sse_encoded);
            }
            delivered++;
        }
    }
    corking_ = was_corking;
    return delivered;
}

}  // namespace fasterapi::net
