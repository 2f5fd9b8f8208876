#!/usr/bin/env bash
# The full test suite on a fresh machine: installs what it needs, then checks formatting,
# lints, bare-metal builds of the core, every test, and short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

# Golden data and real event recordings live outside the repository (large or GPL files).
export SDT_GOLDEN_DIR="${SDT_GOLDEN_DIR:-$root/../shared/golden}"
export SDT_EVENTS_DIR="${SDT_EVENTS_DIR:-$root/../shared/events}"
for dir in "$SDT_GOLDEN_DIR" "$SDT_EVENTS_DIR"; do
  [ -d "$dir" ] || { echo "missing data folder $dir (set SDT_GOLDEN_DIR / SDT_EVENTS_DIR)"; exit 1; }
done

apt_install() {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@"
  else sudo apt-get update -qq && sudo apt-get install -y -qq "$@"; fi
}

# The whole run needs about 16 GB of disk (torch in .venv 5 GB, the build folders 11 GB).
df -h . | tail -n 1 | awk '{print "disk: " $4 " free of " $2}'

step "toolchain: bare-metal targets, nightly, cargo-fuzz, cbindgen; C compilers and QEMU for the C API tests"
rustup target add thumbv7em-none-eabihf thumbv8m.main-none-eabihf
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
command -v cbindgen >/dev/null || cargo install cbindgen --locked
command -v cc >/dev/null || apt_install gcc
command -v arm-none-eabi-gcc >/dev/null || apt_install gcc-arm-none-eabi
# newlib's headers (string.h) for CMSIS-NN, the Cortex-M55 dense int8 peer.
[ -f /usr/lib/arm-none-eabi/include/string.h ] || apt_install libnewlib-arm-none-eabi
command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# API docs without broken or ambiguous links (what docs.rs would render).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q

step "core and events are no_std without alloc (Cortex-M4F and Cortex-M55 targets)"
cargo build --release -p sdt-core -p sdt-events --target thumbv7em-none-eabihf
cargo build --release -p sdt-core -p sdt-events --target thumbv8m.main-none-eabihf
# The C API's static library for firmware (its own target dir: the capi tests build there too).
CARGO_TARGET_DIR=target/capi-c cargo clippy -p sdt-capi --target thumbv8m.main-none-eabihf -- -D warnings
CARGO_TARGET_DIR=target/capi-c cargo build --release -p sdt-capi --target thumbv7em-none-eabihf

# Every crate inherits the workspace's rust-version: 1.89, for the AVX-512 intrinsics of the
# x86 kernels (1.88 compiles them out silently); the locked postcard 1.2 and image 0.25.10 need
# 1.88, the code 1.87 (is_multiple_of).
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
step "minimum supported Rust $msrv: library crates build with it"
rustup toolchain install "$msrv" --profile minimal
cargo +"$msrv" check --target-dir target/msrv -p sdt-core -p sdt-events -p sdt-host -p sdt-convert -p sdt-dvs -p sdt-capi

# capi's tests also check the cbindgen header, run a host C program and the C firmware on
# QEMU mps3-an547 (built with arm-none-eabi-gcc), all bit-exact with the core (about 2 min:
# they build the static library for the host and for Cortex-M55 in target/capi-c).
step "tests (core, host, events, convert, dvs, C API, examples, end-to-end)"
cargo test --release

# About 2 minutes: the wheel reuses the release build of the workspace.
step "Python package: abi3 wheel (maturin), installed in a fresh venv, pytest, event decoding vs expelliarmus"
[ -x .venv-py/bin/maturin ] || { python3 -m venv .venv-py && .venv-py/bin/pip install -q 'maturin>=1.5,<2'; }
PYO3_PYTHON="$root/.venv-py/bin/python" cargo clippy --release -p sdt-python --all-targets -- -D warnings
PYO3_PYTHON="$root/.venv-py/bin/python" RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps -q -p sdt-python
rm -rf target/wheels
(cd python && ../.venv-py/bin/maturin build --release -o ../target/wheels)
cargo build --release -p sdt-convert -p sdt-dvs
pyvenv=$(mktemp -d)/venv
python3 -m venv "$pyvenv"
"$pyvenv/bin/pip" install -q target/wheels/sdt-*-abi3-*.whl pytest expelliarmus
# Run outside the repository so the installed wheel is what gets imported.
(cd "$(dirname "$pyvenv")" && "$pyvenv/bin/python" -m pytest -q "$root/python/tests")
"$pyvenv/bin/python" python/bench/bench_events.py --runs 50

