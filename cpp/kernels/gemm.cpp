// Blocked gemm in the GotoBLAS/BLIS shape: cache blocks, A and B packed into MR/NR micro-panels,
// one register-tiled micro-kernel (k loop inside). Portable C++ with GCC vector extensions, no
// intrinsics and no -march=native: each x86-64 level gets its own tile shape, compiled under a
// target attribute and chosen once at run time. Not the hand-tuned SIMD kernel (that comes later).
//
// Dimension key: M, N, K = rows of C, columns of C, inner length; mc, nc, kc = one cache block of
// them; MR x NR = the register tile (NR = NV vectors of `kLanes` elements); rs_x / cs_x = row /
// column stride of operand x in elements.
#include "kernels/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/iter.h"

#define FG_ALWAYS_INLINE inline __attribute__((always_inline))

namespace fastgrad {
namespace {

// One kernel's shape. Loop order (see gemm_region): an A block (kMc, kKc) is packed once and kept
// in L3; for each B block (kKc, kNc), kept in L2, every A micro-panel (MR, kc) stays in L1 while
// the B micro-panels (kc, NR) stream past it (the reverse order measured 25% slower).
template <class T, int VecBytes, int Mr, int Nv, int64_t Kc, int64_t Mc, int64_t Nc>
struct Config {
  typedef T V __attribute__((vector_size(VecBytes)));
  static constexpr int kLanes = VecBytes / static_cast<int>(sizeof(T));
  static constexpr int kMr = Mr, kNv = Nv, kNr = Nv * kLanes;
  static constexpr int64_t kKc = Kc, kMc = Mc, kNc = Nc;
  static_assert(Mc % Mr == 0 && Nc % (Nv * kLanes) == 0, "cache blocks hold whole tiles");
};

// x86-64-v4 (AVX-512, 32 registers): 24 accumulators, 6 broadcasts + 4 loads per 24 FMAs (a
// 12x2 tile measured 5-10% slower at n = 1024). v3 (AVX2 + FMA, 16 registers) and the SSE2
// baseline: 12 accumulators. Blocks: an A block of kMc x kKc (1.5-4.6 MB) in L3, a B block of
// kKc x kNc (384-576 KB) in L2, an A micro-panel (6-18 KB) in L1. v4 blocks k by 384, not 256:
// with the C-tile prefetch in microkernel, n = 2048 went from 175-194 to 200-216 GFLOP/s on one
// Zen 5 core (float64 92-98 -> 95-109), smaller sizes unchanged (2026-12-04).
using V4Float = Config<float, 64, 6, 4, 384, 1536, 384>;
using V3Float = Config<float, 32, 6, 2, 256, 1536, 384>;
using V1Float = Config<float, 16, 6, 2, 256, 1536, 384>;
using V4Double = Config<double, 64, 6, 4, 384, 1536, 192>;
using V3Double = Config<double, 32, 6, 2, 256, 1536, 192>;
using V1Double = Config<double, 16, 6, 2, 256, 1536, 192>;

template <class T>
struct Problem {
  int64_t M, N, K;
  const T* a;
  int64_t rs_a, cs_a;
  const T* b;
  int64_t rs_b, cs_b;
  T beta;
  T* c;
  int64_t rs_c, cs_c;
  int64_t kc;  // k block length: K split into equal blocks of at most kKc
  GemmEpilogue<T> ep;                // applied after the last k block
  const GemmPackB<T>* packer;        // packs B when not null
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A block (mc, kc) -> ceil(mc / MR) micro-panels of (kc, MR), p[k*MR + i]; rows past mc are 0.
template <class T, int MR>
FG_ALWAYS_INLINE void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs,
                             T* __restrict p) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, p += kc * MR) {
    const int64_t m = std::min<int64_t>(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (m == MR && rs == 1) {  // column-major A (a transposed view): MR contiguous values per k
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) p[k * MR + i] = src[k * cs + i];
    } else if (m == MR && cs == 1) {  // row-major A: MR rows read side by side
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) p[k * MR + i] = src[i * rs + k];
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) p[k * MR + i] = i < m ? src[i * rs + k * cs] : T(0);
    }
  }
}

