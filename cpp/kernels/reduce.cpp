// Reduction kernels: sum / max / min and argmax / argmin over one axis, and the fused softmax /
// log_softmax with a branch-free exp. Portable C++ the compiler vectorises (fixed lane
// accumulators, `omp simd`), no intrinsics; no Tensor, no autograd, no argument checks.
//
// Dimension key: O = kept outer length, R = reduced length (R >= 1), I = kept inner length (unit
// stride); ld, so, sr = strides in elements between rows, O entries and R entries; n = the length
// of one piece of a row or one chunk of columns.
#include "kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/vmath.h"
#include "tensor/iter.h"

namespace fastgrad {
namespace {

// Note [Deterministic reductions]: every result is a fixed function of the data and the layout,
// never of the thread count. A row is cut into kRowBlock-element pieces and a column reduction
// into col_block_rows(I, sr)-row blocks; each piece is reduced in one fixed order (kLanes
// interleaved accumulators along a row, row after row for columns) and the piece results are
// combined serially in order. Threads only decide who computes which piece or which columns;
// no reduction(+:...) on floats.
constexpr int64_t kLanes = 16;
constexpr int64_t kRowBlock = kBlock;
constexpr int64_t kColRows = 64;
constexpr int64_t kColChunk = 1024;  // columns per task at most: its accumulators stay in L1
constexpr int64_t kWide = 64;         // lanes of a narrow column reduction
constexpr int64_t kNarrowBlock = 4096;  // elements per row block of a narrow column reduction

template <class A>
inline bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) {
    return v != v;
  } else {
    return false;
  }
}

struct SumOp {
  template <class A> static A apply(A a, A b) { return a + b; }
};
// NaN wins: once the running value is NaN it stays NaN (as NumPy's max).
struct MaxOp {
  template <class A> static A apply(A a, A b) { return ((b > a) | is_nan(b)) ? b : a; }
  template <class A> static bool better(A v, A b) { return (v > b) | (is_nan(v) & !is_nan(b)); }
};
struct MinOp {
  template <class A> static A apply(A a, A b) { return ((b < a) | is_nan(b)) ? b : a; }
  template <class A> static bool better(A v, A b) { return (v < b) | (is_nan(v) & !is_nan(b)); }
};

// x (n,) contiguous, n >= 1 -> op over x; the lane layout below defines the rounding order.
template <class Op, class Acc, class T>
Acc reduce_contig(const T* __restrict x, int64_t n) {
  if (n < kLanes) {
    Acc a = static_cast<Acc>(x[0]);
    for (int64_t i = 1; i < n; ++i) a = Op::apply(a, static_cast<Acc>(x[i]));
    return a;
  }
  Acc lane[kLanes];
  for (int64_t k = 0; k < kLanes; ++k) lane[k] = static_cast<Acc>(x[k]);
  int64_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int64_t k = 0; k < kLanes; ++k) lane[k] = Op::apply(lane[k], static_cast<Acc>(x[i + k]));
  }
  for (int64_t w = kLanes / 2; w > 0; w /= 2)
    for (int64_t k = 0; k < w; ++k) lane[k] = Op::apply(lane[k], lane[k + w]);
  Acc a = lane[0];
  for (; i < n; ++i) a = Op::apply(a, static_cast<Acc>(x[i]));
  return a;
}