# Host builds use default flags: every x86 kernel set is compiled in and picked at run time by
# a CPU probe (core/src/kernels/level.rs). The core kernel tests above already compare every
# level this CPU runs in one binary; here the release binaries and the end-to-end golden checks
# run with the level forced to each one in turn (SDT_KERNEL_LEVEL). A level the CPU lacks is
# refused by the binaries' own probe and noted (CI on an AVX-512 host covers every level).
# About 4 minutes on the shared 2-core machine for all four levels (build not counted).
step "end to end at every kernel level this CPU runs (portable, AVX2, AVX-512, AVX-512 VNNI)"
cargo build --release -p sdt-convert -p sdt-dvs -p sdt-examples
for level in portable avx2 avx512 avx512vnni; do
  if ! probe=$(SDT_KERNEL_LEVEL=$level target/release/sdt-convert inspect examples/data/digits32_int8.blob 2>&1); then
    if grep -q "not supported by this CPU" <<<"$probe"; then
      echo "note: this CPU has no $level: its kernels are tested on machines that have it"; continue
    fi
    echo "$probe"; exit 1
  fi
  echo "kernel level $level"
  SDT_KERNEL_LEVEL=$level cargo test --release -q -p sdt-tests
  SDT_KERNEL_LEVEL=$level target/release/classify_digits | tee "target/digits-$level.txt" | tail -n 2
  SDT_KERNEL_LEVEL=$level target/release/dvs_gesture >"target/gesture-$level.txt"
  # The same integers at every level: the reports differ only in timings (dropped here).
  untimed() { awk '$1 ~ /^[0-9]+$/ && NF >= 9 { $(NF - 2) = "" } !/ ms\// { print }' "$1"; }
  for run in digits gesture; do
    if ! diff <(untimed "target/$run-portable.txt") <(untimed "target/$run-$level.txt"); then
      echo "$run at $level differs from portable"; exit 1
    fi
  done
done