// dst[k * ld_dst + j] = src[j * ld_src + k] for a W x W block (W = 16 bytes of T: 4 floats or 2
// doubles): W 16-byte loads, shuffles in registers, W 16-byte stores; a pure copy, any level.
template <class T>
FG_ALWAYS_INLINE void transpose_block(const T* src, int64_t ld_src, T* dst, int64_t ld_dst);

template <>
FG_ALWAYS_INLINE void transpose_block<float>(const float* src, int64_t ld_src, float* dst,
                                             int64_t ld_dst) {
  typedef float V __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
  V v0, v1, v2, v3;
  std::memcpy(&v0, src, 16);
  std::memcpy(&v1, src + ld_src, 16);
  std::memcpy(&v2, src + 2 * ld_src, 16);
  std::memcpy(&v3, src + 3 * ld_src, 16);
  const V t0 = __builtin_shuffle(v0, v1, I{0, 4, 1, 5}),
          t1 = __builtin_shuffle(v0, v1, I{2, 6, 3, 7});
  const V t2 = __builtin_shuffle(v2, v3, I{0, 4, 1, 5}),
          t3 = __builtin_shuffle(v2, v3, I{2, 6, 3, 7});
  const V o0 = __builtin_shuffle(t0, t2, I{0, 1, 4, 5}),
          o1 = __builtin_shuffle(t0, t2, I{2, 3, 6, 7});
  const V o2 = __builtin_shuffle(t1, t3, I{0, 1, 4, 5}),
          o3 = __builtin_shuffle(t1, t3, I{2, 3, 6, 7});
  std::memcpy(dst, &o0, 16);
  std::memcpy(dst + ld_dst, &o1, 16);
  std::memcpy(dst + 2 * ld_dst, &o2, 16);
  std::memcpy(dst + 3 * ld_dst, &o3, 16);
}

template <>
FG_ALWAYS_INLINE void transpose_block<double>(const double* src, int64_t ld_src, double* dst,
                                              int64_t ld_dst) {
  typedef double V __attribute__((vector_size(16)));
  typedef int64_t I __attribute__((vector_size(16)));
  V v0, v1;
  std::memcpy(&v0, src, 16);
  std::memcpy(&v1, src + ld_src, 16);
  const V o0 = __builtin_shuffle(v0, v1, I{0, 2}), o1 = __builtin_shuffle(v0, v1, I{1, 3});
  std::memcpy(dst, &o0, 16);
  std::memcpy(dst + ld_dst, &o1, 16);
}

// B block (kc, nc) -> ceil(nc / NR) micro-panels of (kc, NR), p[k*NR + j]; columns past nc are 0.
// Row-major B is read a whole row at a time: a column strip of it would touch a page per k.
template <class T, int NR>
FG_ALWAYS_INLINE void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs,
                             T* __restrict p) {
  const int64_t full = nc / NR * NR;
  if (cs == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = b + k * rs;
      for (int64_t j0 = 0; j0 < full; j0 += NR)
        std::memcpy(p + j0 * kc + k * NR, src + j0, sizeof(T) * NR);
    }
  } else if (rs == 1) {  // column-major B (a transposed view, x @ W.T): NR columns side by side,
    // in strips of kStrip k values so the panel rows being written stay in L1 (a whole panel
    // does not fit, and writing it column by column measured 1.6x slower than x @ W). Each
    // strip is W x W register transposes (transpose_block), the k tail element by element.
    constexpr int64_t kStrip = 16;
    constexpr int W = 16 / static_cast<int>(sizeof(T));
    static_assert(NR % W == 0, "panels are whole transpose blocks");
    for (int64_t j0 = 0; j0 < full; j0 += NR)
      for (int64_t k0 = 0; k0 < kc; k0 += kStrip) {
        const int64_t k1 = std::min(kc, k0 + kStrip), kv = k0 + (k1 - k0) / W * W;
        for (int jb = 0; jb < NR; jb += W)
          for (int64_t k = k0; k < kv; k += W)
            transpose_block<T>(b + (j0 + jb) * cs + k, cs, p + j0 * kc + k * NR + jb, NR);
        for (int j = 0; j < NR; ++j)
          for (int64_t k = kv; k < k1; ++k) p[j0 * kc + k * NR + j] = b[(j0 + j) * cs + k];
      }
  } else {
    for (int64_t j0 = 0; j0 < full; j0 += NR)
      for (int64_t k = 0; k < kc; ++k)
        for (int j = 0; j < NR; ++j) p[j0 * kc + k * NR + j] = b[k * rs + (j0 + j) * cs];
  }
  if (full < nc) {  // the edge panel, zero-padded
    const int64_t n = nc - full;
    T* q = p + full * kc;
    const T* src = b + full * cs;
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < NR; ++j) q[k * NR + j] = j < n ? src[k * rs + j * cs] : T(0);
  }
}

