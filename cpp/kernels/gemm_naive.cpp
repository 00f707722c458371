// Reference gemm: one dot product per C element, serial, no blocking, no packing, no intrinsics.
// It exists to test kernels/gemm.cpp against; never call it on a hot path.
//
// Dimension key: M = rows of A and C, N = columns of B and C, K = columns of A = rows of B;
// rs_x / cs_x = row / column stride of operand x in elements.
#include "kernels/gemm.h"

namespace fastgrad {
namespace {

// C (M, N) = A (M, K) · B (K, N) + beta · C, each dot product summed in k order.
template <class T>
void gemm_naive_impl(int64_t M, int64_t N, int64_t K, const T* a, int64_t rs_a, int64_t cs_a,
                     const T* b, int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c,
                     int64_t cs_c) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = T(0);
      for (int64_t k = 0; k < K; ++k) acc += a[i * rs_a + k * cs_a] * b[k * rs_b + j * cs_b];
      T& out = c[i * rs_c + j * cs_c];
      out = beta == T(0) ? acc : acc + beta * out;
    }
  }
}

}  // namespace

void gemm_naive(int64_t M, int64_t N, int64_t K, const float* a, int64_t rs_a, int64_t cs_a,
                const float* b, int64_t rs_b, int64_t cs_b, float beta, float* c, int64_t rs_c,
                int64_t cs_c) {
  gemm_naive_impl(M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c);
}

void gemm_naive(int64_t M, int64_t N, int64_t K, const double* a, int64_t rs_a, int64_t cs_a,
                const double* b, int64_t rs_b, int64_t cs_b, double beta, double* c, int64_t rs_c,
                int64_t cs_c) {
  gemm_naive_impl(M, N, K, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c);
}

}  // namespace fastgrad