// x (rows, n) with row stride sr, rows >= 1 -> part (n,) = op over the rows, row after row. Narrow
// dense rows (sr == n < kLanes) are read instead as one flat run, g rows (kWide elements) at a
// time, whose g partial rows are folded in order at the end.
template <class Op, class Acc, class T>
void reduce_chunk(int64_t rows, int64_t n, const T* __restrict x, int64_t sr,
                  Acc* __restrict part) {
  const int64_t g = kWide / n, w = g * n;
  if (sr == n && n < kLanes && rows >= 2 * g) {
    Acc lane[kWide];
    for (int64_t j = 0; j < w; ++j) lane[j] = static_cast<Acc>(x[j]);
    const int64_t groups = rows / g;
    for (int64_t b = 1; b < groups; ++b) {
      const T* __restrict p = x + b * w;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) lane[j] = Op::apply(lane[j], static_cast<Acc>(p[j]));
    }
    for (int64_t i = 0; i < n; ++i) {
      Acc a = lane[i];
      for (int64_t q = 1; q < g; ++q) a = Op::apply(a, lane[q * n + i]);
      part[i] = a;
    }
    for (int64_t r = groups * g; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) part[i] = Op::apply(part[i], static_cast<Acc>(x[r * n + i]));
    return;
  }
  for (int64_t i = 0; i < n; ++i) part[i] = static_cast<Acc>(x[i]);
  for (int64_t r = 1; r < rows; ++r) {
    const T* __restrict p = x + r * sr;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) part[i] = Op::apply(part[i], static_cast<Acc>(p[i]));
  }
}

// Rows per block of a column reduction (a function of the layout only): longer blocks where
// reduce_chunk takes its narrow path, whose lanes keep each sequential run short anyway.
int64_t col_block_rows(int64_t I, int64_t sr) {
  return sr == I && I < kLanes ? std::max(kColRows, kNarrowBlock / I) : kColRows;
}

// Columns per task: kColChunk (long unit-stride runs), fewer when that would leave threads idle.
// The width never changes a result: every column is reduced on its own, and a width of at least
// kLanes keeps the narrow path of reduce_chunk for exactly the same shapes.
int64_t chunk_width(int64_t O, int64_t I, bool par) {
  const int64_t want = 4 * static_cast<int64_t>(num_threads());
  if (!par || O * ((I + kColChunk - 1) / kColChunk) >= want) return kColChunk;
  const int64_t w = ((O * I + want - 1) / want + 15) / 16 * 16;
  return std::min(kColChunk, std::max<int64_t>(64, w));
}

// x (O, R) with row stride ld -> out (O,).
template <class Op, class T, class Out>
void rows_impl(int64_t O, int64_t R, const T* x, int64_t ld, Out* out) {
  const int64_t nb = (R + kRowBlock - 1) / kRowBlock;
  const bool par = O * R >= kParallelMin;
  if (nb == 1) {
    parallel_for(O, par, [&](int64_t o) { out[o] = reduce_contig<Op, Out>(x + o * ld, R); });
    return;
  }
  std::vector<Out> part(static_cast<size_t>(O * nb));
  Out* pp = part.data();
  parallel_for(O * nb, par, [&](int64_t t) {
    const int64_t o = t / nb, r0 = (t % nb) * kRowBlock;
    pp[t] = reduce_contig<Op, Out>(x + o * ld + r0, std::min(kRowBlock, R - r0));
  });
  for (int64_t o = 0; o < O; ++o) {
    Out a = pp[o * nb];
    for (int64_t b = 1; b < nb; ++b) a = Op::apply(a, pp[o * nb + b]);
    out[o] = a;
  }
}

// x (O, R, I) -> out (O, I), each row block into a buffer first: for few (o, chunk) tasks and a
// long R. Same blocks and combination order as cols_impl, so the same bits.
template <class Op, class T, class Out>
void cols_split(int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr, Out* out) {
  const int64_t nc = (I + kColChunk - 1) / kColChunk;
  const int64_t br = col_block_rows(I, sr), nrb = (R + br - 1) / br;
  std::vector<Out> buf(static_cast<size_t>(O * nrb * I));
  Out* pb = buf.data();
  parallel_for(O * nrb * nc, true, [&](int64_t t) {
    const int64_t o = t / (nrb * nc), r0 = t / nc % nrb * br, i0 = t % nc * kColChunk;
    reduce_chunk<Op>(std::min(br, R - r0), std::min(kColChunk, I - i0), x + o * so + r0 * sr + i0,
                     sr, pb + (o * nrb + r0 / br) * I + i0);
  });
  parallel_for(O * nc, true, [&](int64_t t) {
    const int64_t o = t / nc, i0 = t % nc * kColChunk, n = std::min(kColChunk, I - i0);
    Out* acc = out + o * I + i0;
    const Out* p = pb + o * nrb * I + i0;
    for (int64_t i = 0; i < n; ++i) acc[i] = p[i];
    for (int64_t b = 1; b < nrb; ++b)
      for (int64_t i = 0; i < n; ++i) acc[i] = Op::apply(acc[i], p[b * I + i]);
  });
}

