/*
 * sdt.h - C API of the sdt-core integer runtime for spike-driven transformers (SDT-V3).
 *
 * Generated from capi/src/lib.rs by cbindgen (capi/cbindgen.toml); do not edit by hand:
 * `cbindgen --config capi/cbindgen.toml --crate sdt-capi --output capi/include/sdt.h`.
 *
 * Usage (no heap; every buffer belongs to the caller):
 *
 *   static uint8_t model_storage[SDT_MODEL_STORAGE_BYTES] __attribute__((aligned(16)));
 *   sdt_model *model;
 *   sdt_status st = sdt_model_load(blob, blob_len, model_storage, sizeof model_storage, &model);
 *   size_t need;  sdt_arena_bytes(model, &need);           // arena incl. session state
 *   sdt_session *s;  sdt_session_init(model, arena, arena_len, &s);
 *   sdt_session_set_input_i8(s, pixels, n);                  // quantized HWC input
 *   sdt_session_run(s, SDT_KERNEL_SPIKE);
 *   const int32_t *logits; size_t classes;  sdt_session_logits(s, &logits, &classes);
 *   if (st != SDT_STATUS_OK) puts(sdt_status_message(st));
 *
 * Thread safety: a model may be shared by sessions; a session is used by one thread at a time.
 * Lifetimes: the blob must outlive the model, the model and the arena must outlive the session.
 */

#ifndef SDT_H
#define SDT_H

#include <stddef.h>
#include <stdint.h>

/**
 * Bytes of caller storage one loaded model needs (pass at least this to `sdt_model_load`).
 */
#define SDT_MODEL_STORAGE_BYTES 24576

/**
 * Alignment the model storage and the arena should have (less works, at a few bytes' cost).
 */
#define SDT_ALIGN 16

/**
 * Result of every call. `SDT_STATUS_OK` is 0; the others say why a call failed.
 */
typedef enum sdt_status {
  SDT_STATUS_OK = 0,
  /**
   * A required pointer argument was NULL.
   */
  SDT_STATUS_NULL_ARGUMENT = 1,
  /**
   * The caller's storage for the model handle is too small (see `SDT_MODEL_STORAGE_BYTES`).
   */
  SDT_STATUS_STORAGE_TOO_SMALL = 2,
  /**
   * The blob is shorter than its header or declared sections.
   */
  SDT_STATUS_TRUNCATED = 3,
  /**
   * Not a model blob.
   */
  SDT_STATUS_BAD_MAGIC = 4,
  /**
   * The blob was written by an unsupported format version.
   */
  SDT_STATUS_UNSUPPORTED_VERSION = 5,
  /**
   * The blob's header offsets are inconsistent.
   */
  SDT_STATUS_BAD_LAYOUT = 6,
  /**
   * The blob's checksum does not match: corrupted.
   */
  SDT_STATUS_CHECKSUM_MISMATCH = 7,
  /**
   * The graph description does not decode.
   */
  SDT_STATUS_BAD_GRAPH = 8,
  /**
   * The blob is not 4-byte aligned in memory.
   */
  SDT_STATUS_MISALIGNED = 9,
  /**
   * The graph refers to a missing or invalid tensor.
   */
  SDT_STATUS_BAD_TENSOR = 10,
  /**
   * A node's tensors do not fit its operation.
   */
  SDT_STATUS_SHAPE_MISMATCH = 11,
  /**
   * A node reads a tensor before it is written.
   */
  SDT_STATUS_READ_BEFORE_WRITE = 12,
  /**
   * A weight or parameter section is out of range.
   */
  SDT_STATUS_BAD_SECTION = 13,
  /**
   * Unsupported parameters (kernel size, heads, spike count ...).
   */
  SDT_STATUS_UNSUPPORTED = 14,
  /**
   * An integer value could overflow: the blob is rejected.
   */
  SDT_STATUS_OVERFLOW = 15,
  /**
   * The arena is smaller than `sdt_arena_bytes` says.
   */
  SDT_STATUS_ARENA_TOO_SMALL = 16,
  /**
   * The input has the wrong length or type (`i8` versus `i16`).
   */
  SDT_STATUS_INPUT_LENGTH = 17,
  /**
   * Node index out of range.
   */
  SDT_STATUS_BAD_NODE_RANGE = 18,
  /**
   * A matrix-product engine failed.
   */
  SDT_STATUS_ENGINE = 19,
  /**
   * A worker count outside what the model was planned for.
   */
  SDT_STATUS_BAD_WORKER_COUNT = 20,
  /**
   * An error this version of the C API does not name yet (a newer core).
   */
  SDT_STATUS_OTHER = 21,
  /**
   * The blob's metadata (class names, input framing) is corrupted or does not fit it.
   */
  SDT_STATUS_BAD_METADATA = 22,
  /**
   * The blob does not say: no name for that class, or no event framing.
   */
  SDT_STATUS_NO_METADATA = 23,
} sdt_status;

