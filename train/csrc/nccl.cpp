// The NCCL process group, compiled only when libtorch has CUDA and NCCL's headers are found.

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

c10::intrusive_ptr<c10d::Backend> sdt_make_nccl(
    const c10::intrusive_ptr<c10d::Store>& store,
    int rank,
    int world,
    int local_rank,
    std::chrono::milliseconds timeout) {
  if (c10::cuda::device_count() == 0) {
    throw std::runtime_error("NCCL needs a CUDA device, and this process sees none");
  }
  // One GPU per process, as torchrun's LOCAL_RANK convention.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank));
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
  pg->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank)));
  return pg;
}
