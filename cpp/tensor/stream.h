// Non-temporal output for large elementwise results. Note [Streaming stores]: an output far
// larger than the caches is written once and read only much later (ReLU's output by its
// backward), so an ordinary store pays a read-for-ownership of every line it writes. Large maps
// compute each piece of a row into a buffer that stays in L1, then stream it to memory, which
// cuts the memory traffic of a unary op from three passes to two.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastgrad {

// Outputs of at least this many bytes are streamed (twice the per-core L2 of these machines).
constexpr int64_t kStreamBytes = int64_t(8) << 20;
constexpr int64_t kStreamChunk = 1024;  // elements computed into the L1 buffer at a time

// Copies `bytes` from `src` to `dst` bypassing the caches where the target allows it (SSE2
// non-temporal stores on x86-64; memcpy elsewhere). The stores are weakly ordered until
// stream_fence(), which costs about half a microsecond, so it ends a whole row, not each piece.
void stream_store(void* dst, const void* src, size_t bytes);
void stream_fence();

// Writes o[0..n) = fill for one contiguous output row. `fill(i0, len, buf)` computes elements
// [i0, i0 + len) into buf; when `stream` is set they go through an L1 buffer and stream_store,
// else straight into o.
template <class T, class Fill>
inline void write_row(T* o, int64_t n, bool stream, Fill&& fill) {
  if (!stream) {
    fill(int64_t{0}, n, o);
    return;
  }
  alignas(64) T buf[kStreamChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kStreamChunk) {
    const int64_t len = n - i0 < kStreamChunk ? n - i0 : kStreamChunk;
    fill(i0, len, buf);
    stream_store(o + i0, buf, static_cast<size_t>(len) * sizeof(T));
  }
  stream_fence();
}

}  // namespace fastgrad
