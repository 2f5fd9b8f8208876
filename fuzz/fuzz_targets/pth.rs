//! `torch.save` checkpoints, zip and legacy (see `sdt_fuzz::checkpoint`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sdt_fuzz::checkpoint::pth(data));
