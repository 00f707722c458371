// Fused optimizer steps over lists of parameters (SGD, Adam / AdamW): the checks, then one call
// of the kernels in kernels/optim.cpp per dtype. In place and outside autograd, like
// ops_inplace.cpp: the Python optimizers call them with every parameter of a group at once. Each
// written tensor's version counter is bumped.
#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "kernels/optim.h"

namespace fastgrad {
namespace {

// Validates `lists` against params (same length, shape and dtype; contiguous except grads) and
// returns the grads, made contiguous where they are not (a broadcast gradient from backward).
std::vector<Tensor> check_lists(
    const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
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
    FG_CHECK(grads[i]->shape() == p->shape(), op, ": grads[", i, "] has shape ", grads[i]->shape(),
             ", param ", i, " has shape ", p->shape());
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

// --- RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam (kernels/optim_more.cpp) ---------------
namespace {

void check_steps(const char* op, const std::vector<Tensor>& params,
                 const std::vector<int64_t>& steps) {
  FG_CHECK(steps.size() == params.size(), op, ": got ", params.size(), " params but ", steps.size(),
           " steps");
  for (int64_t t : steps) FG_CHECK(t >= 1, op, ": step counts start at 1, got ", t);
}

// Calls f(tag, idx, n, g) once per dtype present, with the indices of its parameters, their
// sizes and their (contiguous) gradients as const pointers.
template <class F>
void per_dtype(const std::vector<Tensor>& params, const std::vector<Tensor>& gs, F&& f) {
  auto [f32, f64] = split_dtypes(params);
  auto run = [&](auto tag, const std::vector<size_t>& idx) {
    using T = decltype(tag);
    if (idx.empty()) return;
    std::vector<int64_t> n = sizes(params, idx);
    std::vector<T*> g = ptrs<T>(gs, idx);
    std::vector<const T*> cg(g.begin(), g.end());
    f(tag, idx, n, cg);
  };
  run(float{}, f32);
  run(double{}, f64);
}

template <class V>
std::vector<V> pick(const std::vector<V>& v, const std::vector<size_t>& idx) {
  std::vector<V> out;
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

}  // namespace

void rmsprop_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs,
                   const std::vector<Tensor>& momentum_buffers,
                   const std::vector<Tensor>& grad_avgs, double lr, double alpha, double eps,
                   double weight_decay, double momentum, bool centered, bool maximize) {
  std::vector<std::pair<const char*, const std::vector<Tensor>*>> lists{
      {"square_avgs", &square_avgs}};
  if (momentum > 0) lists.push_back({"momentum_buffers", &momentum_buffers});
  if (centered) lists.push_back({"grad_avgs", &grad_avgs});
  std::vector<Tensor> gs = check_lists("rmsprop_step_", params, grads, lists);
  const std::vector<Tensor> none;
  const std::vector<Tensor>& b = momentum > 0 ? momentum_buffers : none;
  const std::vector<Tensor>& a = centered ? grad_avgs : none;
  const RmspropScalars s{lr, alpha, eps, weight_decay, momentum, centered, maximize};
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    rmsprop_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), s,
                      ptrs<T>(params, idx).data(), ptrs<T>(square_avgs, idx).data(),
                      ptrs<T>(b, idx).data(), ptrs<T>(a, idx).data());
  });
  bump_all(params);
  bump_all(square_avgs);
  bump_all(b);
  bump_all(a);
}

void adagrad_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& state_sums, const std::vector<int64_t>& steps,
                   double lr, double lr_decay, double weight_decay, double eps, bool maximize) {
  std::vector<Tensor> gs = check_lists("adagrad_step_", params, grads,
                                       {{"state_sums", &state_sums}});
  check_steps("adagrad_step_", params, steps);
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    std::vector<double> clr;
    for (size_t i : idx) clr.push_back(lr / (1 + static_cast<double>(steps[i] - 1) * lr_decay));
    adagrad_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), clr.data(),
                      weight_decay, eps, maximize, ptrs<T>(params, idx).data(),
                      ptrs<T>(state_sums, idx).data());
  });
  bump_all(params);
  bump_all(state_sums);
}

void adadelta_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& acc_deltas,
                    double lr, double rho, double eps, double weight_decay, bool maximize) {
  std::vector<Tensor> gs = check_lists(
      "adadelta_step_", params, grads,
      {{"square_avgs", &square_avgs}, {"acc_deltas", &acc_deltas}});
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    adadelta_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), lr, rho, eps,
                       weight_decay, maximize, ptrs<T>(params, idx).data(),
                       ptrs<T>(square_avgs, idx).data(), ptrs<T>(acc_deltas, idx).data());
  });
  bump_all(params);
  bump_all(square_avgs);
  bump_all(acc_deltas);
}

void adamax_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_infs,
                  const std::vector<int64_t>& steps, double lr, double beta1, double beta2,
                  double eps, double weight_decay, bool maximize) {
  std::vector<Tensor> gs = check_lists("adamax_step_", params, grads,
                                       {{"exp_avgs", &exp_avgs}, {"exp_infs", &exp_infs}});
  check_steps("adamax_step_", params, steps);
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    std::vector<double> clr;
    for (size_t i : idx) clr.push_back(lr / (1 - std::pow(beta1, static_cast<double>(steps[i]))));
    adamax_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), clr.data(), beta1, beta2,
                     eps, weight_decay, maximize, ptrs<T>(params, idx).data(),
                     ptrs<T>(exp_avgs, idx).data(), ptrs<T>(exp_infs, idx).data());
  });
  bump_all(params);
  bump_all(exp_avgs);
  bump_all(exp_infs);
}