step "trainer on libtorch (creates .venv with pip torch 2.11.0, onnxruntime and onnx on first use)"
# ort-env.sh is torch-env.sh plus the ONNX Runtime peer's packages for tests/ort_peer.rs
# (onnxruntime, onnx, numpy: about 30 s to install once; the test itself about 30 s).
torch_env=$(bash scripts/ort-env.sh)
eval "$torch_env"
# The trainer's NCCL process group compiles against CUDA headers the torch wheel lacks (crt/,
# nv/): fetch them (about 20 MB, headers only, not into the venv) so that code path is compiled
# and linked here too. It runs only on GPU machines.
cuda=$(python3 -c 'import torch; print(torch.version.cuda or "")')
if [ -n "$cuda" ]; then
  cuda_headers="$root/target/cuda-headers-$cuda"
  cuda_include="$cuda_headers/nvidia/cu${cuda%%.*}/include"
  if [ ! -f "$cuda_include/crt/host_config.h" ] || [ ! -e "$cuda_include/nv/target" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$cuda_headers" \
      "nvidia-cuda-crt==$cuda.*" "nvidia-cuda-cccl==$cuda.*"
  fi
  export SDT_CUDA_INCLUDE="$cuda_include"
fi
cargo clippy -p sdt-train --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p sdt-train
# libtorch's OpenMP threads spin while waiting; when test threads share the two cores that
# spinning slows training by an order of magnitude, so they wait passively.
OMP_WAIT_POLICY=PASSIVE cargo test --release -p sdt-train

step "Cortex-M55 firmware on QEMU mps3-an547: bit-exact with the host core, CMSIS-NN dense int8 peer side by side (boards/)"
# Arm's CMSIS-NN sources, built in place for the peer firmware (feature cmsis-nn).
export SDT_CMSIS_NN_DIR="${SDT_CMSIS_NN_DIR:-$root/../shared/vendor/CMSIS-NN}"
(
  cd boards
  cargo fmt -p sdt-qemu-m55 -p sdt-qemu-m55-host -- --check
  cargo clippy -p sdt-qemu-m55-host --all-targets -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q -p sdt-qemu-m55-host
  cargo clippy -p sdt-qemu-m55 --target thumbv8m.main-none-eabihf -- -D warnings
  cargo clippy -p sdt-qemu-m55 --features helium --target thumbv8m.main-none-eabihf -- -D warnings
  cargo clippy -p sdt-qemu-m55 --features cmsis-nn --target thumbv8m.main-none-eabihf -- -D warnings
  RUSTFLAGS="-C target-cpu=cortex-m55" CARGO_TARGET_DIR=target/clippy-core-helium \
    cargo clippy --manifest-path ../core/Cargo.toml --features helium --target thumbv8m.main-none-eabihf -- -D warnings
  cargo test -p sdt-qemu-m55-host
)

step "RK3588 NPU board: host tests of the NPU path, RKNN bindings, aarch64 cross-build with the NPU (boards/rk3588)"
# The `npu` feature generates its bindings from Rockchip's headers (bindgen: libclang) and
# links a stub librknnrt.so generated from them (cross C compiler).
export RKNPU_INCLUDE_DIR="${RKNPU_INCLUDE_DIR:-$root/../shared/vendor/rknpu2/include}"
[ -f "$RKNPU_INCLUDE_DIR/rknn_matmul_api.h" ] || {
  echo "missing $RKNPU_INCLUDE_DIR/rknn_matmul_api.h (set RKNPU_INCLUDE_DIR to rknpu2's include folder)"; exit 1; }
need_apt=""
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt="$need_apt gcc-aarch64-linux-gnu"
# libclang itself: `libclang-cpp` (pulled in by llvm-*-dev) is a different library bindgen
# cannot use.
has_libclang() {
  local f
  for f in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
    /usr/lib/*/libclang.so* /usr/lib/*/libclang-[0-9]*.so*; do
    [ -e "$f" ] && return 0
  done
  return 1
}
has_libclang || need_apt="$need_apt libclang-dev"
if [ -n "$need_apt" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $need_apt
  else sudo apt-get update -qq && sudo apt-get install -y -qq $need_apt; fi
fi
rustup target add aarch64-unknown-linux-gnu
(
  cd boards
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  cargo fmt -p sdt-rk3588 -- --check
  cargo clippy -p sdt-rk3588 --all-targets -- -D warnings
  cargo clippy -p sdt-rk3588 --all-targets --features npu -- -D warnings
  cargo test --release -p sdt-rk3588
  # x86_64 layout of the bindings against gcc's, and a call into the stub runtime.
  cargo test --release -p sdt-rk3588 --features npu --test npu_ffi
  cargo build --release -p sdt-rk3588 --target aarch64-unknown-linux-gnu
  # The NPU backend for the board: its build asserts the aarch64 layout against
  # aarch64-linux-gnu-gcc's and links against the stub runtime.
  cargo build --release -p sdt-rk3588 --target aarch64-unknown-linux-gnu --features npu
  aarch64-linux-gnu-readelf -d target/aarch64-unknown-linux-gnu/release/sdt-rk3588 | grep -q 'NEEDED.*librknnrt.so'
)

step "STM32H747I-DISCO firmware: host tests, Cortex-M7 builds for the digits model and SDT-10M, footprint (boards/)"
(
  cd boards
  fw=target/thumbv7em-none-eabihf/release/stm32h747i-disco
  footprint="cargo run -q -p sdt-stm32h747i-disco --features host-tools --bin footprint --"
  cargo fmt -p sdt-stm32h747i-disco -- --check
  cargo clippy -p sdt-stm32h747i-disco --all-targets --features host-tools -- -D warnings
  cargo clippy -p sdt-stm32h747i-disco --release --target thumbv7em-none-eabihf -- -D warnings
  cargo test -p sdt-stm32h747i-disco --lib
  # SDT-10M int8: the linker must place its weights in QSPI and its arena in SDRAM.
  sdt10m=$(mktemp -d)/sdt10m_int8.blob
  (cd .. && cargo run --release -q -p sdt-convert -- pack "$SDT_GOLDEN_DIR/sdt_m_224_seed1.pth" \
    -o "$sdt10m" --input-size 224 --weight-bits 8 >/dev/null)
  SDT_BLOB="$sdt10m" SDT_INPUTS="$SDT_GOLDEN_DIR/sdt_m_224_seed1_io.safetensors" SDT_IMAGES=1 \
    cargo build --release --target thumbv7em-none-eabihf -p sdt-stm32h747i-disco
  # Both keep their spike thresholds in RAM across inferences (a non-empty `.kept` section).
  kept_reserved() {
    grep -Eq 'kept thresholds \(\.kept, NOLOAD\) +[1-9]' "$1" ||
      { echo "the STM32 firmware reserves no RAM for its kept spike thresholds"; exit 1; }
  }
  report=$(mktemp)
  $footprint --elf "$fw" | tee "$report"
  kept_reserved "$report"
  # The bundled digits model (the default firmware).
  cargo build --release --target thumbv7em-none-eabihf -p sdt-stm32h747i-disco
  $footprint --elf "$fw" ../examples/data/digits32_int8.blob "$sdt10m" | tee "$report"
  kept_reserved "$report"
)

step "main job runs (DVS gesture demo; the digits example too)"
cargo run --release -q -p sdt-examples --bin dvs_gesture >/dev/null
cargo run --release -q -p sdt-examples --bin classify_digits >/dev/null

step "fuzzing: the committed regression inputs replayed, then short runs (scripts/fuzz.sh runs long ones)"
fuzz_seconds="${FUZZ_SECONDS:-20}"
(
  cd fuzz
  cargo fmt -- --check
  cargo test --release --test regressions
  for target in $(cargo +nightly fuzz list); do
    echo "fuzz $target for ${fuzz_seconds}s"
    mkdir -p "corpus/$target"
    cp -n "regressions/$target"/* "corpus/$target"/ 2>/dev/null || true
    rm -rf "artifacts/$target"
    log=$(mktemp)
    if cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$fuzz_seconds" \
      -rss_limit_mb=2048 >"$log" 2>&1; then
      tail -n 2 "$log"
    else
      # A finding: libFuzzer's report, and the input itself, since a CI checkout is thrown away.
      { grep -v '^#[0-9]' "$log" || true; } | tail -n 80
      for input in artifacts/"$target"/*; do
        [ -f "$input" ] || continue
        echo "input $input ($(stat -c %s "$input") bytes), base64:"
        base64 -w 100 "$input" | head -c 20000
        echo
      done
      df -h . | tail -n 1 | awk '{print "disk: " $4 " free of " $2}'
      echo "fuzz target $target failed: a build error is above; a finding's input too (save it into fuzz/regressions/$target/)"
      exit 1
    fi
    rm -f "$log"
  done
)

echo
echo "all checks passed"
