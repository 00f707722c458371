// Fused LSTM / GRU gate kernels (see rnn.h): one pass over each row, the nonlinearities through
// the vectorised vmath sigmoid and tanh. Rows are independent: split over threads above
// kParallelMin elements, so results do not depend on the thread count.
#include "kernels/rnn.h"

#include <vector>

#include "kernels/vmath.h"
#include "tensor/iter.h"

namespace fastgrad {

template <class T>
void lstm_cell_forward(int64_t B, int64_t H, const T* gates, int64_t ldg, const T* c, int64_t ldc,
                       T* act, T* hc) {
  parallel_for(B, B * H * 4 >= kParallelMin, [&](int64_t b) {
    const T* g = gates + b * ldg;
    T* a = act + b * 4 * H;
    vsigmoid(2 * H, g, a);                  // i, f
    vtanh(H, g + 2 * H, a + 2 * H);         // g
    vsigmoid(H, g + 3 * H, a + 3 * H);      // o
    const T* cr = c + b * ldc;
    T* h = hc + b * 2 * H;
    T* c2 = h + H;
    for (int64_t j = 0; j < H; ++j) c2[j] = a[H + j] * cr[j] + a[j] * a[2 * H + j];
    vtanh(H, c2, h);
    for (int64_t j = 0; j < H; ++j) h[j] *= a[3 * H + j];
  });
}

template <class T>
void lstm_cell_backward(int64_t B, int64_t H, const T* dhc, int64_t ldd, const T* act, const T* c,
                        int64_t ldc, const T* hc, T* dgates, T* dc) {
  parallel_for(B, B * H * 4 >= kParallelMin, [&](int64_t b) {
    thread_local std::vector<T> tc;
    if (static_cast<int64_t>(tc.size()) < H) tc.resize(static_cast<size_t>(H));
    const T* a = act + b * 4 * H;
    const T* dh = dhc + b * ldd;
    const T* dc2 = dh + H;
    const T* cr = c + b * ldc;
    vtanh(H, hc + b * 2 * H + H, tc.data());
    T* d = dgates + b * 4 * H;
    T* dcr = dc + b * H;
    for (int64_t j = 0; j < H; ++j) {
      const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], t = tc[j];
      const T dct = dc2[j] + dh[j] * o * (T(1) - t * t);
      d[j] = dct * g * i * (T(1) - i);
      d[H + j] = dct * cr[j] * f * (T(1) - f);
      d[2 * H + j] = dct * i * (T(1) - g * g);
      d[3 * H + j] = dh[j] * t * o * (T(1) - o);
      dcr[j] = dct * f;
    }
  });
}

template <class T>
void gru_cell_forward(int64_t B, int64_t H, const T* xg, int64_t ldx, const T* hg, int64_t ldh,
                      const T* h, int64_t ldp, T* act, T* h2) {
  parallel_for(B, B * H * 3 >= kParallelMin, [&](int64_t b) {
    const T* x = xg + b * ldx;
    const T* hh = hg + b * ldh;
    const T* hp = h + b * ldp;
    T* a = act + b * 3 * H;
    for (int64_t j = 0; j < 2 * H; ++j) a[j] = x[j] + hh[j];
    vsigmoid(2 * H, a, a);                   // r, z
    T* n = a + 2 * H;
    for (int64_t j = 0; j < H; ++j) n[j] = x[2 * H + j] + a[j] * hh[2 * H + j];
    vtanh(H, n, n);
    T* out = h2 + b * H;
    for (int64_t j = 0; j < H; ++j) out[j] = n[j] + a[H + j] * (hp[j] - n[j]);
  });
}

template <class T>
void gru_cell_backward(int64_t B, int64_t H, const T* dh2, int64_t ldd, const T* act, const T* hg,
                       int64_t ldh, const T* h, int64_t ldp, T* dxg, T* dhg, T* dh) {
  parallel_for(B, B * H * 3 >= kParallelMin, [&](int64_t b) {
    const T* a = act + b * 3 * H;
    const T* g = dh2 + b * ldd;
    const T* hh = hg + b * ldh;
    const T* hp = h + b * ldp;
    T* dx = dxg + b * 3 * H;
    T* dhh = dhg + b * 3 * H;
    T* dp = dh + b * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = a[j], z = a[H + j], n = a[2 * H + j];
      const T dn = g[j] * (T(1) - z) * (T(1) - n * n);
      const T dz = g[j] * (hp[j] - n) * z * (T(1) - z);
      const T dr = dn * hh[2 * H + j] * r * (T(1) - r);
      dx[j] = dr;
      dx[H + j] = dz;
      dx[2 * H + j] = dn;
      dhh[j] = dr;
      dhh[H + j] = dz;
      dhh[2 * H + j] = dn * r;
      dp[j] = g[j] * z;
    }
  });
}

#define FG_INSTANTIATE(T)                                                                        \
  template void lstm_cell_forward<T>(int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, \
                                     T*);                                                        \
  template void lstm_cell_backward<T>(int64_t, int64_t, const T*, int64_t, const T*, const T*,   \
                                      int64_t, const T*, T*, T*);                                \
  template void gru_cell_forward<T>(int64_t, int64_t, const T*, int64_t, const T*, int64_t,      \
                                    const T*, int64_t, T*, T*);                                  \
  template void gru_cell_backward<T>(int64_t, int64_t, const T*, int64_t, const T*, const T*,    \
                                     int64_t, const T*, int64_t, T*, T*, T*);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fastgrad
