// C interface of dist.cpp (mirrored in src/dist/ffi.rs).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdt_dist sdt_dist;

enum { SDT_STORE_TCP = 0, SDT_STORE_FILE = 1 };
enum { SDT_BACKEND_GLOO = 0, SDT_BACKEND_NCCL = 1 };

typedef struct sdt_dist_params {
  int store_kind;
  // TCP: the store host's address; file: the store file's path.
  const char* address;
  int port;
  // TCP: whether this process hosts the store (rank 0 without an agent store).
  int host_store;
  // Key prefix separating this run's keys from others in a shared store.
  const char* prefix;
  int rank;
  int world;
  int local_rank;
  int backend;
  int64_t timeout_ms;
  int64_t heartbeat_ms;
} sdt_dist_params;

int sdt_dist_has_nccl(void);
sdt_dist* sdt_dist_init(const sdt_dist_params* params, char* err, size_t err_len);
int sdt_dist_all_reduce_sum(sdt_dist* d, void* const* tensors, size_t count, char* err, size_t err_len);
int sdt_dist_broadcast(sdt_dist* d, void* const* tensors, size_t count, int root, char* err, size_t err_len);
int sdt_dist_barrier(sdt_dist* d, char* err, size_t err_len);
int sdt_dist_silent_ranks(sdt_dist* d, int64_t window_ms, int* silent, size_t* silent_count, char* err, size_t err_len);
void sdt_dist_free(sdt_dist* d, int clean);

#ifdef __cplusplus
}
#endif
