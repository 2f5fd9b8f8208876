// C entry points over libtorch's c10d (process groups and rendezvous stores) for `sdt-train`.
//
// Every function catches C++ exceptions and reports them as a return code plus a message in a
// caller-provided buffer; nothing unwinds into Rust. Tensors arrive as the `at::Tensor*` handles
// that `tch` passes to libtorch.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "dist.h"

namespace {

using Millis = std::chrono::milliseconds;

void report(char* err, size_t len, const std::string& msg) {
  if (err == nullptr || len == 0) {
    return;
  }
  size_t n = std::min(len - 1, msg.size());
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// Runs `body`, turning any exception into -1 and a message (c10 errors without backtrace).
template <typename F>
int guarded(char* err, size_t len, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    report(err, len, e.what_without_backtrace());
  } catch (const std::exception& e) {
    report(err, len, e.what());
  } catch (...) {
    report(err, len, "unknown C++ exception");
  }
  return -1;
}

std::string heartbeat_key(int rank) {
  return "sdt/heartbeat/" + std::to_string(rank);
}

}  // namespace

struct sdt_dist {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int rank = 0;
  int world = 1;
  Millis timeout{0};
  // Liveness: a thread bumps this rank's counter in the store every `beat`; a survivor of a
  // failed collective reads which counters stopped moving.
  Millis beat{1000};
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;

  void start_heartbeat() {
    heartbeat = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex);
      while (!stop) {
        lock.unlock();
        try {
          store->add(heartbeat_key(rank), 1);
        } catch (...) {
          // The store is gone (its host died): nothing left to signal to.
          return;
        }
        lock.lock();
        wake.wait_for(lock, beat, [this] { return stop; });
      }
    });
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    wake.notify_all();
    if (heartbeat.joinable()) {
      heartbeat.join();
    }
  }
};

#ifdef SDT_WITH_NCCL
// Defined in nccl.cpp (compiled only against a CUDA libtorch with NCCL headers at hand).
c10::intrusive_ptr<c10d::Backend> sdt_make_nccl(
    const c10::intrusive_ptr<c10d::Store>& store,
    int rank,
    int world,
    int local_rank,
    Millis timeout);
#endif

extern "C" {

int sdt_dist_has_nccl(void) {
#ifdef SDT_WITH_NCCL
  return 1;
#else
  return 0;
#endif
}

sdt_dist* sdt_dist_init(
    const sdt_dist_params* p,
    char* err,
    size_t err_len) {
  sdt_dist* out = nullptr;
  guarded(err, err_len, [&] {
    auto timeout = Millis(p->timeout_ms);
    c10::intrusive_ptr<c10d::Store> base;
    if (p->store_kind == SDT_STORE_FILE) {
      base = c10::make_intrusive<c10d::FileStore>(p->address, p->world);
    } else {
      c10d::TCPStoreOptions opts;
      opts.port = static_cast<std::uint16_t>(p->port);
      opts.isServer = p->host_store != 0;
      opts.numWorkers = p->world;
      opts.waitWorkers = false;
      opts.timeout = timeout;
      base = c10::make_intrusive<c10d::TCPStore>(p->address, opts);
    }
    base->setTimeout(timeout);
    auto store = c10::make_intrusive<c10d::PrefixStore>(p->prefix, base);
    auto dist = std::make_unique<sdt_dist>();
    dist->store = store;
    dist->rank = p->rank;
    dist->world = p->world;
    dist->timeout = timeout;
    dist->beat = Millis(p->heartbeat_ms);
    if (p->backend == SDT_BACKEND_NCCL) {
#ifdef SDT_WITH_NCCL
      dist->backend = sdt_make_nccl(
          c10::make_intrusive<c10d::PrefixStore>("nccl", store),
          p->rank,
          p->world,
          p->local_rank,
          timeout);
#else
      throw std::runtime_error(
          "this build has no NCCL process group (libtorch without CUDA, or NCCL headers "
          "missing at build time)");
#endif
    } else {
      auto opts = c10d::ProcessGroupGloo::Options::create_default(timeout);
      dist->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>("gloo", store),
          p->rank,
          p->world,
          opts);
    }
    dist->start_heartbeat();
    out = dist.release();
  });
  return out;
}

int sdt_dist_all_reduce_sum(
    sdt_dist* d,
    void* const* tensors,
    size_t count,
    char* err,
    size_t err_len) {
  return guarded(err, err_len, [&] {
    // One collective per bucket, all in flight before the first wait: the backend pipelines them.
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    works.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      std::vector<at::Tensor> one{*static_cast<const at::Tensor*>(tensors[i])};
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = d->timeout;
      works.push_back(d->backend->allreduce(one, opts));
    }
    for (auto& w : works) {
      w->wait(d->timeout);
    }
  });
}

int sdt_dist_broadcast(
    sdt_dist* d,
    void* const* tensors,
    size_t count,
    int root,
    char* err,
    size_t err_len) {
  return guarded(err, err_len, [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (size_t i = 0; i < count; ++i) {
      std::vector<at::Tensor> one{*static_cast<const at::Tensor*>(tensors[i])};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = d->timeout;
      works.push_back(d->backend->broadcast(one, opts));
    }
    for (auto& w : works) {
      w->wait(d->timeout);
    }
  });
}

int sdt_dist_barrier(sdt_dist* d, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = d->timeout;
    d->backend->barrier(opts)->wait(d->timeout);
  });
}

int sdt_dist_silent_ranks(
    sdt_dist* d,
    int64_t window_ms,
    int* silent,
    size_t* silent_count,
    char* err,
    size_t err_len) {
  return guarded(err, err_len, [&] {
    std::vector<int64_t> before(d->world);
    for (int r = 0; r < d->world; ++r) {
      before[r] = d->store->add(heartbeat_key(r), 0);
    }
    std::this_thread::sleep_for(Millis(window_ms));
    size_t n = 0;
    for (int r = 0; r < d->world; ++r) {
      if (r != d->rank && d->store->add(heartbeat_key(r), 0) == before[r]) {
        silent[n++] = r;
      }
    }
    *silent_count = n;
  });
}

void sdt_dist_free(sdt_dist* d, int clean) {
  if (d == nullptr) {
    return;
  }
  d->stop_heartbeat();
  if (!clean) {
    // A peer failed: the backend's threads may still be blocked on it and the store's host may
    // be gone, so tearing them down could hang. The process is about to exit; leave them.
    return;
  }
  try {
    d->backend->shutdown();
  } catch (...) {
  }
  delete d;
}

}  // extern "C"