// x (O, R, I) -> out (O, I); one task per (o, chunk of columns).
template <class Op, class T, class Out>
void cols_impl(int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr, Out* out) {
  const bool par = O * R * I >= kParallelMin;
  const int64_t w = chunk_width(O, I, par), nc = (I + w - 1) / w;
  const int64_t br = col_block_rows(I, sr), tasks = O * nc;
  const int nt = num_threads();
  if (par && nt > 1 && R > br && tasks < 4 * nt) {  // a choice of speed only
    cols_split<Op>(O, R, I, x, so, sr, out);
    return;
  }
  parallel_for(tasks, par, [&](int64_t t) {
    const int64_t o = t / nc, i0 = t % nc * w, n = std::min(w, I - i0);
    const T* base = x + o * so + i0;
    Out* acc = out + o * I + i0;
    Out part[kColChunk];
    reduce_chunk<Op>(std::min(br, R), n, base, sr, acc);
    for (int64_t r0 = br; r0 < R; r0 += br) {
      reduce_chunk<Op>(std::min(br, R - r0), n, base + r0 * sr, sr, part);
      for (int64_t i = 0; i < n; ++i) acc[i] = Op::apply(acc[i], part[i]);
    }
  });
}

// x (n,), n >= 1, m an element of x -> the first i with x[i] == m (m NaN: the first NaN).
template <class T>
int64_t find_first(const T* x, int64_t n, T m) {
  if (is_nan(m)) {
    for (int64_t i = 0; i < n; ++i)
      if (is_nan(x[i])) return i;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    int hit = 0;
#pragma omp simd reduction(| : hit)
    for (int64_t k = 0; k < kLanes; ++k) hit |= x[i + k] == m;
    if (hit) break;
  }
  for (; i < n; ++i)
    if (x[i] == m) return i;
  return 0;
}

// x (O, R) with row stride ld -> out (O,): per piece the extreme value (vectorised), then its
// first position; pieces combined in order with a strict comparison, so ties keep the first.
template <class Op, class T>
void argrows_impl(int64_t O, int64_t R, const T* x, int64_t ld, int64_t* out) {
  const int64_t nb = (R + kRowBlock - 1) / kRowBlock;
  const bool par = O * R >= kParallelMin;
  if (nb == 1) {
    parallel_for(O, par, [&](int64_t o) {
      const T* p = x + o * ld;
      out[o] = find_first(p, R, reduce_contig<Op, T>(p, R));
    });
    return;
  }
  std::vector<T> val(static_cast<size_t>(O * nb));
  std::vector<int64_t> pos(static_cast<size_t>(O * nb));
  T* pv = val.data();
  int64_t* pp = pos.data();
  parallel_for(O * nb, par, [&](int64_t t) {
    const int64_t o = t / nb, r0 = (t % nb) * kRowBlock, n = std::min(kRowBlock, R - r0);
    const T* p = x + o * ld + r0;
    pv[t] = reduce_contig<Op, T>(p, n);
    pp[t] = r0 + find_first(p, n, pv[t]);
  });
  for (int64_t o = 0; o < O; ++o) {
    int64_t best = o * nb;
    for (int64_t t = o * nb + 1; t < (o + 1) * nb; ++t)
      if (Op::better(pv[t], pv[best])) best = t;
    out[o] = pp[best];
  }
}

