//! The C API called as C would call it: same logits and statistics as the core, every failure
//! reported as its status code with a message.

use std::ffi::CStr;
use std::ptr;

use sdt_capi::*;
use sdt_convert::checkpoint;
use sdt_convert::verify::quantize_input;
use sdt_core::{Kernel, Sequential, Session, Stats};
use sdt_host::AlignedBlob;

fn digits_blob() -> AlignedBlob {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/data/digits32_int8.blob"
    );
    AlignedBlob::read(path.as_ref()).expect("digits blob")
}

#[repr(C, align(16))]
struct Storage([u8; SDT_MODEL_STORAGE_BYTES]);

fn load(bytes: &[u8], storage: &mut Storage) -> Result<*mut SdtModel, SdtStatus> {
    let mut model = ptr::null_mut();
    // SAFETY: `bytes` and `storage` outlive every use of the model in these tests.
    let st = unsafe {
        sdt_model_load(
            bytes.as_ptr(),
            bytes.len(),
            storage.0.as_mut_ptr(),
            storage.0.len(),
            &mut model,
        )
    };
    if st == SdtStatus::Ok {
        Ok(model)
    } else {
        Err(st)
    }
}

fn message(st: SdtStatus) -> String {
    // SAFETY: `sdt_status_message` returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sdt_status_message(st)) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn logits_and_stats_equal_the_core() {
    let blob = digits_blob();
    let model = blob.model().expect("model");
    let test = checkpoint::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/data/digits32_test.safetensors"
        )
        .as_ref(),
    )
    .expect("test images");
    let per = model.input_len();
    let mut storage = Box::new(Storage([0; SDT_MODEL_STORAGE_BYTES]));
    let handle = load(blob.bytes(), &mut storage).expect("loads");
    let mut info = SdtModelInfo::default();
    let mut need = 0usize;
    // SAFETY: handle from sdt_model_load, outputs are valid locals.
    unsafe {
        assert_eq!(sdt_model_get_info(handle, &mut info), SdtStatus::Ok);
        assert_eq!(sdt_arena_bytes(handle, &mut need), SdtStatus::Ok);
    }
    assert_eq!(info.input_len, per);
    assert_eq!(info.classes, model.classes());
    assert_eq!(info.input_is_i16, 0);
    let mut arena = vec![0u8; need];
    let mut session = ptr::null_mut();
    // SAFETY: the arena outlives the session.
    let st = unsafe { sdt_session_init(handle, arena.as_mut_ptr(), arena.len(), &mut session) };
    assert_eq!(st, SdtStatus::Ok, "{}", message(st));

    // The session keeps its spike thresholds; a buffer too short or misaligned is refused.
    let mut kept_bytes = 0usize;
    // SAFETY: handle from sdt_model_load, output a valid local.
    unsafe {
        assert_eq!(
            sdt_kept_thresholds_bytes(handle, &mut kept_bytes),
            SdtStatus::Ok
        );
    }
    assert_eq!(kept_bytes, 4 * sdt_core::kept_thresholds_len(&model));
    let mut kept = vec![0i32; kept_bytes / 4 + 1];
    // SAFETY: the buffers outlive the session; the refused calls keep nothing.
    unsafe {
        let short = sdt_session_keep_thresholds(session, kept.as_mut_ptr(), kept_bytes - 4);
        assert_eq!(short, SdtStatus::ArenaTooSmall);
        let odd = (kept.as_mut_ptr() as *mut u8).add(1) as *mut i32;
        let misaligned = sdt_session_keep_thresholds(session, odd, kept_bytes);
        assert_eq!(misaligned, SdtStatus::Misaligned);
        let kept = sdt_session_keep_thresholds(session, kept.as_mut_ptr(), kept_bytes);
        assert_eq!(kept, SdtStatus::Ok);
    }
    let mut ref_arena = vec![0u8; sdt_core::arena_bytes(&model, 1).expect("arena")];
    let mut reference = Session::new(&model, &mut ref_arena, 1).expect("session");
    let mut stats = Stats::default();
    let images = 5;
    for i in 0..images {
        let x = quantize_input(&model, &inputs(&test)[i * per..(i + 1) * per]).expect("quantize");
        reference.set_input(x.as_input()).expect("input");
        reference
            .run(Kernel::SpikeDriven, &Sequential, Some(&mut stats))
            .expect("run");
        let sdt_core::Input::I8(q) = x.as_input() else {
            panic!("i8 input")
        };
        let (mut logits, mut classes, mut top1) = (ptr::null(), 0usize, 0usize);
        // SAFETY: session from sdt_session_init; `q` lives across the call; the logits are read
        // before the next run.
        unsafe {
            assert_eq!(
                sdt_session_set_input_i8(session, q.as_ptr(), q.len()),
                SdtStatus::Ok
            );
            let kernel = if i % 2 == 0 {
                SdtKernel::Spike
            } else {
                SdtKernel::Dense
            };
            assert_eq!(sdt_session_run(session, kernel), SdtStatus::Ok);
            assert_eq!(
                sdt_session_logits(session, &mut logits, &mut classes),
                SdtStatus::Ok
            );
            assert_eq!(sdt_session_top1(session, &mut top1), SdtStatus::Ok);
            assert_eq!(
                std::slice::from_raw_parts(logits, classes),
                reference.logits()
            );
        }
        assert_eq!(top1, reference.top1());
    }
    let (mut total, mut runs) = (SdtNodeStats::default(), 0u32);
    let mut first = SdtNodeStats::default();
    // SAFETY: session from sdt_session_init, outputs are valid locals.
    unsafe {
        assert_eq!(
            sdt_session_stats(session, &mut total, &mut runs),
            SdtStatus::Ok
        );
        assert_eq!(
            sdt_session_node_stats(session, 0, &mut first),
            SdtStatus::Ok
        );
        assert_eq!(
            sdt_session_node_stats(session, info.nodes, &mut first),
            SdtStatus::BadNodeRange
        );
    }
    assert_eq!(runs, images as u32);
    // Spikes and sites are counted the same by both kernels; SOPs are those of the spike kernel.
    assert_eq!(total.spikes, stats.total().spikes);
    assert_eq!(total.sites, stats.total().sites);
    assert!(total.sops > 0 && total.energy_fj > 0);
    // SAFETY: as above.
    unsafe {
        assert_eq!(sdt_session_reset_stats(session), SdtStatus::Ok);
        assert_eq!(
            sdt_session_stats(session, &mut total, ptr::null_mut()),
            SdtStatus::Ok
        );
    }
    assert_eq!(total, SdtNodeStats::default());
}

