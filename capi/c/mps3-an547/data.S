/* The model blob and the quantized test images, placed in DDR (QEMU's ELF loader writes them).
 * BLOB_FILE and IMAGES_FILE are the paths, passed by the build as -D definitions. */
    .section .ddr_rodata, "a"
    .balign 16
    .global digits_blob, digits_blob_end
digits_blob:
    .incbin BLOB_FILE
digits_blob_end:
    .balign 16
    .global digits_images, digits_images_end
digits_images:
    .incbin IMAGES_FILE
digits_images_end:
