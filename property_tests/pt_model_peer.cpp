/* The peer side of each pair: what the test does to the sockets and how it
 * checks the bytes the port sent (CPL_SEND_001: the peer reads exactly what
 * send ops reported sent, in order). */
#include <algorithm>
#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#include "pt_content.h"
#include "pt_model.h"
#include "pt_model_types.h"

namespace pt {

size_t Model::raw_peer_write(Sock& s, size_t bytes) {
    if (!s.b.valid() || s.shut_wr || s.closed) return 0;
    std::vector<uint8_t> data(bytes ? bytes : 1);
    fill_stream(data.data(), bytes, peer_stream_id(s.serial), s.in_written);
    ssize_t w = ::write(s.b.get(), data.data(), bytes);
    if (w < 0) w = 0; /* EAGAIN: the pair is full */
    s.in_written += static_cast<uint64_t>(w);
    /* Unix pairs queue a write of up to ~2 KB as one buffer the worker reads
     * at once; larger ones may be seen half-written (no exact amount then). */
    if (w > 1024 || s.spec.kind == SockKind::TcpSmall)
        for (Op* p : s.pending)
            if (p->kind == OpKind::Recv) p->nonatomic = true;
    refresh(s);
    return static_cast<size_t>(w);
}

void Model::step_peer_write(Sock& s, uint32_t bytes) {
    if (!s.b.valid() || s.shut_wr || s.closed) {
        note("  skipped: the peer can no longer write");
        return;
    }
    const size_t w = raw_peer_write(s, bytes);
    note("  peer wrote " + std::to_string(w) + " of " + std::to_string(bytes) + " bytes (" +
         std::to_string(s.in_written - s.in_consumed) + " waiting)");
    settle("after the peer wrote");
}

void Model::step_peer_read(Sock& s, bool until_sent) {
    if (!s.b.valid()) {
        note("  skipped: the peer is closed");
        return;
    }
    const uint64_t before = s.out_read;
    if (until_sent) {
        s.force_drain = true;
        settle("while the peer reads everything");
        s.force_drain = false;
    } else {
        drain_peer(s);
        settle("after the peer read");
    }
    note("  peer read " + std::to_string(s.out_read - before) + " bytes");
}

void Model::step_peer_shutdown(Sock& s) {
    if (!s.b.valid() || s.shut_wr) {
        note("  skipped");
        return;
    }
    ::shutdown(s.b.get(), SHUT_WR);
    s.shut_wr = true;
    refresh(s);
    settle("after the peer shut down");
}

void Model::step_peer_close(Sock& s, bool hard) {
    if (!s.b.valid()) {
        note("  skipped: already closed");
        return;
    }
    const int unread = cpk::readable_bytes(s.b.get());
    /* A send still moving bytes makes "unread at close" a race: no claim. */
    const bool sending = s.out_prov && s.out_prov->state == Op::Pending;
    const bool tcp = s.spec.kind == SockKind::TcpSmall;
    if (tcp && hard)
        s.b.reset_close();
    else
        s.b.close();
    s.closed = true;
    s.err_pending = !tcp && unread > 0 && !sending;
    note("  peer closed with " + std::to_string(unread) + " byte(s) unread" +
         (tcp ? (hard ? " (TCP reset)" : " (TCP close)")
              : (unread > 0 ? " (a reset: ECONNRESET for the port's next recv)" : "")) +
         (sending && !tcp ? " while a send was moving bytes" : ""));
    s.err_maybe = sending && !tcp;
    refresh(s);
    settle("after the peer closed");
}

void Model::drain_peer(Sock& s) {
    if (!s.b.valid()) return;
    for (;;) {
        const ssize_t k = ::read(s.b.get(), scratch_.data(), scratch_.size());
        if (k <= 0) break;
        on_peer_bytes(s, scratch_.data(), static_cast<size_t>(k));
    }
}

void Model::drain_all(bool only_draining) {
    for (auto& s : socks_)
        if (!only_draining || drains(*s)) drain_peer(*s);
}

/* Bytes the peer read are matched, in order, against the sends that
 * completed (their reported bytes) and then the one still sending. Bytes that
 * match nothing yet wait: a send added by a callback may already be moving
 * bytes before the model has seen that callback. They must be matched by the
 * end of the case (await_sent_bytes). */
void Model::on_peer_bytes(Sock& s, const uint8_t* p, size_t n) {
    s.unread_match.insert(s.unread_match.end(), p, p + n);
    s.out_read += n;
    match_peer_bytes(s);
}

void Model::match_peer_bytes(Sock& s) {
    const uint8_t* p = s.unread_match.data();
    const size_t n = s.unread_match.size();
    size_t i = 0;
    while (i < n) {
        if (!s.out_segments.empty()) {
            Segment& g = s.out_segments.front();
            const size_t take = static_cast<size_t>(std::min<uint64_t>(n - i, g.end - g.pos));
            const size_t bad = check_stream(p + i, take, send_stream_id(g.serial), g.pos);
            if (bad < take)
                violated("CPL_SEND_001", "the peer of s" + std::to_string(s.id) +
                                             " read a wrong byte: it should be byte " + std::to_string(g.pos + bad) +
                                             " of send op #" + std::to_string(g.serial));
            g.pos += take;
            i += take;
            if (g.pos == g.end) s.out_segments.pop_front();
            continue;
        }
        Op* pv = s.out_prov;
        if (!pv) break;
        const uint64_t limit = std::min<uint64_t>(pv->peer_max, pv->length);
        if (pv->peer_seen >= limit) break;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n - i, limit - pv->peer_seen));
        const size_t bad = check_stream(p + i, take, send_stream_id(pv->serial), pv->peer_seen);
        if (bad < take)
            violated("CPL_SEND_001", "the peer of s" + std::to_string(s.id) + " read a byte that is not byte " +
                                         std::to_string(pv->peer_seen + bad) + " of " + op_name(*pv));
        pv->peer_seen += take;
        i += take;
    }
    s.unread_match.erase(s.unread_match.begin(), s.unread_match.begin() + static_cast<std::ptrdiff_t>(i));
}

uint64_t Model::out_unread(const Sock& s) const {
    uint64_t n = 0;
    for (const Segment& g : s.out_segments) n += g.end - g.pos;
    if (s.out_prov && s.out_prov->state == Op::Pending) n += s.out_prov->length - s.out_prov->peer_seen;
    return n;
}

} // namespace pt
