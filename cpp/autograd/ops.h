// Every differentiable op of the C++ backend. Each records a node when grad mode is on and an
// input requires grad; each derivative rule is written with these same functions, so a backward
// pass run with create_graph=True is itself differentiable. Binary ops take equal dtypes (the
// Python layer promotes) and broadcast like NumPy. Definitions live in ops_<family>.cpp.
#pragma once
#include <optional>
#include <tuple>
#include <vector>

#include "autograd/node.h"

namespace fastgrad {

// Every unary and binary primitive of the op table (python/fastgrad/_optable.py), one line each in
// the generated op_list.inc: unary maps (exp log sqrt ... log1p expm1 erf softplus; sign and
// logical_not have no gradient), the fused backward kernels g * f'(y) (relu_backward
// sigmoid_backward tanh_backward, themselves differentiable), binary maps (add sub mul div pow
// maximum minimum; comparisons lt le gt ge eq ne return bool and have no gradient), take and matmul
// (below). Defined in ops_<family>.cpp as the table's row says.
#define FG_UNARY(name) Tensor name(const Tensor& x);
#define FG_BINARY(name) Tensor name(const Tensor& a, const Tensor& b);
#include "op_list.inc"
#undef FG_UNARY
#undef FG_BINARY

// ops_elementwise.cpp ---------------------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor clone(const Tensor& x);  // contiguous copy, differentiable

// ops_creation.cpp (no autograd: fresh tensors) --------------------------------------------------
Tensor scalar_tensor(double value, DType dtype);  // 0-d
Tensor full(const Shape& shape, double value, DType dtype);
Tensor zeros_like(const Tensor& x);

// ops_reduce.cpp ---------------------------------------------------------------------------------
// dims are normalised (negative allowed); empty dims = all dims.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Sums a gradient of a broadcast shape down to `shape` (the engine's reduction for broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Running sums along dim (bool -> int64); differentiable for floating dtypes.
Tensor cumsum(const Tensor& x, int64_t dim);

// ops_shape.cpp ----------------------------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // a view when possible; -1 allowed
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // a view
Tensor expand(const Tensor& x, const Shape& shape);  // a view (stride 0); -1 keeps a dim
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t stop, int64_t step);  // a view
Tensor contiguous(const Tensor& x);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
// Gradient of slice: zeros of `shape` with g written into the slice.
Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t start, int64_t stop,
                      int64_t step);

// ops_index.cpp ----------------------------------------------------------------------------------
// take(x, pos) (from the table): out[i...] = x.flat[pos[i...]] (pos int64, any shape; x read in
// logical C order).
// put_add: zeros(shape) with src.flat accumulated at pos (the gradient of take).
Tensor put_add(const Tensor& src, const Tensor& pos, const Shape& shape);

// ops_loss.cpp -----------------------------------------------------------------------------------
// Fused softmax cross-entropy of logits x (M, C) at int64 targets t (M,) in [0, C): one loss per
// row, logsumexp(x_i) - x_i[t_i]. Its gradient op: g (M,) * (softmax(x) - onehot(t)), given the
// forward's lse (M,) = logsumexp of each row.
Tensor cross_entropy_rows(const Tensor& x, const Tensor& t);
Tensor cross_entropy_rows_backward(const Tensor& g, const Tensor& x, const Tensor& lse,
                                   const Tensor& t);
// h1-nnfast: cross_entropy_rows reduced as F.cross_entropy's reduction ("mean": sum / M, "sum",
// "none") in one call: the same nodes as the Python composite (CrossEntropyBackward, SumBackward,
// DivBackward); out-of-range targets raise IndexError as cross_entropy_rows does.
Tensor cross_entropy_reduced(const Tensor& x, const Tensor& t, const std::string& reduction);

// ops_matmul.cpp ---------------------------------------------------------------------------------
// matmul(a, b) (from the table): a (..., M, K) @ b (..., K, N) -> (..., M, N), batch dims
// broadcast; both at least 2-D.
// h1-nnfast: linear(x (M, K), w (N, K), b (N,) or null) -> (M, N) = x @ w^T + b, one node
// (LinearBackward) instead of permute, matmul and add; the Python layer folds other ranks.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// ops_conv.cpp -----------------------------------------------------------------------------------
// conv2d: x (N, C, H, W) * w (O, C/groups, KH, KW) -> (N, O, OH, OW), symmetric zero padding;
// stride, padding, dilation: 2 values each. conv_transpose2d: its gradient w.r.t. x, gy (N, O, OH,
// OW) with the same w -> (N, C, input_size[0], input_size[1]). conv2d_weight: its gradient w.r.t.
// w, of weight_shape. Each is the others' derivative rule.
Tensor conv2d(const Tensor& x, const Tensor& w, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
              int64_t groups);
Tensor conv_transpose2d(const Tensor& gy, const Tensor& w, const std::vector<int64_t>& stride,
                        const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                        int64_t groups, const std::vector<int64_t>& input_size);