std::vector<double> nadam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                const std::vector<Tensor>& exp_avgs,
                                const std::vector<Tensor>& exp_avg_sqs,
                                const std::vector<double>& mu_products,
                                const std::vector<int64_t>& steps, double lr, double beta1,
                                double beta2, double eps, double weight_decay,
                                double momentum_decay, bool decoupled, bool maximize) {
  std::vector<Tensor> gs = check_lists("nadam_step_", params, grads,
                                       {{"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}});
  check_steps("nadam_step_", params, steps);
  FG_CHECK(mu_products.size() == params.size(), "nadam_step_: got ", params.size(), " params but ",
           mu_products.size(), " mu_products");
  std::vector<double> new_mu(params.size());
  std::vector<NadamCoef> coef(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const double t = static_cast<double>(steps[i]);
    const double mu = beta1 * (1.0 - 0.5 * std::pow(0.96, t * momentum_decay));
    const double mu_next = beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1) * momentum_decay));
    new_mu[i] = mu_products[i] * mu;
    coef[i] = {1 - std::pow(beta2, t), -lr * (1.0 - mu) / (1.0 - new_mu[i]),
               (-lr * mu_next) / (1.0 - new_mu[i] * mu_next)};
  }
  const AdamFamilyScalars s{lr, beta1, beta2, eps, weight_decay, decoupled, maximize};
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    std::vector<NadamCoef> c = pick(coef, idx);
    nadam_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), c.data(), s,
                    ptrs<T>(params, idx).data(), ptrs<T>(exp_avgs, idx).data(),
                    ptrs<T>(exp_avg_sqs, idx).data());
  });
  bump_all(params);
  bump_all(exp_avgs);
  bump_all(exp_avg_sqs);
  return new_mu;
}

void radam_step_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<int64_t>& steps, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, bool maximize) {
  std::vector<Tensor> gs = check_lists("radam_step_", params, grads,
                                       {{"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}});
  check_steps("radam_step_", params, steps);
  std::vector<RadamCoef> coef(params.size());
  const double rho_inf = 2 / (1 - beta2) - 1;
  for (size_t i = 0; i < params.size(); ++i) {
    const double t = static_cast<double>(steps[i]);
    const double bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
    const double rho_t = rho_inf - 2 * t * std::pow(beta2, t) / bc2;
    double rect = -1;
    if (rho_t > 5.0)
      rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                       ((rho_inf - 4) * (rho_inf - 2) * rho_t));
    coef[i] = {bc1, std::sqrt(bc2), rect};
  }
  const AdamFamilyScalars s{lr, beta1, beta2, eps, weight_decay, decoupled, maximize};
  per_dtype(
      params, gs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& g) {
    using T = decltype(tag);
    std::vector<RadamCoef> c = pick(coef, idx);
    radam_update<T>(static_cast<int64_t>(idx.size()), n.data(), g.data(), c.data(), s,
                    ptrs<T>(params, idx).data(), ptrs<T>(exp_avgs, idx).data(),
                    ptrs<T>(exp_avg_sqs, idx).data());
  });
  bump_all(params);
  bump_all(exp_avgs);
  bump_all(exp_avg_sqs);
}

// --- gradient clipping (kernels/clip.cpp) ------------------------------------------------------
namespace {

void check_float_list(const char* op, const std::vector<Tensor>& ts) {
  for (size_t i = 0; i < ts.size(); ++i) {
    FG_CHECK(ts[i], op, ": tensor ", i, " is None");
    FG_TYPE_CHECK(is_floating(ts[i]->dtype()), op, ": tensor ", i, " must be floating point, got ",
                  dtype_name(ts[i]->dtype()));
  }
}

}  // namespace

std::vector<double> foreach_norm(const std::vector<Tensor>& tensors, double ord) {
  check_float_list("foreach_norm", tensors);
  std::vector<Tensor> xs(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    xs[i] = tensors[i]->is_contiguous() ? tensors[i] : contiguous(detach(tensors[i]));
  std::vector<double> out(tensors.size());
  per_dtype(
      xs, xs,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto& x) {
    using T = decltype(tag);
    std::vector<double> r(idx.size());
    norms<T>(static_cast<int64_t>(idx.size()), n.data(), x.data(), ord, r.data());
    for (size_t j = 0; j < idx.size(); ++j) out[idx[j]] = static_cast<double>(static_cast<T>(r[j]));
  });
  return out;
}

void foreach_mul_(const std::vector<Tensor>& tensors, double factor) {
  check_float_list("foreach_mul_", tensors);
  for (size_t i = 0; i < tensors.size(); ++i)
    FG_CHECK(tensors[i]->is_contiguous(), "foreach_mul_: tensor ", i, " of shape ",
             tensors[i]->shape(), " must be contiguous");
  per_dtype(
      tensors, tensors,
      [&](auto tag, const std::vector<size_t>& idx, const std::vector<int64_t>& n, const auto&) {
    using T = decltype(tag);
    scale<T>(static_cast<int64_t>(idx.size()), n.data(), factor, ptrs<T>(tensors, idx).data());
  });
  bump_all(tensors);
}

}  // namespace fastgrad
