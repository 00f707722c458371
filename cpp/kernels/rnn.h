// Fused pointwise gate kernels of the recurrent cells: LSTM and GRU, forward and backward. Pure
// compute on raw pointers and sizes: no Tensor, no autograd, no checks (autograd/ops_rnn.cpp
// validates first). Not here: the GEMMs of the cells (the ops call matmul).
//
// Dimension key: B = batch rows, H = hidden size; ld* = row strides in elements (unit inner
// stride). Gate blocks along a row: LSTM i f g o (4H), GRU r z n (3H), as in PyTorch.
#pragma once
#include <cstdint>

namespace fastgrad {

// gates (B, 4H) pre-activations, c (B, H) -> act (B, 4H) = sigmoid(i, f, o), tanh(g);
// hc (B, 2H) = [h | c'] with c' = f c + i g, h = o tanh(c').
template <class T>
void lstm_cell_forward(int64_t B, int64_t H, const T* gates, int64_t ldg, const T* c, int64_t ldc,
                       T* act, T* hc);

// dhc (B, 2H) = [dh | dc'] -> dgates (B, 4H) (pre-activation), dc (B, H); act, hc from forward.
template <class T>
void lstm_cell_backward(int64_t B, int64_t H, const T* dhc, int64_t ldd, const T* act, const T* c,
                        int64_t ldc, const T* hc, T* dgates, T* dc);

// xg, hg (B, 3H) = x W_ih^T + b_ih, h W_hh^T + b_hh; h (B, H) -> act (B, 3H) = r z n,
// h2 (B, H) = n + z (h - n), r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r hn).
template <class T>
void gru_cell_forward(int64_t B, int64_t H, const T* xg, int64_t ldx, const T* hg, int64_t ldh,
                      const T* h, int64_t ldp, T* act, T* h2);

// dh2 (B, H) -> dxg (B, 3H), dhg (B, 3H), dh (B, H) (the direct path through z h only).
template <class T>
void gru_cell_backward(int64_t B, int64_t H, const T* dh2, int64_t ldd, const T* act, const T* hg,
                       int64_t ldh, const T* h, int64_t ldp, T* dxg, T* dhg, T* dh);

}  // namespace fastgrad
