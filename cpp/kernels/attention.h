// Blocked (flash-style) scaled dot-product attention, forward and backward, on raw pointers: the
// (L, S) score matrix is never held whole, only one (Bq, Bk) block at a time; backward recomputes
// the blocks from the saved log-sum-exp. No Tensor, no autograd, no checks (autograd/
// ops_attention.cpp validates first). Not here: dropout (the op falls back to composites).
//
// Dimension key: B = batch, H = heads (BH = B * H independent problems), L = queries, S = keys,
// E = query/key width, D = value width. q (BH, L, E), k (BH, S, E), v (BH, S, D), out (BH, L, D),
// lse (BH, L), all contiguous. mask: additive, element (b, h, i, j) at
// mask[b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3]] (strides may be 0: broadcast), or null.
// causal: key j > query i is masked (top-left aligned, as PyTorch's is_causal).
#pragma once
#include <cstdint>

namespace fastgrad {

template <class T>
void attention_forward(int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t D, const T* q,
                       const T* k, const T* v, const T* mask, const int64_t* ms, bool causal,
                       T scale, T* out, T* lse);

// dout (BH, L, D) -> dq (BH, L, E), dk (BH, S, E), dv (BH, S, D) (overwritten).
template <class T>
void attention_backward(int64_t B, int64_t H, int64_t L, int64_t S, int64_t E, int64_t D,
                        const T* q, const T* k, const T* v, const T* mask, const int64_t* ms,
                        bool causal, T scale, const T* out, const T* lse, const T* dout, T* dq,
                        T* dk, T* dv);

}  // namespace fastgrad