// C tile (m, n) <- acc (MR, NR) + beta * C on the first k block (C unread when beta == 0), C + acc
// on later ones. The only place edge tiles are handled: both branches use the same expressions,
// so a C element rounds the same way whichever tile it falls in.
// After the last k block (`ep` not null), the epilogue: + rb[i], + cb[j], relu (GemmEpilogue; rb
// and cb point at the tile's first row / column, or are null).
template <class T>
struct TileEpilogue {
  const T* rb;
  const T* cb;
  bool relu;
};

template <class T, class Cfg, bool Ep>
FG_ALWAYS_INLINE void store_tile(const typename Cfg::V (&acc)[Cfg::kMr][Cfg::kNv], int64_t m,
                                 int64_t n, T beta, bool first, T* c, int64_t rs_c, int64_t cs_c,
                                 const TileEpilogue<T>* ep) {
  using V = typename Cfg::V;
  constexpr int MR = Cfg::kMr, NV = Cfg::kNv, NR = Cfg::kNr, L = Cfg::kLanes;
  if (m == MR && n == NR && cs_c == 1) {
    for (int i = 0; i < MR; ++i) {
      for (int v = 0; v < NV; ++v) {
        T* out = c + i * rs_c + v * L;
        V r = acc[i][v];
        if (!first || beta != T(0)) {
          V old;
          std::memcpy(&old, out, sizeof(V));
          r = first ? acc[i][v] + beta * old : old + acc[i][v];
        }
        if constexpr (Ep) {
          if (ep->rb) r = r + ep->rb[i];
          if (ep->cb) {
            V cv;
            std::memcpy(&cv, ep->cb + v * L, sizeof(V));
            r = r + cv;
          }
          if (ep->relu) r = r > T(0) ? r : V{};
        }
        std::memcpy(out, &r, sizeof(V));
      }
    }
    return;
  }
  alignas(64) T tile[MR * NR];
  std::memcpy(tile, acc, sizeof(tile));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T& out = c[i * rs_c + j * cs_c];
      const T t = tile[i * NR + j];
      T r = first ? (beta == T(0) ? t : t + beta * out) : out + t;
      if constexpr (Ep) {
        if (ep->rb) r = r + ep->rb[i];
        if (ep->cb) r = r + ep->cb[j];
        if (ep->relu) r = r > T(0) ? r : T(0);
      }
      out = r;
    }
  }
}

// acc (MR, NR) = A micro-panel (MR, kc) · B micro-panel (kc, NR), summed in k order; then the
// C tile (m, n) is updated by store_tile.
template <class T, class Cfg, bool Ep>
FG_ALWAYS_INLINE void microkernel(int64_t kc, const T* pa, const T* pb, int64_t m, int64_t n,
                                  T beta, bool first, T* c, int64_t rs_c, int64_t cs_c,
                                  const TileEpilogue<T>* ep) {
  using V = typename Cfg::V;
  constexpr int MR = Cfg::kMr, NV = Cfg::kNv, NR = Cfg::kNr, L = Cfg::kLanes;
  // B micro-panels start on vector boundaries (NR * sizeof(T) is a multiple of sizeof(V)).
  const T* __restrict a = pa;
  const T* __restrict b = static_cast<const T*>(__builtin_assume_aligned(pb, sizeof(V)));
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  // The C tile is read and written after the k loop; above L2's size it is in L3 or memory, and
  // its 24 lines (v4) missing then cost about 10% at n = 1024-2048. Fetched now, they arrive
  // while the loop runs.
  if (cs_c == 1) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; j += 64 / static_cast<int64_t>(sizeof(T)))
        __builtin_prefetch(c + i * rs_c + j, 1, 3);
  }
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + k * NR + v * L, sizeof(V));
    for (int i = 0; i < MR; ++i) {
      const T ai = a[k * MR + i];
      for (int v = 0; v < NV; ++v) acc[i][v] += bv[v] * ai;
    }
  }
  store_tile<T, Cfg, Ep>(acc, m, n, beta, first, c, rs_c, cs_c, ep);
}

