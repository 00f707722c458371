// Batch normalization kernels (training mode) on raw pointers: one fused pass per channel for the
// statistics, one for y; backward one pass for the channel sums, one for dx. No Tensor, no
// autograd, no argument checks: autograd/ops_norm.cpp validates first.
#pragma once
#include <cstdint>

namespace fastgrad {

// x (N, C, S) contiguous; w, b (C,) or null (1 and 0) -> y (N, C, S), mean (C,), invstd (C,):
// mean and biased variance of each channel over its N * S values (double accumulation, shifted
// by the channel's first value), invstd = 1 / sqrt(var + eps), y = (x - mean) * invstd * w + b.
// With N * S == 0, mean and invstd are NaN. Bitwise identical for any thread count.
void batch_norm_forward(int64_t N, int64_t C, int64_t S, const float* x, const float* w,
                        const float* b, double eps, float* y, float* mean, float* invstd);
void batch_norm_forward(int64_t N, int64_t C, int64_t S, const double* x, const double* w,
                        const double* b, double eps, double* y, double* mean, double* invstd);

// dy (N, C, S) at strides (sn, sc, ss) with ss 0 or 1; x, mean, invstd, w as in the forward ->
// dx (N, C, S) contiguous, dw = sum(dy * xhat), db = sum(dy) (each (C,); any of the three may be
// null: not computed), xhat = (x - mean) * invstd and
// dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) (means over each channel).
void batch_norm_backward(int64_t N, int64_t C, int64_t S, const float* dy, int64_t sn, int64_t sc,
                         int64_t ss, const float* x, const float* mean, const float* invstd,
                         const float* w, float* dx, float* dw, float* db);
void batch_norm_backward(int64_t N, int64_t C, int64_t S, const double* dy, int64_t sn, int64_t sc,
                         int64_t ss, const double* x, const double* mean, const double* invstd,
                         const double* w, double* dx, double* dw, double* db);

}  // namespace fastgrad
