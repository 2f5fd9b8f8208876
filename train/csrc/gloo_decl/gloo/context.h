// See algorithm.h: a declaration only. The one member named here is used by an inline virtual
// function of ProcessGroupGloo whose code libtorch emits, not this shim.
#pragma once
#include <chrono>
namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
} // namespace gloo
