// Thread-local grad mode (no_grad / enable_grad) and an RAII guard, and anomaly mode (detect_anomaly:
// nodes remember where they were created, backward checks each node's outputs for NaN/inf).
// Each Python thread has its own.
#pragma once
#include <string>

namespace fastgrad {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
  // Returns a description of the code creating a node (the bindings install one that reads the
  // Python stack); called by set_history only while anomaly mode is on.
  using TraceFn = std::string (*)();
  static void set_trace_fn(TraceFn fn);
  static std::string trace();
};

// fastgrad.viz.record(): nodes keep a detached alias of each output, so a picture of the graph
// can show every forward value (normally an intermediate nothing saved is freed at once).
struct KeepOutputsMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

struct AutoGradMode {
  explicit AutoGradMode(bool enabled) : prev_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

}  // namespace fastgrad