// x (R, n) with row stride sr -> out (n,): the first r of each column's extreme. Idx has T's
// width (int32 for float when R fits) so that the select loop vectorises.
template <class Op, class Idx, class T>
void argcols_chunk(int64_t R, int64_t n, const T* __restrict x, int64_t sr,
                   int64_t* __restrict out) {
  T best[kColChunk];
  Idx pos[kColChunk];
  for (int64_t i = 0; i < n; ++i) {
    best[i] = x[i];
    pos[i] = 0;
  }
  for (int64_t r = 1; r < R; ++r) {
    const T* __restrict p = x + r * sr;
    const Idx rr = static_cast<Idx>(r);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const T v = p[i], b = best[i];
      const bool take = Op::better(v, b);
      best[i] = take ? v : b;
      pos[i] = take ? rr : pos[i];
    }
  }
  for (int64_t i = 0; i < n; ++i) out[i] = pos[i];
}

// x (O, R, I) -> out (O, I); one task per (o, chunk of columns).
template <class Op, class T>
void argcols_impl(int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr,
                  int64_t* out) {
  const bool par = O * R * I >= kParallelMin;
  const int64_t w = chunk_width(O, I, par), nc = (I + w - 1) / w;
  using Narrow = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  const bool narrow = R <= std::numeric_limits<Narrow>::max();
  parallel_for(O * nc, par, [&](int64_t t) {
    const int64_t o = t / nc, i0 = t % nc * w, n = std::min(w, I - i0);
    if (narrow) {
      argcols_chunk<Op, Narrow>(R, n, x + o * so + i0, sr, out + o * I + i0);
    } else {
      argcols_chunk<Op, int64_t>(R, n, x + o * so + i0, sr, out + o * I + i0);
    }
  });
}

// y (n,) = exp(x - m) for x (n,) with x <= m or NaN.
template <class T>
void exp_shifted(int64_t n, const T* __restrict x, const T* __restrict m, int64_t m_step,
                 T* __restrict y) {
  for (int64_t i = 0; i < n; ++i) {
    const T d = x[i] - m[i * m_step];
    y[i] = d < kExpLo<T> ? kExpLo<T> : d;  // a separate pass: a select inside exp_core would
  }                                         // stop it vectorising (-ftrapping-math)
  for (int64_t i = 0; i < n; ++i) y[i] = exp_core(y[i]);
}

// x (R,) -> y (R,): exp(x - max) / sum, or (x - max) - log(sum).
template <class T>
void softmax_row(bool log_space, int64_t R, const T* __restrict x, T* __restrict y) {
  const T m = reduce_contig<MaxOp, T>(x, R);
  vexp_shift_scale(R, x, m, T(1), y);
  const T s = reduce_contig<SumOp, T>(y, R);
  if (log_space) {
    const T ls = std::log(s);
    for (int64_t r = 0; r < R; ++r) y[r] = (x[r] - m) - ls;
  } else {
    const T inv = T(1) / s;
    for (int64_t r = 0; r < R; ++r) y[r] *= inv;
  }
}

// x (R, n) -> y (R, n) with row stride I: softmax of each column over R.
template <class T>
void softmax_chunk(bool log_space, int64_t R, int64_t n, int64_t I, const T* __restrict x,
                   T* __restrict y) {
  T m[kColChunk], s[kColChunk];
  reduce_chunk<MaxOp>(R, n, x, I, m);
  for (int64_t i = 0; i < n; ++i) s[i] = 0;
  for (int64_t r = 0; r < R; ++r) {
    exp_shifted(n, x + r * I, m, 1, y + r * I);
    for (int64_t i = 0; i < n; ++i) s[i] += y[r * I + i];
  }
  for (int64_t i = 0; i < n; ++i) s[i] = log_space ? std::log(s[i]) : T(1) / s[i];
  for (int64_t r = 0; r < R; ++r) {
    const T* p = x + r * I;
    T* q = y + r * I;
    if (log_space) {
      for (int64_t i = 0; i < n; ++i) q[i] = (p[i] - m[i]) - s[i];
    } else {
      for (int64_t i = 0; i < n; ++i) q[i] *= s[i];
    }
  }
}

}  // namespace

