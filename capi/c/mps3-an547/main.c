/*
 * C firmware for QEMU mps3-an547: runs the bundled digits model on the bundled test images
 * through the sdt C API (linked from the Rust static library) and prints each image's logits
 * over semihosting, in the same format as the host program (capi/c/host/main.c). No heap.
 */
#include <stdint.h>

#include "board.h"
#include "sdt.h"

extern const uint8_t digits_blob[], digits_blob_end[];
extern const int8_t digits_images[], digits_images_end[];

static uint8_t model_storage[SDT_MODEL_STORAGE_BYTES] __attribute__((aligned(SDT_ALIGN)));
/* The session arena fills SRAM2 (4 MiB); sdt_arena_bytes says how much the model needs. */
static uint8_t arena[4u << 20] __attribute__((section(".arena"), aligned(SDT_ALIGN)));

/* Appends the decimal text of `v` at `p`, returns the new end. */
static char *put_int(char *p, long long v) {
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do { digits[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = digits[--n];
    return p;
}

static char *put_str(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static int fail(const char *what, sdt_status st) {
    char line[160], *p = put_str(line, what);
    p = put_str(p, ": ");
    p = put_str(p, sdt_status_message(st));
    p = put_str(p, "\n");
    *p = 0;
    semihost_write(line);
    return 10 + (int)st;
}

int main(void) {
    sdt_model *model;
    sdt_status st = sdt_model_load(digits_blob, (size_t)(digits_blob_end - digits_blob),
                                   model_storage, sizeof model_storage, &model);
    if (st != SDT_STATUS_OK) return fail("sdt_model_load", st);
    sdt_model_info info;
    sdt_model_get_info(model, &info);
    size_t arena_len;
    if ((st = sdt_arena_bytes(model, &arena_len)) != SDT_STATUS_OK) return fail("sdt_arena_bytes", st);
    sdt_session *session;
    if ((st = sdt_session_init(model, arena, sizeof arena, &session)) != SDT_STATUS_OK)
        return fail("sdt_session_init", st);

    size_t count = (size_t)(digits_images_end - digits_images) / info.input_len;
    for (size_t i = 0; i < count; i++) {
        st = sdt_session_set_input_i8(session, digits_images + i * info.input_len, info.input_len);
        if (st != SDT_STATUS_OK) return fail("sdt_session_set_input_i8", st);
        if ((st = sdt_session_run(session, SDT_KERNEL_SPIKE)) != SDT_STATUS_OK)
            return fail("sdt_session_run", st);
        const int32_t *logits;
        size_t classes, top1;
        sdt_session_logits(session, &logits, &classes);
        sdt_session_top1(session, &top1);
        char line[32 + 12 * 64], *p = put_str(line, "image ");
        p = put_int(p, (long long)i);
        p = put_str(p, ":");
        for (size_t c = 0; c < classes && c < 64; c++) {
            p = put_str(p, " ");
            p = put_int(p, logits[c]);
        }
        p = put_str(p, " top1 ");
        p = put_int(p, (long long)top1);
        p = put_str(p, "\n");
        *p = 0;
        semihost_write(line);
    }
    char line[64], *p = put_str(line, "arena ");
    p = put_int(p, (long long)arena_len);
    p = put_str(p, " bytes\n");
    *p = 0;
    semihost_write(line);
    return 0;
}