fn inputs(test: &checkpoint::Checkpoint) -> &[f32] {
    &test.get("input").expect("input tensor").data
}

#[test]
fn failures_are_status_codes_with_messages() {
    let blob = digits_blob();
    let mut storage = Box::new(Storage([0; SDT_MODEL_STORAGE_BYTES]));

    let mut corrupt = blob.bytes().to_vec();
    corrupt[0] ^= 0xFF;
    let corrupt = AlignedBlob::from_bytes(&corrupt);
    assert_eq!(
        load(corrupt.bytes(), &mut storage).err(),
        Some(SdtStatus::BadMagic)
    );
    let mut flipped = blob.bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let flipped = AlignedBlob::from_bytes(&flipped);
    assert_eq!(
        load(flipped.bytes(), &mut storage).err(),
        Some(SdtStatus::ChecksumMismatch)
    );
    assert_eq!(
        load(&blob.bytes()[..100], &mut storage).err(),
        Some(SdtStatus::Truncated)
    );
    let mut model = ptr::null_mut();
    // SAFETY: NULL arguments are what is tested; nothing is dereferenced.
    let st = unsafe { sdt_model_load(ptr::null(), 0, storage.0.as_mut_ptr(), 0, &mut model) };
    assert_eq!(st, SdtStatus::NullArgument);
    // SAFETY: the blob is valid; the storage is 64 bytes, too few for a model.
    let st = unsafe {
        sdt_model_load(
            blob.bytes().as_ptr(),
            blob.bytes().len(),
            storage.0.as_mut_ptr(),
            64,
            &mut model,
        )
    };
    assert_eq!(st, SdtStatus::StorageTooSmall);
    assert!(message(st).contains("SDT_MODEL_STORAGE_BYTES"));

    let handle = load(blob.bytes(), &mut storage).expect("loads");
    let mut need = 0;
    // SAFETY: handle from sdt_model_load.
    unsafe { sdt_arena_bytes(handle, &mut need) };
    let mut arena = vec![0u8; need - 64];
    let mut session = ptr::null_mut();
    // SAFETY: the arena is 64 bytes shorter than needed: rejected before use.
    let st = unsafe { sdt_session_init(handle, arena.as_mut_ptr(), arena.len(), &mut session) };
    assert_eq!(st, SdtStatus::ArenaTooSmall);
    let mut arena = vec![0u8; need];
    // SAFETY: the arena outlives the session.
    let st = unsafe { sdt_session_init(handle, arena.as_mut_ptr(), arena.len(), &mut session) };
    assert_eq!(st, SdtStatus::Ok);
    let short = [0i8; 10];
    // SAFETY: `short` holds 10 values: too few, rejected.
    unsafe {
        assert_eq!(
            sdt_session_set_input_i8(session, short.as_ptr(), 10),
            SdtStatus::InputLength
        );
        assert_eq!(
            sdt_session_set_input_i16(session, [0i16; 4].as_ptr(), 4),
            SdtStatus::InputLength
        );
        assert_eq!(
            sdt_session_run(ptr::null_mut(), SdtKernel::Spike),
            SdtStatus::NullArgument
        );
    }
    for st in [SdtStatus::Ok, SdtStatus::Overflow, SdtStatus::Engine] {
        assert!(!message(st).is_empty());
    }
}

