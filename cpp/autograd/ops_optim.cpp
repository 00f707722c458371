// Fused optimizer steps over lists of parameters (SGD, Adam / AdamW): the checks, then one call
// of the kernels in kernels/optim.cpp per dtype. In place and outside autograd, like
// ops_inplace.cpp: the Python optimizers call them with every parameter of a group at once. Each
// written tensor's version counter is bumped.
#include <vector>

#include "autograd/ops.h"
#include "kernels/optim.h"

namespace fastgrad {
namespace {

// Validates `lists` against params (same length, shape and dtype; contiguous except grads) and
// returns the grads, made contiguous where they are not (a broadcast gradient from backward).
std::vector<Tensor> check_lists(const char* op, const std::vector<Tensor>& params,
                                const std::vector<Tensor>& grads,
                                const std::vector<std::pair<const char*, const std::vector<Tensor>*>>& lists) {
  const size_t K = params.size();
  FG_CHECK(grads.size() == K, op, ": got ", K, " params but ", grads.size(), " grads");
  for (auto& [name, lst] : lists)
    FG_CHECK(lst->size() == K, op, ": got ", K, " params but ", lst->size(), " ", name);
  std::vector<Tensor> gs(K);
  for (size_t i = 0; i < K; ++i) {
    const Tensor& p = params[i];
    FG_CHECK(p && grads[i], op, ": param ", i, " or its gradient is None");
    FG_TYPE_CHECK(is_floating(p->dtype()), op, ": param ", i, " must be floating point, got ",
                  dtype_name(p->dtype()));
    FG_CHECK(p->is_contiguous(), op, ": param ", i, " of shape ", p->shape(),
             " must be contiguous");
    FG_CHECK(grads[i]->shape() == p->shape(), op, ": grads[", i, "] has shape ",
             grads[i]->shape(), ", param ", i, " has shape ", p->shape());
    FG_TYPE_CHECK(grads[i]->dtype() == p->dtype(), op, ": grads[", i, "] is ",
                  dtype_name(grads[i]->dtype()), ", param ", i, " is ", dtype_name(p->dtype()));
    for (auto& [name, lst] : lists) {
      const Tensor& t = (*lst)[i];
      FG_CHECK(t, op, ": ", name, "[", i, "] is None");
      FG_CHECK(t->shape() == p->shape(), op, ": ", name, "[", i, "] has shape ", t->shape(),
               ", param ", i, " has shape ", p->shape());
      FG_TYPE_CHECK(t->dtype() == p->dtype(), op, ": ", name, "[", i, "] is ",
                    dtype_name(t->dtype()), ", param ", i, " is ", dtype_name(p->dtype()));
      FG_CHECK(t->is_contiguous(), op, ": ", name, "[", i, "] of shape ", t->shape(),
               " must be contiguous");
    }
    gs[i] = grads[i]->is_contiguous() ? grads[i] : contiguous(detach(grads[i]));
  }
  return gs;
}

// Raw pointers of the tensors at `idx` (null for an absent list).
template <class T>
std::vector<T*> ptrs(const std::vector<Tensor>& ts, const std::vector<size_t>& idx) {
  std::vector<T*> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(ts.empty() ? nullptr : ts[i]->data<T>());
  return out;
}

// Indices of the float32 and of the float64 parameters.
std::pair<std::vector<size_t>, std::vector<size_t>> split_dtypes(const std::vector<Tensor>& ps) {
  std::pair<std::vector<size_t>, std::vector<size_t>> out;
  for (size_t i = 0; i < ps.size(); ++i)
    (ps[i]->dtype() == DType::Float32 ? out.first : out.second).push_back(i);
  return out;
}

std::vector<int64_t> sizes(const std::vector<Tensor>& ps, const std::vector<size_t>& idx) {
  std::vector<int64_t> n;
  for (size_t i : idx) n.push_back(ps[i]->numel());
  return n;
}

void bump_all(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) t->bump_version();
}

}  // namespace

void sgd_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& bufs, double lr, double momentum, double dampening,
               bool nesterov, double weight_decay, bool maximize, bool first) {
  const bool use_mom = momentum != 0;
  std::vector<std::pair<const char*, const std::vector<Tensor>*>> lists;
  if (use_mom) lists.push_back({"bufs", &bufs});
  std::vector<Tensor> gs = check_lists("sgd_step_", params, grads, lists);
  const std::vector<Tensor> none;
  const std::vector<Tensor>& b = use_mom ? bufs : none;
  const SgdScalars s{lr, momentum, dampening, weight_decay, nesterov, maximize, first};
  auto [f32, f64] = split_dtypes(params);
  auto run = [&](auto tag, const std::vector<size_t>& idx) {
    using T = decltype(tag);
    if (idx.empty()) return;
    std::vector<int64_t> n = sizes(params, idx);
    std::vector<T*> g = ptrs<T>(gs, idx);
    std::vector<const T*> cg(g.begin(), g.end());
    sgd_update<T>(static_cast<int64_t>(idx.size()), n.data(), cg.data(), s,
                  ptrs<T>(params, idx).data(), ptrs<T>(b, idx).data());
  };
  run(float{}, f32);
  run(double{}, f64);
  bump_all(params);
  bump_all(b);
}

void adam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<int64_t>& steps,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                bool amsgrad, bool maximize, bool decoupled) {
  std::vector<std::pair<const char*, const std::vector<Tensor>*>> lists{
      {"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}};
  if (amsgrad) lists.push_back({"max_exp_avg_sqs", &max_exp_avg_sqs});
  std::vector<Tensor> gs = check_lists("adam_step_", params, grads, lists);
  FG_CHECK(steps.size() == params.size(), "adam_step_: got ", params.size(), " params but ",
           steps.size(), " steps");
  for (int64_t t : steps) FG_CHECK(t >= 1, "adam_step_: step counts start at 1, got ", t);
  const std::vector<Tensor> none;
  const std::vector<Tensor>& x = amsgrad ? max_exp_avg_sqs : none;
  const AdamScalars s{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled};
  auto [f32, f64] = split_dtypes(params);
  auto run = [&](auto tag, const std::vector<size_t>& idx) {
    using T = decltype(tag);
    if (idx.empty()) return;
    std::vector<int64_t> n = sizes(params, idx), st;
    for (size_t i : idx) st.push_back(steps[i]);
    std::vector<T*> g = ptrs<T>(gs, idx);
    std::vector<const T*> cg(g.begin(), g.end());
    adam_update<T>(static_cast<int64_t>(idx.size()), n.data(), cg.data(), st.data(), s,
                   ptrs<T>(params, idx).data(), ptrs<T>(exp_avgs, idx).data(),
                   ptrs<T>(exp_avg_sqs, idx).data(), ptrs<T>(x, idx).data());
  };
  run(float{}, f32);
  run(double{}, f64);
  bump_all(params);
  bump_all(exp_avgs);
  bump_all(exp_avg_sqs);
  bump_all(x);
}

}  // namespace fastgrad
