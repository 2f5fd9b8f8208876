//! The C API from C: the header is what cbindgen generates, a host C program and a C firmware
//! for QEMU mps3-an547 (Cortex-M55, built with arm-none-eabi-gcc) give the same logits as the
//! Rust core, bit for bit, on the digits test images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sdt_convert::checkpoint;
use sdt_convert::verify::{quantize_input, QuantizedInput};
use sdt_core::{Kernel, Sequential, Session};
use sdt_host::AlignedBlob;

const FIRMWARE_TARGET: &str = "thumbv8m.main-none-eabihf";
/// Images run on QEMU (emulation is slow; the host program runs more).
const QEMU_IMAGES: usize = 8;
const HOST_IMAGES: usize = 64;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn capi() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where these tests build: a target directory of their own, as cargo holds the lock of the
/// one running the tests.
fn work_dir() -> PathBuf {
    repo().join("target").join("capi-c")
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); see capi/README.md for the tools"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // QEMU writes semihosting SYS_WRITE0 text to its stderr.
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds the static library (host when `target` is `None`) and returns its path.
fn staticlib(target: Option<&str>) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo())
        .args(["build", "-q", "--release", "-p", "sdt-capi"])
        .env("CARGO_TARGET_DIR", work_dir())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS");
    let mut dir = work_dir();
    if let Some(t) = target {
        cmd.args(["--target", t]);
        dir = dir.join(t);
    }
    run(
        &mut cmd,
        &format!(
            "building the static library for {} (rustup target add {FIRMWARE_TARGET})",
            target.unwrap_or("the host")
        ),
    );
    dir.join("release").join("libsdt_capi.a")
}

/// The digits model, the first `n` quantized test images (raw `i8`, HWC) and the core's logits.
fn digits(n: usize) -> (PathBuf, Vec<u8>, Vec<Vec<i32>>) {
    let data = repo().join("examples").join("data");
    let blob_path = data.join("digits32_int8.blob");
    let blob = AlignedBlob::read(&blob_path).expect("digits blob");
    let model = blob.model().expect("digits model loads");
    let test = checkpoint::load(&data.join("digits32_test.safetensors")).expect("test images");
    let inputs = test.get("input").expect("input tensor");
    let per = model.input_len();
    let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).expect("arena size")];
    let mut session = Session::new(&model, &mut arena, 1).expect("session");
    let (mut raw, mut logits) = (Vec::new(), Vec::new());
    for i in 0..n {
        let x = quantize_input(&model, &inputs.data[i * per..(i + 1) * per]).expect("quantize");
        let QuantizedInput::I8(ref q) = x else {
            panic!("the digits model takes i8 input")
        };
        raw.extend(q.iter().map(|&v| v as u8));
        session.set_input(x.as_input()).expect("input");
        session
            .run(Kernel::SpikeDriven, &Sequential, None)
            .expect("run");
        logits.push(session.logits().to_vec());
    }
    (blob_path, raw, logits)
}

/// The `image I: L0 L1 ... top1 T` lines both C programs print.
fn parse_logits(stdout: &str) -> Vec<Vec<i32>> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("image "))
        .map(|l| {
            let (_, rest) = l.split_once(':').expect("image line has a colon");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let end = fields.len() - 2;
            assert_eq!(fields[end], "top1", "line ends with its top-1: {l}");
            fields[..end]
                .iter()
                .map(|v| v.parse().expect("integer logit"))
                .collect()
        })
        .collect()
}

#[test]
fn header_is_what_cbindgen_generates() {
    let fresh = work_dir().join("sdt.h");
    std::fs::create_dir_all(work_dir()).expect("work dir");
    run(
        Command::new("cbindgen")
            .current_dir(repo())
            .args([
                "--config",
                "capi/cbindgen.toml",
                "--crate",
                "sdt-capi",
                "--output",
            ])
            .arg(&fresh),
        "cbindgen (cargo install cbindgen --locked)",
    );
    let checked_in = std::fs::read_to_string(capi().join("include").join("sdt.h")).expect("header");
    let generated = std::fs::read_to_string(&fresh).expect("generated header");
    assert!(
        checked_in == generated,
        "capi/include/sdt.h is stale: regenerate it with \
         `cbindgen --config capi/cbindgen.toml --crate sdt-capi --output capi/include/sdt.h`"
    );
}

#[test]
fn host_c_program_matches_the_core() {
    let (blob, images, expected) = digits(HOST_IMAGES);
    let lib = staticlib(None);
    let dir = work_dir();
    let images_path = dir.join("host-images.i8");
    std::fs::write(&images_path, &images).expect("write images");
    let exe = dir.join("sdt-host-c");
    run(
        Command::new("cc")
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(capi().join("include"))
            .arg(capi().join("c/host/main.c"))
            .arg(&lib)
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(&exe),
        "compiling the host C program (apt-get install gcc)",
    );
    let stdout = run(
        Command::new(&exe).arg(&blob).arg(&images_path),
        "host C program",
    );
    assert_eq!(
        parse_logits(&stdout),
        expected,
        "host C logits differ:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("stats: runs {HOST_IMAGES} ")),
        "{stdout}"
    );
}

#[test]
fn c_firmware_on_qemu_matches_the_core() {
    let (blob, images, expected) = digits(QEMU_IMAGES);
    let lib = staticlib(Some(FIRMWARE_TARGET));
    let dir = work_dir();
    let images_path = dir.join("qemu-images.i8");
    std::fs::write(&images_path, &images).expect("write images");
    let board = capi().join("c/mps3-an547");
    let elf = dir.join("sdt-c-firmware.elf");
    let quoted = |p: &Path| format!("\"{}\"", p.display());
    run(
        Command::new("arm-none-eabi-gcc")
            .args([
                "-mcpu=cortex-m55",
                "-mthumb",
                "-mfloat-abi=hard",
                "-mfpu=auto",
            ])
            .args([
                "-std=c11",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-ffreestanding",
            ])
            .args(["-nostdlib", "-nostartfiles", "-Wl,--gc-sections"])
            .arg(format!("-DBLOB_FILE={}", quoted(&blob)))
            .arg(format!("-DIMAGES_FILE={}", quoted(&images_path)))
            .arg("-I")
            .arg(capi().join("include"))
            .arg("-I")
            .arg(&board)
            .arg("-T")
            .arg(board.join("mps3-an547.ld"))
            .args(["startup.c", "main.c", "data.S"].map(|f| board.join(f)))
            .arg(&lib)
            .arg("-lgcc")
            .arg("-o")
            .arg(&elf),
        "building the C firmware (apt-get install gcc-arm-none-eabi)",
    );
    let stdout = run(
        Command::new("timeout")
            .arg(Duration::from_secs(300).as_secs().to_string())
            .args(["qemu-system-arm", "-M", "mps3-an547", "-display", "none"])
            .args(["-serial", "null", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
            .arg(&elf),
        "QEMU (apt-get install qemu-system-arm)",
    );
    assert_eq!(
        parse_logits(&stdout),
        expected,
        "firmware logits differ from the host core:\n{stdout}"
    );
}
