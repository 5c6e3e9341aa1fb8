/* The bytes the streams carry. Each byte is a function of (stream id, offset),
 * so the model checks what a recv op received or what the peer read without
 * keeping copies, and two streams (or two send ops) never look alike. */
#ifndef PT_CONTENT_H
#define PT_CONTENT_H

#include <cstddef>
#include <cstdint>

namespace pt {

inline uint8_t stream_byte(uint64_t stream, uint64_t offset) {
    uint64_t x = offset * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return static_cast<uint8_t>(x >> 56);
}

inline void fill_stream(uint8_t* dst, size_t n, uint64_t stream, uint64_t offset) {
    for (size_t i = 0; i < n; ++i) dst[i] = stream_byte(stream, offset + i);
}

/* Index of the first byte that differs, or n. */
inline size_t check_stream(const uint8_t* p, size_t n, uint64_t stream, uint64_t offset) {
    for (size_t i = 0; i < n; ++i)
        if (p[i] != stream_byte(stream, offset + i)) return i;
    return n;
}

/* What a recv buffer holds where nothing may be written (CPL_RECV_006). */
constexpr uint8_t kCanary = 0xC5;

/* Stream ids: peer -> port streams and send-op buffers never share an id. */
inline uint64_t peer_stream_id(uint32_t sock_serial) { return (uint64_t{1} << 40) | sock_serial; }
inline uint64_t send_stream_id(uint32_t op_serial) { return (uint64_t{2} << 40) | op_serial; }

} // namespace pt

#endif
