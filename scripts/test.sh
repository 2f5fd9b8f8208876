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

step "toolchain: bare-metal targets, nightly, cargo-fuzz"
rustup target add thumbv7em-none-eabihf thumbv8m.main-none-eabihf
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

step "core is no_std without alloc (Cortex-M4F and Cortex-M55 targets)"
cargo build --release -p sdt-core --target thumbv7em-none-eabihf
cargo build --release -p sdt-core --target thumbv8m.main-none-eabihf

step "tests (core, convert, examples, end-to-end)"
cargo test --release

step "trainer on libtorch (creates .venv with pip torch 2.11.0 on first use)"
torch_env=$(bash scripts/torch-env.sh)
eval "$torch_env"
cargo clippy -p sdt-train --all-targets -- -D warnings
cargo test --release -p sdt-train

step "main job runs"
cargo run --release -q -p sdt-examples --bin classify_digits >/dev/null

step "fuzzing (short runs)"
fuzz_seconds="${FUZZ_SECONDS:-20}"
(
  cd fuzz
  for target in $(cargo +nightly fuzz list); do
    echo "fuzz $target for ${fuzz_seconds}s"
    mkdir -p "corpus/$target"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 2>&1 | tail -n 2
  done
)

echo
echo "all checks passed"
