// Bit-mask kernels of ReLU. Note [ReLU mask]: ReLU's backward needs only the sign of each input,
// so a recorded ReLU keeps one bit per element (bit j of byte i for element 8i + j) instead of
// its output: the backward then reads the gradient and n/8 bytes, not two full arrays, and a
// large ReLU step moves about a fifth less memory. Contiguous arrays; no Tensor, no checks.
#pragma once
#include <cstdint>

namespace fastgrad {

// y[i] = x[i] > 0 ? x[i] : 0 and bit i of `bits` = x[i] > 0 (NaN gives 0 and a clear bit), for
// i in [0, n); `bits` covers (n + 7) / 8 bytes. `stream`: write y with non-temporal stores.
void relu_mask_forward(int64_t n, const float* x, float* y, uint8_t* bits, bool stream);
void relu_mask_forward(int64_t n, const double* x, double* y, uint8_t* bits, bool stream);

// out[i] = bit i of `bits` ? g[i] : 0.
void relu_mask_backward(int64_t n, const float* g, const uint8_t* bits, float* out, bool stream);
void relu_mask_backward(int64_t n, const double* g, const uint8_t* bits, double* out, bool stream);

}  // namespace fastgrad