// C rows [i0, i1) x columns [j0, j1) of the product, all k blocks, serially. pa holds
// min(kMc, i1 - i0) rows rounded up to MR by kc; pb holds kc by min(kNc, j1 - j0) rounded to NR.
template <class T, class Cfg>
FG_ALWAYS_INLINE void gemm_region(const Problem<T>& p, int64_t i0, int64_t i1, int64_t j0,
                                  int64_t j1, T* pa, T* pb) {
  constexpr int MR = Cfg::kMr, NR = Cfg::kNr;
  // Equal blocks of at most kMc / kNc, whole tiles each (2048 rows: 1026 + 1022, not 1536 + 512).
  const int64_t mc_step = round_up(ceil_div(i1 - i0, ceil_div(i1 - i0, Cfg::kMc)), MR);
  const int64_t nc_step = round_up(ceil_div(j1 - j0, ceil_div(j1 - j0, Cfg::kNc)), NR);
  for (int64_t ic = i0; ic < i1; ic += mc_step) {
    const int64_t mc = std::min(mc_step, i1 - ic);
    const bool has_ep = p.ep.row_bias || p.ep.col_bias || p.ep.relu;
    for (int64_t pc = 0; pc < p.K; pc += p.kc) {
      const int64_t kc = std::min(p.kc, p.K - pc);
      const bool last = has_ep && pc + kc >= p.K;
      pack_a<T, MR>(mc, kc, p.a + ic * p.rs_a + pc * p.cs_a, p.rs_a, p.cs_a, pa);
      for (int64_t jc = j0; jc < j1; jc += nc_step) {
        const int64_t nc = std::min(nc_step, j1 - jc);
        if (p.packer) p.packer->fn(p.packer->ctx, pc, kc, jc, nc, NR, pb);
        else pack_b<T, NR>(kc, nc, p.b + pc * p.rs_b + jc * p.cs_b, p.rs_b, p.cs_b, pb);
        // The epilogue's tiles are a separate instance of the loop: a plain product's
        // micro-kernel compiles exactly as without epilogues (with one pointer more live in the
        // k loop, the float64 AVX2 kernel fell from 45 to 29 GFLOP/s at n = 1024).
        for (int64_t ir = 0; ir < mc; ir += MR) {
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t m = std::min<int64_t>(MR, mc - ir), n = std::min<int64_t>(NR, nc - jr);
            T* c = p.c + (ic + ir) * p.rs_c + (jc + jr) * p.cs_c;
            if (last) {
              const TileEpilogue<T> te{p.ep.row_bias ? p.ep.row_bias + ic + ir : nullptr,
                                       p.ep.col_bias ? p.ep.col_bias + jc + jr : nullptr,
                                       p.ep.relu};
              microkernel<T, Cfg, true>(kc, pa + ir * kc, pb + jr * kc, m, n, p.beta, pc == 0, c,
                                        p.rs_c, p.cs_c, &te);
            } else {
              microkernel<T, Cfg, false>(kc, pa + ir * kc, pb + jr * kc, m, n, p.beta, pc == 0, c,
                                         p.rs_c, p.cs_c, nullptr);
            }
          }
        }
      }
    }
  }
}

template <class T>
using RegionFn = void (*)(const Problem<T>&, int64_t, int64_t, int64_t, int64_t, T*, T*);

// One compiled kernel: its tile, its blocks and its region function.
template <class T>
struct Kernel {
  const char* name;
  int64_t mr, nr, kc, mc, nc;
  RegionFn<T> region;
};

template <class T, class Cfg>
Kernel<T> make_kernel(const char* name, RegionFn<T> region) {
  return {name, Cfg::kMr, Cfg::kNr, Cfg::kKc, Cfg::kMc, Cfg::kNc, region};
}