fn gesture_blob(dir: &str) -> AlignedBlob {
    let path = format!(
        "{}/../examples/data/{dir}dvs_gesture_int8.blob",
        env!("CARGO_MANIFEST_DIR")
    );
    AlignedBlob::read(path.as_ref()).expect("gesture blob")
}

/// Class names and event framing come from the blob's metadata; a blob without them says so.
#[test]
fn class_names_and_framing() {
    let class_name = |model: *const SdtModel, class: usize| -> Result<String, SdtStatus> {
        let (mut name, mut len) = (ptr::null(), 0usize);
        // SAFETY: a loaded model and writable out-pointers.
        let st = unsafe { sdt_model_class_name(model, class, &mut name, &mut len) };
        if st != SdtStatus::Ok {
            return Err(st);
        }
        // SAFETY: the call points `name` at `len` bytes inside the blob.
        let bytes = unsafe { std::slice::from_raw_parts(name, len) };
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    };
    let blob = gesture_blob("");
    let mut storage = Storage([0; SDT_MODEL_STORAGE_BYTES]);
    let model = load(blob.bytes(), &mut storage).unwrap();
    assert_eq!(class_name(model, 0).as_deref(), Ok("hand_clap"));
    assert_eq!(class_name(model, 10).as_deref(), Ok("other"));
    assert_eq!(class_name(model, 11), Err(SdtStatus::NoMetadata));
    let mut f = SdtEventFraming::default();
    // SAFETY: a loaded model and a writable framing.
    assert_eq!(
        unsafe { sdt_model_get_framing(model, &mut f) },
        SdtStatus::Ok
    );
    assert_eq!(
        f,
        SdtEventFraming {
            bin_us: 200_000,
            bin_events: 0,
            bins: 2,
            hop: 1,
            downsample: 4,
            clip: 4,
            polarity_channels: 8,
            sensor_width: 128,
            sensor_height: 128,
            normalize_events: 1_500,
            normalize_max_gain: 4,
        }
    );
    // SAFETY: NULL output pointer: reported, not written.
    assert_eq!(
        unsafe { sdt_model_get_framing(model, ptr::null_mut()) },
        SdtStatus::NullArgument
    );

    let old = gesture_blob("v1/");
    let mut storage = Storage([0; SDT_MODEL_STORAGE_BYTES]);
    let model = load(old.bytes(), &mut storage).unwrap();
    assert_eq!(class_name(model, 0), Err(SdtStatus::NoMetadata));
    // SAFETY: a loaded model and a writable framing.
    assert_eq!(
        unsafe { sdt_model_get_framing(model, &mut f) },
        SdtStatus::NoMetadata
    );
    assert!(message(SdtStatus::NoMetadata).contains("does not say"));

    // Corrupted metadata (a class name that is not UTF-8) is its own status.
    let mut bad = blob.clone();
    let b = bad.bytes_mut();
    let at = b
        .windows(9)
        .position(|w| w == b"hand_clap")
        .expect("the first class name");
    b[at] = 0xff;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let end = (u32_at(b, 16) + u32_at(b, 20)) as usize;
    let crc = sdt_core::blob::checksum(&b[..end]);
    b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    let mut storage = Storage([0; SDT_MODEL_STORAGE_BYTES]);
    assert_eq!(
        load(bad.bytes(), &mut storage).err(),
        Some(SdtStatus::BadMetadata)
    );
}