/**
 * Which implementation of the synaptic operations runs (same integers either way).
 */
typedef enum sdt_kernel {
  /**
   * Accumulate-only, driven by the spikes present (the deployment kernel).
   */
  SDT_KERNEL_SPIKE = 0,
  /**
   * Dense multiply-accumulate reference.
   */
  SDT_KERNEL_DENSE = 1,
} sdt_kernel;

/**
 * A loaded, validated model (opaque; lives in the caller's storage).
 */
typedef struct sdt_model sdt_model;

/**
 * A model bound to an arena (opaque; lives at the start of the caller's arena).
 */
typedef struct sdt_session sdt_session;

/**
 * What a loaded model expects and produces.
 */
typedef struct sdt_model_info {
  /**
   * Input height, width and channels (the input is HWC).
   */
  uint32_t input_h;
  uint32_t input_w;
  uint32_t input_c;
  /**
   * Number of input values (`input_h * input_w * input_c`).
   */
  size_t input_len;
  /**
   * 1 if the input is `int16_t` (use `sdt_session_set_input_i16`), 0 if `int8_t`.
   */
  uint8_t input_is_i16;
  /**
   * Real value of one input step: `x = input_scale * (q - zero_point)`.
   */
  float input_scale;
  /**
   * Number of classes (logits).
   */
  size_t classes;
  /**
   * Logits are fixed point: `real = logit / 2^logits_frac`.
   */
  uint8_t logits_frac;
  /**
   * Number of nodes (for `sdt_session_node_stats`).
   */
  size_t nodes;
  /**
   * Bytes of the data section (weights and per-channel parameters).
   */
  size_t data_bytes;
} sdt_model_info;

/**
 * Counters of one node (or of the whole model), summed over the runs since init/reset.
 */
typedef struct sdt_node_stats {
  /**
   * Synaptic operations (accumulates) of the spike-driven kernels.
   */
  uint64_t sops;
  /**
   * Multiply-accumulates (the encoding layer).
   */
  uint64_t macs;
  /**
   * Spikes emitted, non-zero sites, all sites (nodes that emit spikes).
   */
  uint64_t spikes;
  uint64_t nonzero;
  uint64_t sites;
  /**
   * Estimated energy in femtojoules (45 nm: 0.9 pJ per AC, 4.6 pJ per MAC).
   */
  uint64_t energy_fj;
} sdt_node_stats;

/**
 * How an event stream is framed for an event model (`sdt_model_get_framing`): one model
 * run per bin, a window of `bins` bins, a new window every `hop` bins.
 */
typedef struct SdtEventFraming {
  /**
   * Bin length in µs, or 0 when bins count events.
   */
  uint64_t bin_us;
  /**
   * Bin length in events, or 0 when bins are time windows.
   */
  uint32_t bin_events;
  /**
   * Bins per window (T).
   */
  uint16_t bins;
  /**
   * A new window every `hop` bins.
   */
  uint16_t hop;
  /**
   * Integer spatial downsampling: pixel (x, y) lands in cell (x / f, y / f).
   */
  uint16_t downsample;
  /**
   * Largest count per cell.
   */
  uint8_t clip;
  /**
   * Input channels of the polarity layout, 2 × S: each bin is cut into S equal slices (of
   * its time, or of its events), channel 2s counts the OFF and 2s + 1 the ON events of
   * slice s (2: channel 0 OFF counts, channel 1 ON counts).
   */
  uint8_t polarity_channels;
  /**
   * The sensor the model was trained for.
   */
  uint16_t sensor_width;
  uint16_t sensor_height;
  /**
   * Count normalization: a bin of n < `normalize_events` events has every count multiplied
   * by round(normalize_events / n), at most `normalize_max_gain`, then clipped; 0: none.
   */
  uint32_t normalize_events;
  uint8_t normalize_max_gain;
} SdtEventFraming;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * @brief A static, NUL-terminated English message for a status code.
 * @param status Any `sdt_status` value.
 * @return A string with static storage duration; never NULL.
 */
const char *sdt_status_message(enum sdt_status status);

/**
 * @brief Loads and validates a model blob in place (weights are read from it, never copied).
 * @param blob        The blob bytes, 4-byte aligned (e.g. in flash).
 * @param blob_len    Length of the blob in bytes.
 * @param storage     Caller storage for the model handle, `SDT_ALIGN`-aligned preferred.
 * @param storage_len At least `SDT_MODEL_STORAGE_BYTES`.
 * @param out         Receives the model handle (it points into `storage`).
 * @return `SDT_STATUS_OK`, or why the blob was rejected (`SDT_STATUS_BAD_MAGIC`,
 *         `SDT_STATUS_CHECKSUM_MISMATCH`, `SDT_STATUS_MISALIGNED`, ...).
 *
 * # Safety
 * `blob` must be readable for `blob_len` bytes and `storage` writable for `storage_len`
 * bytes, both for as long as the model is used; `out` must be writable.
 */