// One region function per (x86-64 level, dtype): everything below it is inlined and compiled for
// that level, so the vector types map onto its registers.
#define FG_GEMM_REGION(NAME, ATTR, T, CFG)                                                   \
  ATTR void NAME(const Problem<T>& p, int64_t i0, int64_t i1, int64_t j0, int64_t j1, T* pa, \
                 T* pb) {                                                                    \
    gemm_region<T, CFG>(p, i0, i1, j0, j1, pa, pb);                                          \
  }

#if defined(__x86_64__) && defined(__GNUC__)
#define FG_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define FG_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
FG_GEMM_REGION(region_v4_f32, FG_TARGET_V4, float, V4Float)
FG_GEMM_REGION(region_v3_f32, FG_TARGET_V3, float, V3Float)
FG_GEMM_REGION(region_v4_f64, FG_TARGET_V4, double, V4Double)
FG_GEMM_REGION(region_v3_f64, FG_TARGET_V3, double, V3Double)
#endif
FG_GEMM_REGION(region_v1_f32, , float, V1Float)
FG_GEMM_REGION(region_v1_f64, , double, V1Double)
#undef FG_GEMM_REGION

// The x86-64 level the kernels use (4, 3, or 1 = portable): the best this CPU has, or a lower
// one named by FASTGRAD_GEMM_LEVEL (x86-64-v4, x86-64-v3, portable), read once, so tests can run
// every kernel on one machine. A level the CPU lacks is an error, never a silent fallback.
int kernel_level() {
  static const int level = [] {
    int best = 1;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("x86-64-v4")) best = 4;
    else if (__builtin_cpu_supports("x86-64-v3")) best = 3;
#endif
    const char* env = std::getenv("FASTGRAD_GEMM_LEVEL");
    if (env == nullptr || *env == '\0') return best;
    const std::string want(env);
    const int asked = want == "x86-64-v4"   ? 4
                      : want == "x86-64-v3" ? 3
                      : want == "portable"  ? 1
                                            : 0;
    FG_CHECK(asked != 0, "FASTGRAD_GEMM_LEVEL=", want,
             ": expected x86-64-v4, x86-64-v3 or portable");
    FG_CHECK(asked <= best, "FASTGRAD_GEMM_LEVEL=", want, ": this CPU does not support it");
    return asked;
  }();
  return level;
}

template <class T> const Kernel<T>& pick_kernel();

template <>
const Kernel<float>& pick_kernel<float>() {
  static const Kernel<float> k = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (kernel_level() >= 4)
      return make_kernel<float, V4Float>("x86-64-v4 float32 6x64", region_v4_f32);
    if (kernel_level() >= 3)
      return make_kernel<float, V3Float>("x86-64-v3 float32 6x16", region_v3_f32);
#endif
    return make_kernel<float, V1Float>("portable float32 6x8", region_v1_f32);
  }();
  return k;
}

template <>
const Kernel<double>& pick_kernel<double>() {
  static const Kernel<double> k = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (kernel_level() >= 4)
      return make_kernel<double, V4Double>("x86-64-v4 float64 6x32", region_v4_f64);
    if (kernel_level() >= 3)
      return make_kernel<double, V3Double>("x86-64-v3 float64 6x8", region_v3_f64);
#endif
    return make_kernel<double, V1Double>("portable float64 6x4", region_v1_f64);
  }();
  return k;
}

// Packing buffers, reused across calls by the calling thread (a fresh multi-MB buffer would cost
// more in page faults than a small product takes). Grown before any parallel region.
struct Workspace {
  std::unique_ptr<void, void (*)(void*)> data{nullptr, std::free};
  size_t bytes = 0;
  void* get(size_t need) {
    if (need > bytes) {
      data.reset();
      bytes = 0;
      need = round_up(static_cast<int64_t>(need), 1 << 16);
      void* p = std::aligned_alloc(64, need);
      if (!p) throw std::bad_alloc();
      data.reset(p);
      bytes = need;
    }
    return data.get();
  }
};

