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
