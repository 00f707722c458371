// Max pooling kernel on raw pointers: values and argmax positions. No Tensor, no autograd, no
// argument checks: autograd/ops_pool.cpp validates first.
#pragma once
#include <cstdint>

namespace fastgrad {

// x (planes, H, W) contiguous -> y (planes, OH, OW) and idx (planes, OH, OW): the flat position
// in x (over all planes) of each window's first maximum (a NaN wins). Window of output (oy, ox):
// rows oy * sh - ph + i * dh for i < KH (likewise columns); taps outside x are skipped. Every
// window must hold at least one tap inside x.
struct PoolGeom {
  int64_t planes, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw;
};
void max_pool2d_forward(const PoolGeom& g, const float* x, float* y, int64_t* idx);
void max_pool2d_forward(const PoolGeom& g, const double* x, double* y, int64_t* idx);

}  // namespace fastgrad
