// 2-D convolution kernels on raw NCHW pointers: forward, input gradient (a transposed
// convolution) and weight gradient, each as GEMMs over packed image patches (kernels/gemm.h).
// No Tensor, no autograd, no argument checks: autograd/ops_conv.cpp validates first.
#pragma once
#include <cstdint>

namespace fastgrad {

// x (N, C, H, W), w (O, C/groups, KH, KW), y (N, O, OH, OW); every array contiguous.
// Input row of output row oy and kernel row i: oy * sh - ph + i * dh (zero outside [0, H)).
struct ConvGeom {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

// y = conv(x, w), then + bias[o] (when bias is not null) and relu (v > 0 ? v : 0) when asked,
// both applied as the GEMM stores each output tile (no pass of their own); y fully written. The
// result is bitwise the conv followed by a separate bias add and relu.
void conv2d_forward(const ConvGeom& g, const float* x, const float* w, const float* bias, bool relu,
                    float* y);
void conv2d_forward(const ConvGeom& g, const double* x, const double* w, const double* bias,
                    bool relu, double* y);
// dx = the transposed convolution of gy with w (dx fully written; positions no window reads
// get 0).
void conv2d_input_grad(const ConvGeom& g, const float* gy, const float* w, float* dx);
void conv2d_input_grad(const ConvGeom& g, const double* gy, const double* w, double* dx);
// dw = sum over images of gy_n (O, OH*OW) @ patches(x_n)^T (dw fully written). Images are summed
// in fixed chunks combined in a fixed order: bitwise identical for any thread count.
void conv2d_weight_grad(const ConvGeom& g, const float* x, const float* gy, float* dw);
void conv2d_weight_grad(const ConvGeom& g, const double* x, const double* gy, double* dw);

}  // namespace fastgrad
