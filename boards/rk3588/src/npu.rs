//! The NPU through the RKNN matmul API (`librknnrt`): one INT8 × INT8 → INT32 matmul context
//! per tile, A, B and C in native layout, B (weights) written once at load.
//!
//! Built with feature `npu`, against bindings generated from the vendor headers ([`crate::rknn`]);
//! the real `librknnrt.so` is on the board (aarch64), a generated stub elsewhere.

use std::os::raw::c_int;
use std::ptr;

use crate::rknn as ffi;

use crate::backend::Backend;
use crate::native::Padded;
use crate::RkError;

/// `B_layout` and `AC_layout` are `int16_t` fields holding `rknn_matmul_layout` values.
const LAYOUT_NATIVE: i16 = ffi::RKNN_MM_LAYOUT_NATIVE as i16;

fn check(call: &'static str, code: c_int) -> Result<(), RkError> {
    if code == 0 {
        Ok(())
    } else {
        Err(RkError::Device { call, code })
    }
}

/// The RK3588 NPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct Npu;

/// One matmul context with its three buffers.
pub struct NpuTile {
    ctx: ffi::rknn_matmul_ctx,
    io: ffi::rknn_matmul_io_attr,
    mems: [*mut ffi::rknn_tensor_mem; 3],
    shape: Padded,
}

// SAFETY: the context and its buffers belong to this tile alone; the engine locks each tile,
// so exactly one thread uses them at a time, and the runtime's handles are not thread-bound.
unsafe impl Send for NpuTile {}

impl Drop for NpuTile {
    fn drop(&mut self) {
        // SAFETY: the buffers were created on this context and are destroyed once, before it.
        unsafe {
            for m in self.mems {
                if !m.is_null() {
                    ffi::rknn_destroy_mem(self.ctx, m);
                }
            }
            ffi::rknn_matmul_destroy(self.ctx);
        }
    }
}

impl NpuTile {
    /// Copies `src` into buffer `i` (0 = A, 1 = B) and flushes it to the device.
    fn write<T: Copy>(&mut self, i: usize, src: &[T], size: u32) -> Result<(), RkError> {
        let bytes = std::mem::size_of_val(src);
        let mem = self.mems[i];
        if mem.is_null() || bytes > size as usize {
            return Err(RkError::Buffer(if i == 0 { "A" } else { "B" }));
        }
        // SAFETY: `mem` is a live buffer of `size` ≥ `bytes` bytes mapped at `virt_addr`, and
        // nothing else accesses it while this tile is locked.
        unsafe {
            ptr::copy_nonoverlapping(
                src.as_ptr() as *const u8,
                (*mem).virt_addr as *mut u8,
                bytes,
            );
            let mode = ffi::RKNN_MEMORY_SYNC_TO_DEVICE;
            check("rknn_mem_sync", ffi::rknn_mem_sync(self.ctx, mem, mode))
        }
    }
}

impl Backend for Npu {
    type Tile = NpuTile;

    fn name(&self) -> &'static str {
        "RK3588 NPU"
    }

    fn prepare(&self, shape: Padded, b: Option<Vec<i8>>) -> Result<NpuTile, RkError> {
        // SAFETY: plain C structs; all-zero is their documented default.
        let mut info: ffi::rknn_matmul_info = unsafe { std::mem::zeroed() };
        info.M = shape.m as i32;
        info.K = shape.k as i32;
        info.N = shape.n as i32;
        info.type_ = ffi::RKNN_INT8_MM_INT8_TO_INT32;
        info.B_layout = LAYOUT_NATIVE;
        info.AC_layout = LAYOUT_NATIVE;
        let mut tile = NpuTile {
            ctx: 0 as _,
            // SAFETY: as above.
            io: unsafe { std::mem::zeroed() },
            mems: [ptr::null_mut(); 3],
            shape,
        };
        // SAFETY: valid pointers to initialized structs; the runtime fills `ctx` and `io`.
        let code = unsafe { ffi::rknn_matmul_create(&mut tile.ctx, &mut info, &mut tile.io) };
        check("rknn_matmul_create", code)?;
        let need = [shape.a_len(), shape.b_len(), shape.c_len() * 4];
        let sizes = [tile.io.A.size, tile.io.B.size, tile.io.C.size];
        for (i, (&size, &need)) in sizes.iter().zip(&need).enumerate() {
            if (size as usize) < need {
                return Err(RkError::Buffer(["A", "B", "C"][i]));
            }
            // SAFETY: the context is live; a null return is checked.
            let mem = unsafe { ffi::rknn_create_mem(tile.ctx, size) };
            if mem.is_null() {
                return Err(RkError::Device {
                    call: "rknn_create_mem",
                    code: -4,
                });
            }
            tile.mems[i] = mem;
        }
        let attrs = [&mut tile.io.A, &mut tile.io.B, &mut tile.io.C];
        for (mem, attr) in tile.mems.into_iter().zip(attrs) {
            // SAFETY: the buffer and the attribute belong to this context.
            let code = unsafe { ffi::rknn_matmul_set_io_mem(tile.ctx, mem, attr) };
            check("rknn_matmul_set_io_mem", code)?;
        }
        if let Some(b) = b {
            let size = tile.io.B.size;
            tile.write(1, &b, size)?;
        }
        Ok(tile)
    }

    fn run(
        &self,
        tile: &mut NpuTile,
        a: &[i8],
        b: Option<&[i8]>,
        c: &mut [i32],
    ) -> Result<(), RkError> {
        let s = tile.shape;
        if a.len() != s.a_len() || c.len() != s.c_len() {
            return Err(RkError::Buffer("A or C"));
        }
        tile.write(0, a, tile.io.A.size)?;
        if let Some(b) = b {
            if b.len() != s.b_len() {
                return Err(RkError::Buffer("B"));
            }
            tile.write(1, b, tile.io.B.size)?;
        }
        // SAFETY: the context has its three buffers bound.
        check("rknn_matmul_run", unsafe { ffi::rknn_matmul_run(tile.ctx) })?;
        let mem = tile.mems[2];
        // SAFETY: C is a live buffer of at least `c.len()·4` bytes (checked at prepare), read
        // after the device finished and its cache lines were invalidated.
        unsafe {
            let mode = ffi::RKNN_MEMORY_SYNC_FROM_DEVICE;
            check("rknn_mem_sync", ffi::rknn_mem_sync(tile.ctx, mem, mode))?;
            ptr::copy_nonoverlapping((*mem).virt_addr as *const i32, c.as_mut_ptr(), c.len());
        }
        Ok(())
    }
}