Tensor conv2d_weight(const Tensor& x, const Tensor& gy, const Shape& weight_shape,
                     const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, int64_t groups);
// conv2d_fused: relu?(conv2d(x, w) + b[o]), b (O,) or null; bias and relu applied as the GEMM
// stores each output tile; its rule masks g with the output (relu) and is written with the three
// ops above, so create_graph works.
Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& b,
                    const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                    const std::vector<int64_t>& dilation, int64_t groups, bool relu);

// ops_pool.cpp -----------------------------------------------------------------------------------
// max_pool2d: x (N, C, H, W) -> (values, positions), both (N, C, OH, OW) with output_size given;
// positions (int64) index x.flat (over all planes). Its rule: put_add of g at the positions.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const std::vector<int64_t>& kernel,
                                     const std::vector<int64_t>& stride,
                                     const std::vector<int64_t>& padding,
                                     const std::vector<int64_t>& dilation,
                                     const std::vector<int64_t>& output_size);

// ops_inplace.cpp (no autograd: used under no_grad by optimizers and initialisation) -----------
void copy_(const Tensor& dst, const Tensor& src);  // broadcast src to dst, casting dtype
void fill_(const Tensor& dst, double value);
void put_(const Tensor& dst, const Tensor& pos, const Tensor& src);  // dst.flat[pos] = src
void set_data_(const Tensor& dst, const Tensor& src);  // dst takes src's memory (Tensor.data = src)

// ops_optim.cpp (no autograd: fused in-place optimizer steps over lists of parameters) --------
// Every list holds one tensor per parameter, of its shape and dtype; params and state buffers
// must be contiguous. See kernels/optim.h for the formulas. bufs is empty when momentum == 0;
// first: the momentum buffers are new (buf = grad).
void sgd_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& bufs, double lr, double momentum, double dampening,
               bool nesterov, double weight_decay, bool maximize, bool first);
// steps: each parameter's step count, already incremented; max_exp_avg_sqs empty unless amsgrad;
// decoupled: AdamW.
void adam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                bool amsgrad, bool maximize, bool decoupled);

// RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam: the lists as above (momentum_buffers empty
// unless momentum > 0, grad_avgs empty unless centered); steps already incremented. nadam_step_
// takes each parameter's mu_product before the step and returns it after.
void rmsprop_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs,
                   const std::vector<Tensor>& momentum_buffers,
                   const std::vector<Tensor>& grad_avgs, double lr, double alpha, double eps,
                   double weight_decay, double momentum, bool centered, bool maximize);
void adagrad_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<int64_t>& steps,
                   double lr, double lr_decay, double weight_decay, double eps, bool maximize);
void adadelta_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& acc_deltas,
                    double lr, double rho, double eps, double weight_decay, bool maximize);
void adamax_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_infs,
                  const std::vector<int64_t>& steps, double lr, double beta1, double beta2,
                  double eps, double weight_decay, bool maximize);
std::vector<double> nadam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                const std::vector<Tensor>& exp_avgs,
                                const std::vector<Tensor>& exp_avg_sqs,
                                const std::vector<double>& mu_products,
                                const std::vector<int64_t>& steps, double lr, double beta1,
                                double beta2, double eps, double weight_decay,
                                double momentum_decay, bool decoupled, bool maximize);
void radam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<int64_t>& steps, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, bool maximize);
// Gradient clipping: the norm of each floating tensor (in its dtype's precision, returned as a
// double; see kernels/optim.h norms for ord), and tensors[i] *= factor in place (contiguous).
std::vector<double> foreach_norm(const std::vector<Tensor>& tensors, double ord);
void foreach_mul_(const std::vector<Tensor>& tensors, double factor);

// ops_rnn.cpp ------------------------------------------------------------------------------------
// Fused recurrent-cell gates (PyTorch's order): lstm_cell(gates (B, 4H) i f g o pre-activation,
// c (B, H)) -> [h | c'] (B, 2H); gru_cell(xg (B, 3H), hg (B, 3H) r z n, h (B, H)) -> h' (B, H).
Tensor lstm_cell(const Tensor& gates, const Tensor& c);
Tensor gru_cell(const Tensor& xg, const Tensor& hg, const Tensor& h);

// ops_attention.cpp ------------------------------------------------------------------------------
// softmax(q k^T scale + mask [+ causal]) v for q (B, H, L, E), k (B, H, S, E), v (B, H, S, D);
// mask additive, broadcastable to (B, H, L, S), or null (no gradient); blocked, never holding the
// (L, S) matrix.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                 double scale);

// ops_norm.cpp -----------------------------------------------------------------------------------
// batch_norm_train: x (N, C, *), weight and bias (C,) or null -> (y, mean (C,), invstd (C,)),
// batch statistics over every dim but 1 (biased variance), y = (x - mean) * invstd * weight +
// bias; fused kernels forward and backward; only y has a gradient.
std::tuple<Tensor, Tensor, Tensor> batch_norm_train(const Tensor& x, const Tensor& weight,
                                                    const Tensor& bias, double eps);

}  // namespace fastgrad