template <class T, class Out>
void reduce_rows(Reduce op, int64_t O, int64_t R, const T* x, int64_t ld, Out* out) {
  switch (op) {
    case Reduce::Sum: rows_impl<SumOp>(O, R, x, ld, out); break;
    case Reduce::Max: rows_impl<MaxOp>(O, R, x, ld, out); break;
    case Reduce::Min: rows_impl<MinOp>(O, R, x, ld, out); break;
  }
}

template <class T, class Out>
void reduce_cols(Reduce op, int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr,
                 Out* out) {
  switch (op) {
    case Reduce::Sum: cols_impl<SumOp>(O, R, I, x, so, sr, out); break;
    case Reduce::Max: cols_impl<MaxOp>(O, R, I, x, so, sr, out); break;
    case Reduce::Min: cols_impl<MinOp>(O, R, I, x, so, sr, out); break;
  }
}

template <class T>
void argreduce_rows(Reduce op, int64_t O, int64_t R, const T* x, int64_t ld, int64_t* out) {
  if (op == Reduce::Min) {
    argrows_impl<MinOp>(O, R, x, ld, out);
  } else {
    argrows_impl<MaxOp>(O, R, x, ld, out);
  }
}

template <class T>
void argreduce_cols(Reduce op, int64_t O, int64_t R, int64_t I, const T* x, int64_t so, int64_t sr,
                    int64_t* out) {
  if (op == Reduce::Min) {
    argcols_impl<MinOp>(O, R, I, x, so, sr, out);
  } else {
    argcols_impl<MaxOp>(O, R, I, x, so, sr, out);
  }
}

template <class T>
void softmax_forward(bool log_space, int64_t O, int64_t R, int64_t I, const T* x, T* y) {
  const bool par = O * R * I >= kParallelMin;
  if (I == 1) {
    parallel_for(O, par, [&](int64_t o) { softmax_row(log_space, R, x + o * R, y + o * R); });
    return;
  }
  const int64_t w = chunk_width(O, I, par), nc = (I + w - 1) / w;
  parallel_for(O * nc, par, [&](int64_t t) {
    const int64_t o = t / nc, i0 = t % nc * w;
    const int64_t off = o * R * I + i0;
    softmax_chunk(log_space, R, std::min(w, I - i0), I, x + off, y + off);
  });
}

#define FG_REDUCE_INSTANTIATE(T, Out)                                                              \
  template void reduce_rows<T, Out>(Reduce, int64_t, int64_t, const T*, int64_t, Out*);            \
  template void reduce_cols<T, Out>(Reduce, int64_t, int64_t, int64_t, const T*, int64_t, int64_t, \
                                    Out*);
FG_REDUCE_INSTANTIATE(float, float)
FG_REDUCE_INSTANTIATE(double, double)
FG_REDUCE_INSTANTIATE(int64_t, int64_t)
FG_REDUCE_INSTANTIATE(bool, int64_t)
#undef FG_REDUCE_INSTANTIATE

#define FG_ARG_INSTANTIATE(T)                                                                    \
  template void argreduce_rows<T>(Reduce, int64_t, int64_t, const T*, int64_t, int64_t*);        \
  template void argreduce_cols<T>(Reduce, int64_t, int64_t, int64_t, const T*, int64_t, int64_t, \
                                  int64_t*);
FG_ARG_INSTANTIATE(float)
FG_ARG_INSTANTIATE(double)
FG_ARG_INSTANTIATE(int64_t)
#undef FG_ARG_INSTANTIATE

template void softmax_forward<float>(bool, int64_t, int64_t, int64_t, const float*, float*);
template void softmax_forward<double>(bool, int64_t, int64_t, int64_t, const double*, double*);

}  // namespace fastgrad
