// General matrix multiply on raw strided pointers: the blocked, packed, multithreaded gemm and its
// naive triple-loop twin (the test reference). No Tensor, no autograd, no argument checks: the op
// in autograd/ops_matmul.cpp validates shapes and dtypes first.
//
// Dimension key: M = rows of A and C, N = columns of B and C, K = columns of A = rows of B.
// rs_x / cs_x = row / column stride of operand x in elements (any non-negative values, so a
// transposed operand, cs != 1, is read in place). beta == 0 means C is never read (NaN-safe).
#pragma once
#include <cstdint>

namespace fastgrad {

// C (M, N) = A (M, K) · B (K, N) + beta · C. Each C element is written by exactly one thread and
// its k sum always runs in the same order, so results are bitwise identical for any thread count.
void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
          const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
          int64_t cs_c);
void gemm(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
          const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
          int64_t cs_c);

// A batch of products sharing sizes and strides: C_p = A_p · B_p + beta · C_p for p < batch,
// where X_p starts at x + off_x[p] (element offsets). Small products run side by side on threads;
// each product is computed exactly as gemm would, so results match it bit for bit.
void gemm_batched(int64_t batch, const int64_t* off_a, const int64_t* off_b, const int64_t* off_c,
                  int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                  const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
                  int64_t cs_c);
void gemm_batched(int64_t batch, const int64_t* off_a, const int64_t* off_b, const int64_t* off_c,
                  int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
                  const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
                  int64_t cs_c);

// What gemm_ex does to each C element after its last k block, in this order: + row_bias[i] (when
// given), + col_bias[j] (when given), then relu (v > 0 ? v : 0, as the relu op) when asked. The
// same additions, in the same order, as adding the bias afterwards: results are bitwise equal.
template <class T>
struct GemmEpilogue {
  const T* row_bias = nullptr;
  const T* col_bias = nullptr;
  bool relu = false;
};

// Packs B's rows [k0, k0 + kc) x columns [j0, j0 + nc) into ceil(nc / nr) micro-panels of (kc, nr):
// element (k, j) of panel q at out[q * kc * nr + k * nr + j], columns past nc zero. Called from
// several threads at once with different outputs (it must only read its context).
template <class T>
struct GemmPackB {
  void (*fn)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, T* out);
  const void* ctx;
};

// gemm with an epilogue and, when pack_b is given, B packed by it (b, rs_b, cs_b unused): an
// implicit GEMM whose B is never stored whole (convolution patches, kernels/conv.cpp). Same
// determinism as gemm; with pack_b == nullptr and an empty epilogue it is gemm bit for bit.
void gemm_ex(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
             const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
             int64_t cs_c, const GemmEpilogue<float>& ep, const GemmPackB<float>* pack_b);
void gemm_ex(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
             const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
             int64_t cs_c, const GemmEpilogue<double>& ep, const GemmPackB<double>* pack_b);

// Same contract, one dot product per C element (serial, unblocked): the reference for tests.
void gemm_naive(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
                int64_t cs_c);
void gemm_naive(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
                const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
                int64_t cs_c);

// The register tile of the kernel this CPU runs, e.g. "x86-64-v4 float32 6x64" (for benchmarks
// and show_config). FASTGRAD_GEMM_LEVEL=x86-64-v3|portable selects a lower level (tests).
const char* gemm_kernel_name(bool is_double);

}  // namespace fastgrad
