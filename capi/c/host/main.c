/*
 * Host C program on the sdt C API: loads a blob, runs raw quantized int8 images through it and
 * prints each image's logits, top-1 class and the summed statistics.
 *
 *   cc -O2 -I capi/include capi/c/host/main.c target/release/libsdt_capi.a -lpthread -ldl -lm
 *   ./a.out examples/data/digits32_int8.blob images.i8
 */
#include <stdio.h>
#include <stdlib.h>

#include "sdt.h"

/* Reads a whole file into a 16-byte aligned buffer (the blob is read in place). */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = aligned_alloc(SDT_ALIGN, ((size_t)n + SDT_ALIGN) / SDT_ALIGN * SDT_ALIGN);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int fail(const char *what, sdt_status st) {
    fprintf(stderr, "%s: %s (status %d)\n", what, sdt_status_message(st), (int)st);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.blob IMAGES.i8\n", argv[0]);
        return 2;
    }
    size_t blob_len, images_len;
    uint8_t *blob = read_file(argv[1], &blob_len);
    int8_t *images = (int8_t *)read_file(argv[2], &images_len);
    if (!blob || !images) { fprintf(stderr, "cannot read the inputs\n"); return 2; }

    static uint8_t model_storage[SDT_MODEL_STORAGE_BYTES] __attribute__((aligned(SDT_ALIGN)));
    sdt_model *model;
    sdt_status st = sdt_model_load(blob, blob_len, model_storage, sizeof model_storage, &model);
    if (st != SDT_STATUS_OK) return fail("sdt_model_load", st);

    sdt_model_info info;
    sdt_model_get_info(model, &info);
    size_t arena_len;
    if ((st = sdt_arena_bytes(model, &arena_len)) != SDT_STATUS_OK) return fail("sdt_arena_bytes", st);
    uint8_t *arena = aligned_alloc(SDT_ALIGN, (arena_len + SDT_ALIGN) / SDT_ALIGN * SDT_ALIGN);
    sdt_session *session;
    if ((st = sdt_session_init(model, arena, arena_len, &session)) != SDT_STATUS_OK)
        return fail("sdt_session_init", st);
    /* Optional: the layers' spike thresholds built once, not on every image. */
    size_t kept_len;
    sdt_kept_thresholds_bytes(model, &kept_len);
    int32_t *kept = aligned_alloc(SDT_ALIGN, (kept_len + SDT_ALIGN) / SDT_ALIGN * SDT_ALIGN);
    if ((st = sdt_session_keep_thresholds(session, kept, kept_len)) != SDT_STATUS_OK)
        return fail("sdt_session_keep_thresholds", st);
    printf("model: input %ux%ux%u, %zu classes, logits Q%u, arena %zu bytes, thresholds %zu bytes\n",
           info.input_h, info.input_w, info.input_c, info.classes, info.logits_frac, arena_len,
           kept_len);

    size_t count = images_len / info.input_len;
    for (size_t i = 0; i < count; i++) {
        st = sdt_session_set_input_i8(session, images + i * info.input_len, info.input_len);
        if (st != SDT_STATUS_OK) return fail("sdt_session_set_input_i8", st);
        if ((st = sdt_session_run(session, SDT_KERNEL_SPIKE)) != SDT_STATUS_OK)
            return fail("sdt_session_run", st);
        const int32_t *logits;
        size_t classes, top1;
        sdt_session_logits(session, &logits, &classes);
        sdt_session_top1(session, &top1);
        printf("image %zu:", i);
        for (size_t c = 0; c < classes; c++) printf(" %ld", (long)logits[c]);
        printf(" top1 %zu\n", top1);
    }
    sdt_node_stats total;
    uint32_t runs;
    sdt_session_stats(session, &total, &runs);
    printf("stats: runs %lu sops %llu macs %llu spikes %llu energy_fj %llu\n", (unsigned long)runs,
           (unsigned long long)total.sops, (unsigned long long)total.macs,
           (unsigned long long)total.spikes, (unsigned long long)total.energy_fj);
    free(kept);
    free(arena);
    free(images);
    free(blob);
    return 0;
}