// Below this many flops (2·M·N·K; n = 645 for a square product, about 5 ms of one-thread work)
// one thread does the product. The region's join waits for every team thread, and on a busy
// machine a descheduled worker takes milliseconds to come back: measured with the other vCPU
// saturated, two threads made n = 256 14x slower, n = 384 5x, n = 512 2x, n = 1024 1.15x.
constexpr int64_t kParallelFlops = int64_t{1} << 29;

// Element offsets of the operands of problem `item` of a batch (all 0 for a single product).
struct Offsets {
  const int64_t* a = nullptr;
  const int64_t* b = nullptr;
  const int64_t* c = nullptr;
};

template <class T>
Problem<T> item_problem(const Problem<T>& p, const Offsets& off, int64_t item) {
  Problem<T> q = p;
  if (off.a) {
    q.a += off.a[item];
    q.b += off.b[item];
    q.c += off.c[item];
  }
  return q;
}

// C (M, N) = beta · C, C unread when beta == 0, then the epilogue: the K == 0 product.
template <class T>
void scale_c(const Problem<T>& p) {
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) {
      T& out = p.c[i * p.rs_c + j * p.cs_c];
      T r = p.beta == T(0) ? T(0) : p.beta * out;
      if (p.ep.row_bias) r = r + p.ep.row_bias[i];
      if (p.ep.col_bias) r = r + p.ep.col_bias[j];
      if (p.ep.relu) r = r > T(0) ? r : T(0);
      out = r;
    }
}

// How a batch of products is cut into tasks: each product is a tm x tn grid of (bm, bn) C blocks;
// `team` threads each own `per_thread` packing elements, the B buffer starting at pa_len.
struct Plan {
  int64_t tm, tn, bm, bn, tasks, team, pa_len, per_thread;
};

template <class T>
Plan make_plan(const Problem<T>& p, const Kernel<T>& kern, int64_t batch) {
  const double flops = 2.0 * static_cast<double>(p.M) * static_cast<double>(p.N) *
                       static_cast<double>(p.K) * static_cast<double>(batch);
  const int64_t threads = flops >= static_cast<double>(kParallelFlops) ? num_threads() : 1;
  // About 4 blocks per thread in all, splitting whichever side of the current block is longer
  // while blocks stay at least 4 tiles long on that side.
  const int64_t want = ceil_div(4 * threads, batch);
  int64_t tm = 1, tn = 1;
  while (threads > 1 && tm * tn < want) {
    const int64_t bm = ceil_div(p.M, tm), bn = ceil_div(p.N, tn);
    if (bm >= bn && bm >= 4 * kern.mr) ++tm;
    else if (bn >= 4 * kern.nr) ++tn;
    else if (bm >= 4 * kern.mr) ++tm;
    else break;
  }
  Plan plan;
  plan.bm = round_up(ceil_div(p.M, tm), kern.mr);
  plan.bn = round_up(ceil_div(p.N, tn), kern.nr);
  plan.tm = ceil_div(p.M, plan.bm);
  plan.tn = ceil_div(p.N, plan.bn);
  plan.tasks = batch * plan.tm * plan.tn;
  plan.team = std::min(threads, plan.tasks);
  const int64_t line = 64 / static_cast<int64_t>(sizeof(T));  // elements per 64 bytes
  plan.pa_len = round_up(round_up(std::min(kern.mc, plan.bm), kern.mr) * p.kc, line);
  const int64_t pb_len = p.kc * round_up(std::min(kern.nc, plan.bn), kern.nr);
  plan.per_thread = round_up(plan.pa_len + pb_len, line);
  return plan;
}

// Task t: C block (t % (tm·tn)) of product t / (tm·tn), packing into buf.
template <class T>
void run_task(const Problem<T>& p, const Offsets& off, const Kernel<T>& kern, const Plan& plan,
              int64_t t, T* buf) {
  const int64_t per_item = plan.tm * plan.tn, r = t % per_item;
  const Problem<T> q = item_problem(p, off, t / per_item);
  const int64_t i0 = (r / plan.tn) * plan.bm, j0 = (r % plan.tn) * plan.bn;
  kern.region(q, i0, std::min(p.M, i0 + plan.bm), j0, std::min(p.N, j0 + plan.bn), buf,
              buf + plan.pa_len);
}

