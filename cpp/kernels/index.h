// Flat gather/scatter kernels behind take and put_add: raw pointers and sizes in, no Tensor and
// no autograd. Positions are flat indices in logical C order; negative ones count from the end.
// Callers validate positions with first_out_of_range before calling the others.
//
// Dimension key: N = elements of the flat source (gather) or destination (scatter),
//                M = number of positions, D = dims of a strided source.
#pragma once
#include <cstdint>

namespace fastgrad {

// pos (M) -> the first i with pos[i] outside [-N, N), or -1 when all are in range.
int64_t first_out_of_range(int64_t m, int64_t n, const int64_t* pos);

// out (M) = x (N contiguous)[pos (M)]
template <class T>
void gather_flat(int64_t m, int64_t n, const T* x, const int64_t* pos, T* out);

// out (M) = x[pos (M)], x of shape (D sizes) with element strides; flat positions in C order.
template <class T>
void gather_strided(int64_t m, int64_t d, const int64_t* shape, const int64_t* strides, const T* x,
                    const int64_t* pos, T* out);

// dx (N contiguous)[pos[i]] += src[i] for i in order, so duplicates accumulate deterministically
// (bool accumulates with logical or).
template <class T>
void scatter_add_flat(int64_t m, int64_t n, const T* src, const int64_t* pos, T* dx);

}  // namespace fastgrad
