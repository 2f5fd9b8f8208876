//! The RKNN bindings (feature `npu`): generated from the vendor headers, laid out as the C
//! compiler for the same target lays out the headers, and linked against `librknnrt.so`.
//!
//! On the host this checks the x86_64 layout and calls the generated stub library; the
//! aarch64 cross-build checks the aarch64 layout at compile time (the same table, asserted in
//! a constant), so a mismatch there fails the build.
#![cfg(feature = "npu")]

use sdt_rk3588::backend::Backend;
use sdt_rk3588::native::Padded;
use sdt_rk3588::npu::Npu;
use sdt_rk3588::rknn::{self, layout::CHECKS};
use sdt_rk3588::RkError;

#[test]
fn bindings_match_the_c_layout_of_the_headers() {
    let wrong: Vec<String> = CHECKS
        .iter()
        .filter(|(_, rust, c)| rust != c)
        .map(|(what, rust, c)| format!("{what}: Rust {rust}, C {c}"))
        .collect();
    assert!(wrong.is_empty(), "layout differs:\n{}", wrong.join("\n"));
    // Every struct and constant the NPU backend uses is among the checked ones.
    for what in [
        "size_of rknn_matmul_info_t",
        "offset_of rknn_matmul_info_t.B_layout",
        "offset_of rknn_matmul_info_t.AC_layout",
        "size_of _rknn_matmul_io_attr",
        "offset_of _rknn_matmul_tensor_attr.size",
        "size_of _rknn_tensor_memory",
        "offset_of _rknn_tensor_memory.virt_addr",
        "value of RKNN_INT8_MM_INT8_TO_INT32",
        "value of RKNN_MM_LAYOUT_NATIVE",
        "value of RKNN_MEMORY_SYNC_TO_DEVICE",
        "value of RKNN_MEMORY_SYNC_FROM_DEVICE",
    ] {
        assert!(
            CHECKS.iter().any(|(w, _, _)| *w == what),
            "{what} is not checked"
        );
    }
    assert!(CHECKS.len() > 250, "only {} checks", CHECKS.len());
    assert_eq!(rknn::RKNN_INT8_MM_INT8_TO_INT32, 2);
}

/// The stub fails every call, so the backend must report the first call that failed.
#[cfg(rknn_stub)]
#[test]
fn npu_backend_calls_the_runtime_and_reports_its_error() {
    match Npu.prepare(Padded::new(4, 64, 64), None) {
        Err(RkError::Device { call, code }) => {
            assert_eq!((call, code), ("rknn_matmul_create", rknn::RKNN_ERR_FAIL))
        }
        Err(other) => panic!("expected the runtime's error, got {other}"),
        Ok(_) => panic!("the stub runtime cannot create a matmul context"),
    }
}
