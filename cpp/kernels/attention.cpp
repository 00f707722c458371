// Blocked attention (see attention.h). Each of the BH problems is handled by one thread from
// start to end in a fixed block order, so results do not depend on the thread count; the block
// products go through gemm (serial inside a parallel region).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/vmath.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

constexpr int64_t kBq = 64;   // query rows per block
constexpr int64_t kBk = 256;  // keys per block

// s (bq, bk), row stride kBk: scale, add the mask block, mask j > i when causal.
template <class T>
void finish_scores(int64_t bq, int64_t bk, int64_t i0, int64_t j0, T scale, const T* mask,
                   const int64_t* ms, int64_t b, int64_t h, bool causal, T* s) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < bq; ++r) {
    T* row = s + r * kBk;
    for (int64_t c = 0; c < bk; ++c) row[c] *= scale;
    if (mask != nullptr) {
      const T* m = mask + b * ms[0] + h * ms[1] + (i0 + r) * ms[2] + j0 * ms[3];
      for (int64_t c = 0; c < bk; ++c) row[c] += m[c * ms[3]];
    }
    if (causal)
      for (int64_t c = std::max<int64_t>(0, i0 + r + 1 - j0); c < bk; ++c) row[c] = ninf;
  }
}

template <class T>
void forward_one(int64_t b, int64_t h, int64_t L, int64_t S, int64_t E, int64_t D, const T* q,
                 const T* k, const T* v, const T* mask, const int64_t* ms, bool causal, T scale,
                 T* out, T* lse) {
  const T ninf = -std::numeric_limits<T>::infinity();
  std::vector<T> sbuf(static_cast<size_t>(kBq * kBk)), m(kBq), l(kBq);
  for (int64_t i0 = 0; i0 < L; i0 += kBq) {
    const int64_t bq = std::min(kBq, L - i0);
    T* o = out + i0 * D;
    std::fill(o, o + bq * D, T(0));
    std::fill(m.begin(), m.end(), ninf);
    std::fill(l.begin(), l.end(), T(0));
    const int64_t jend = causal ? std::min(S, i0 + bq) : S;
    for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
      const int64_t bk = std::min(kBk, jend - j0);
      T* s = sbuf.data();
      gemm(bq, bk, E, q + i0 * E, E, 1, k + j0 * E, 1, E, T(0), s, kBk, 1);
      finish_scores(bq, bk, i0, j0, scale, mask, ms, b, h, causal, s);
      for (int64_t r = 0; r < bq; ++r) {
        T* row = s + r * kBk;
        const T mx = std::max(m[r], vmax(bk, row));
        if (mx == ninf) {  // everything so far masked: this block adds nothing
          std::fill(row, row + bk, T(0));
          continue;
        }
        const T alpha = std::exp(m[r] - mx);
        vexp_shift_scale(bk, row, mx, T(1), row);
        l[r] = l[r] * alpha + vsum(bk, row);
        m[r] = mx;
        if (alpha != T(1))
          for (int64_t d = 0; d < D; ++d) o[r * D + d] *= alpha;
      }
      gemm(bq, D, bk, s, kBk, 1, v + j0 * D, D, 1, T(1), o, D, 1);
    }
    for (int64_t r = 0; r < bq; ++r) {
      const T inv = T(1) / l[r];  // l == 0 (a fully masked row): NaN, as softmax gives
      for (int64_t d = 0; d < D; ++d)
        o[r * D + d] = l[r] > 0 ? o[r * D + d] * inv : std::numeric_limits<T>::quiet_NaN();
      lse[i0 + r] = l[r] > 0 ? m[r] + std::log(l[r]) : ninf;
    }
  }
}