enum sdt_status sdt_model_load(const uint8_t *blob,
                               size_t blob_len,
                               uint8_t *storage,
                               size_t storage_len,
                               struct sdt_model **out);

/**
 * @brief Describes a loaded model: input shape and type, input scale, classes, logits format.
 * @param model A handle from `sdt_model_load`.
 * @param info  Receives the description.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `model` must come from `sdt_model_load`; `info` must be writable.
 */
enum sdt_status sdt_model_get_info(const struct sdt_model *model, struct sdt_model_info *info);

/**
 * @brief Bytes of arena `sdt_session_init` needs for a model (tensors, session state,
 *        statistics and alignment slack).
 * @param model A handle from `sdt_model_load`.
 * @param bytes Receives the size.
 * @return `SDT_STATUS_OK`, or an error of the model's plan.
 *
 * # Safety
 * `model` must come from `sdt_model_load`; `bytes` must be writable.
 */
enum sdt_status sdt_arena_bytes(const struct sdt_model *model, size_t *bytes);

/**
 * @brief Starts a session of a model in the caller's arena. The session handle, its
 *        statistics and every tensor live in the arena.
 * @param model     A handle from `sdt_model_load`; must outlive the session.
 * @param arena     Caller memory, `SDT_ALIGN`-aligned preferred; not touched by the caller
 *                  while the session is in use.
 * @param arena_len At least what `sdt_arena_bytes` says.
 * @param out       Receives the session handle (it points into `arena`).
 * @return `SDT_STATUS_OK` or `SDT_STATUS_ARENA_TOO_SMALL`.
 *
 * # Safety
 * `model` must come from `sdt_model_load` and outlive the session; `arena` must be writable
 * for `arena_len` bytes, untouched by the caller while the session is used; `out` writable.
 */
enum sdt_status sdt_session_init(const struct sdt_model *model,
                                 uint8_t *arena,
                                 size_t arena_len,
                                 struct sdt_session **out);

/**
 * @brief Bytes a session of `model` needs to keep its layers' spike thresholds
 *        (`sdt_session_keep_thresholds`).
 * @param model A handle from `sdt_model_load`.
 * @param bytes Receives the size (a multiple of 4).
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `model` must come from `sdt_model_load`; `bytes` must be writable.
 */
enum sdt_status sdt_kept_thresholds_bytes(const struct sdt_model *model, size_t *bytes);

/**
 * @brief Builds the spike thresholds of every layer once, in `buffer`, instead of on
 *        every run (the logits do not change; 5-13 % fewer instructions a run on a
 *        Cortex-M55, about 3 % of a run's time on a host core). Optional.
 * @param session A handle from `sdt_session_init`.
 * @param buffer  4-byte aligned caller memory of `sdt_kept_thresholds_bytes` bytes or more;
 *                must outlive the session and stay untouched while it is used.
 * @param bytes   Its size.
 * @return `SDT_STATUS_OK`, `SDT_STATUS_MISALIGNED` or `SDT_STATUS_ARENA_TOO_SMALL`.
 *
 * # Safety
 * `session` must come from `sdt_session_init`; `buffer` must be writable for `bytes` bytes,
 * outlive the session and be untouched by the caller while the session is used.
 */
enum sdt_status sdt_session_keep_thresholds(struct sdt_session *session,
                                            int32_t *buffer,
                                            size_t bytes);

/**
 * @brief Copies a quantized `int8_t` input (HWC order) into the session.
 * @param session A handle from `sdt_session_init`.
 * @param input   `len` values: `q = round(x / input_scale) + zero_point`, clamped.
 * @param len     Must equal `sdt_model_info.input_len`.
 * @return `SDT_STATUS_OK`, or `SDT_STATUS_INPUT_LENGTH` (wrong length, or an `int16_t` model).
 *
 * # Safety
 * `session` from `sdt_session_init`; `input` readable for `len` values.
 */
enum sdt_status sdt_session_set_input_i8(struct sdt_session *session,
                                         const int8_t *input,
                                         size_t len);

/**
 * @brief Copies a quantized `int16_t` input (HWC order) into the session (models with
 *        `input_is_i16`).
 * @param session A handle from `sdt_session_init`.
 * @param input   `len` values.
 * @param len     Must equal `sdt_model_info.input_len`.
 * @return `SDT_STATUS_OK`, or `SDT_STATUS_INPUT_LENGTH`.
 *
 * # Safety
 * `session` from `sdt_session_init`; `input` readable for `len` values.
 */