// Note [Deterministic gemm]: C is cut into blocks whose edges fall on multiples of MR and NR, so
// every element sits at the same place in the same register tile whatever the cut; its k sum
// runs over the same k blocks (kc depends on K only) in the same order. Threads only decide who
// computes which block, so results are bitwise identical for any thread count. Blocks are handed
// out dynamically: the second vCPU is often busy, and a static split would wait for it.
template <class T>
void gemm_impl(Problem<T> p, int64_t batch, Offsets off) {
  if (p.M <= 0 || p.N <= 0 || batch <= 0) return;
  if (p.K <= 0) {
    for (int64_t item = 0; item < batch; ++item) scale_c(item_problem(p, off, item));
    return;
  }
  const Kernel<T>& kern = pick_kernel<T>();
  // A narrow C (N well under the register tile's NR, as in logits = h @ W.T with 10 classes)
  // would be mostly padding; C^T = B^T A^T computes the same elements with the long side
  // across the tile instead. Chosen from the shape alone, so still deterministic.
  const auto padded = [](int64_t m, int64_t n, int64_t mr, int64_t nr) {
    return ceil_div(m, mr) * mr * (ceil_div(n, nr) * nr);
  };
  if (!p.packer && 2 * padded(p.N, p.M, kern.mr, kern.nr) < padded(p.M, p.N, kern.mr, kern.nr)) {
    std::swap(p.M, p.N);
    std::swap(p.a, p.b);
    std::swap(p.rs_a, p.cs_b);  // A' = B^T: rs = old cs_b, cs = old rs_b
    std::swap(p.cs_a, p.rs_b);  // B' = A^T: rs = old cs_a, cs = old rs_a
    std::swap(p.rs_c, p.cs_c);
    std::swap(off.a, off.b);
    std::swap(p.ep.row_bias, p.ep.col_bias);
  }
  p.kc = ceil_div(p.K, ceil_div(p.K, kern.kc));
  const Plan plan = make_plan(p, kern, batch);
  thread_local Workspace ws;
  T* buf = static_cast<T*>(ws.get(static_cast<size_t>(plan.team * plan.per_thread) * sizeof(T)));
  if (plan.team == 1) {  // small work never enters an OpenMP region (a wake-up costs µs)
    for (int64_t t = 0; t < plan.tasks; ++t) run_task(p, off, kern, plan, t, buf);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(static_cast<int>(plan.team))
  for (int64_t t = 0; t < plan.tasks; ++t) {
#ifdef _OPENMP
    T* mine = buf + omp_get_thread_num() * plan.per_thread;
#else
    T* mine = buf;
#endif
    run_task(p, off, kern, plan, t, mine);
  }
}

}  // namespace

void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
          const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
          int64_t cs_c) {
  gemm_impl<float>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, {}, nullptr}, 1,
                   {});
}

void gemm(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
          const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
          int64_t cs_c) {
  gemm_impl<double>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, {}, nullptr}, 1,
                    {});
}

void gemm_batched(int64_t batch, const int64_t* off_a, const int64_t* off_b, const int64_t* off_c,
                  int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                  const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
                  int64_t cs_c) {
  gemm_impl<float>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, {}, nullptr},
                   batch, {off_a, off_b, off_c});
}

void gemm_batched(int64_t batch, const int64_t* off_a, const int64_t* off_b, const int64_t* off_c,
                  int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
                  const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
                  int64_t cs_c) {
  gemm_impl<double>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, {}, nullptr},
                    batch, {off_a, off_b, off_c});
}

void gemm_ex(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
             const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
             int64_t cs_c, const GemmEpilogue<float>& ep, const GemmPackB<float>* pack_b) {
  gemm_impl<float>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, ep, pack_b}, 1,
                   {});
}

void gemm_ex(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
             const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
             int64_t cs_c, const GemmEpilogue<double>& ep, const GemmPackB<double>* pack_b) {
  gemm_impl<double>({M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c, 0, ep, pack_b}, 1,
                    {});
}

const char* gemm_kernel_name(bool is_double) {
  return is_double ? pick_kernel<double>().name : pick_kernel<float>().name;
}

}  // namespace fastgrad