template <class T>
void backward_one(int64_t b, int64_t h, int64_t L, int64_t S, int64_t E, int64_t D, const T* q,
                  const T* k, const T* v, const T* mask, const int64_t* ms, bool causal, T scale,
                  const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  const T ninf = -std::numeric_limits<T>::infinity();
  std::vector<T> pbuf(static_cast<size_t>(kBq * kBk)), dpbuf(static_cast<size_t>(kBq * kBk));
  std::vector<T> delta(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) {
    T acc = 0;
    for (int64_t d = 0; d < D; ++d) acc += dout[i * D + d] * out[i * D + d];
    delta[i] = acc;
  }
  std::fill(dq, dq + L * E, T(0));
  std::fill(dk, dk + S * E, T(0));
  std::fill(dv, dv + S * D, T(0));
  for (int64_t j0 = 0; j0 < S; j0 += kBk) {
    const int64_t bk = std::min(kBk, S - j0);
    const int64_t istart = causal ? (j0 / kBq) * kBq : 0;
    for (int64_t i0 = istart; i0 < L; i0 += kBq) {
      const int64_t bq = std::min(kBq, L - i0);
      T* p = pbuf.data();
      T* dp = dpbuf.data();
      gemm(bq, bk, E, q + i0 * E, E, 1, k + j0 * E, 1, E, T(0), p, kBk, 1);
      finish_scores(bq, bk, i0, j0, scale, mask, ms, b, h, causal, p);
      for (int64_t r = 0; r < bq; ++r) {
        T* row = p + r * kBk;
        if (lse[i0 + r] == ninf) std::fill(row, row + bk, T(0));
        else vexp_shift_scale(bk, row, lse[i0 + r], T(1), row);
      }
      // dV_j += P^T dO_i
      gemm(bk, D, bq, p, 1, kBk, dout + i0 * D, D, 1, T(1), dv + j0 * D, D, 1);
      // dP = dO_i V_j^T, then dS = P (dP - delta) scale
      gemm(bq, bk, D, dout + i0 * D, D, 1, v + j0 * D, 1, D, T(0), dp, kBk, 1);
      for (int64_t r = 0; r < bq; ++r) {
        const T dl = delta[i0 + r];
        T* dr = dp + r * kBk;
        const T* pr = p + r * kBk;
        for (int64_t c = 0; c < bk; ++c) dr[c] = pr[c] * (dr[c] - dl) * scale;
      }
      // dQ_i += dS K_j ; dK_j += dS^T Q_i
      gemm(bq, E, bk, dp, kBk, 1, k + j0 * E, E, 1, T(1), dq + i0 * E, E, 1);
      gemm(bk, E, bq, dp, 1, kBk, q + i0 * E, E, 1, T(1), dk + j0 * E, E, 1);
    }
  }
}

}  // namespace

template <class T>
void attention_forward(int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t D, const T* q,
                       const T* k, const T* v, const T* mask, const int64_t* ms, bool causal,
                       T scale, T* out, T* lse) {
  parallel_for(B * H, L * S * (E + D) >= kParallelMin, [&](int64_t bh) {
    forward_one(bh / H, bh % H, L, S, E, D, q + bh * L * E, k + bh * S * E, v + bh * S * D, mask,
                ms, causal, scale, out + bh * L * D, lse + bh * L);
  });
}

template <class T>
void attention_backward(int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t D,
                        const T* q, const T* k, const T* v, const T* mask, const int64_t* ms,
                        bool causal, T scale, const T* out, const T* lse, const T* dout, T* dq,
                        T* dk, T* dv) {
  parallel_for(B * H, L * S * (E + D) >= kParallelMin, [&](int64_t bh) {
    backward_one(bh / H, bh % H, L, S, E, D, q + bh * L * E, k + bh * S * E, v + bh * S * D, mask,
                 ms, causal, scale, out + bh * L * D, lse + bh * L, dout + bh * L * D,
                 dq + bh * L * E, dk + bh * S * E, dv + bh * S * D);
  });
}

#define FG_INSTANTIATE(T)                                                                          \
  template void attention_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,         \
                                     const T*, const T*, const T*, const T*, const int64_t*, bool, \
                                     T, T*, T*);                                                   \
  template void attention_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,        \
                                      const T*, const T*, const T*, const T*, const int64_t*,      \
                                      bool, T, const T*, const T*, const T*, T*, T*, T*);
FG_INSTANTIATE(float)
FG_INSTANTIATE(double)
#undef FG_INSTANTIATE

}  // namespace fastgrad