enum sdt_status sdt_session_set_input_i16(struct sdt_session *session,
                                          const int16_t *input,
                                          size_t len);

/**
 * @brief Runs the model on the current input (single-threaded) and adds the run to the
 *        session's statistics. The input stays intact: runs can repeat.
 * @param session A handle from `sdt_session_init`.
 * @param kernel  `SDT_KERNEL_SPIKE` (deployment) or `SDT_KERNEL_DENSE` (same integers).
 * @return `SDT_STATUS_OK`, or an error of the run.
 *
 * # Safety
 * `session` from `sdt_session_init`.
 */
enum sdt_status sdt_session_run(struct sdt_session *session, enum sdt_kernel kernel);

/**
 * @brief The fixed-point logits of the last run (`real = logit / 2^logits_frac`).
 * @param session A handle from `sdt_session_init`.
 * @param logits  Receives a pointer into the arena, valid until the next run.
 * @param classes Receives the number of logits.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `session` from `sdt_session_init`; `logits` and `classes` writable.
 */
enum sdt_status sdt_session_logits(const struct sdt_session *session,
                                   const int32_t **logits,
                                   size_t *classes);

/**
 * @brief The class of the last run: the index of the largest logit (the first on ties).
 * @param session A handle from `sdt_session_init`.
 * @param class_  Receives the class index.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `session` from `sdt_session_init`; `class_` writable.
 */
enum sdt_status sdt_session_top1(const struct sdt_session *session, size_t *class_);

/**
 * @brief Statistics summed over all nodes and all runs since init or the last reset.
 * @param session A handle from `sdt_session_init`.
 * @param out     Receives SOPs, MACs, spikes, sites and the energy estimate.
 * @param runs    Receives the number of runs; may be NULL.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `session` from `sdt_session_init`; `out` writable, `runs` NULL or writable.
 */
enum sdt_status sdt_session_stats(const struct sdt_session *session,
                                  struct sdt_node_stats *out,
                                  uint32_t *runs);

/**
 * @brief Statistics of one node over the runs since init or the last reset.
 * @param session A handle from `sdt_session_init`.
 * @param node    Node index, below `sdt_model_info.nodes`.
 * @param out     Receives the node's counters.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_BAD_NODE_RANGE`.
 *
 * # Safety
 * `session` from `sdt_session_init`; `out` writable.
 */
enum sdt_status sdt_session_node_stats(const struct sdt_session *session,
                                       size_t node,
                                       struct sdt_node_stats *out);

/**
 * @brief Clears the session's statistics.
 * @param session A handle from `sdt_session_init`.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_NULL_ARGUMENT`.
 *
 * # Safety
 * `session` from `sdt_session_init`.
 */
enum sdt_status sdt_session_reset_stats(struct sdt_session *session);

/**
 * @brief A node's name: its module path in the checkpoint (empty if the blob has none).
 * @param model A handle from `sdt_model_load`.
 * @param node  Node index, below `sdt_model_info.nodes`.
 * @param name  Receives a pointer into the blob; the text is NOT NUL-terminated.
 * @param len   Receives the length in bytes.
 * @return `SDT_STATUS_OK` or `SDT_STATUS_BAD_NODE_RANGE`.
 *
 * # Safety
 * `model` from `sdt_model_load`; `name` and `len` writable.
 */
enum sdt_status sdt_model_node_name(const struct sdt_model *model,
                                    size_t node,
                                    const uint8_t **name,
                                    size_t *len);

/**
 * @brief The name of a class, stored in the blob.
 * @param model A handle from `sdt_model_load`.
 * @param class Class index, below `sdt_model_info.classes`.
 * @param name  Receives a pointer into the blob; the text is NOT NUL-terminated.
 * @param len   Receives the length in bytes (UTF-8).
 * @return `SDT_STATUS_OK`, or `SDT_STATUS_NO_METADATA` when the blob has no name for it.
 *
 * # Safety
 * `model` from `sdt_model_load`; `name` and `len` writable.
 */
enum sdt_status sdt_model_class_name(const struct sdt_model *model,
                                     size_t class_,
                                     const uint8_t **name,
                                     size_t *len);

/**
 * @brief How to frame an event stream for the model, as stored in the blob.
 * @param model   A handle from `sdt_model_load`.
 * @param framing Receives the framing.
 * @return `SDT_STATUS_OK`, or `SDT_STATUS_NO_METADATA` when the blob has none.
 *
 * # Safety
 * `model` from `sdt_model_load`; `framing` writable.
 */
enum sdt_status sdt_model_get_framing(const struct sdt_model *model,
                                      struct SdtEventFraming *framing);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SDT_H */
