#!/usr/bin/env bash
# GPU checks of sdt-train on one NVIDIA machine, in one run:
#  1. SDT-10M training throughput, 224×224, batch 64, bf16 autocast: sdt-train (tch) vs the same
#     model in PyTorch eager (images/s and peak GPU memory of each side), then PyTorch with
#     torch.compile, same settings;
#  2. sdt-train on the digits recipe as a 1-process NCCL run (torchrun's variables), bf16 AMP,
#     and, with 2+ GPUs, a 2-process NCCL run (`--nproc 2`).
#
# For a machine with an NVIDIA GPU and a Python that has torch 2.11 (CUDA build). The binaries
# are built elsewhere against pip torch 2.11.0 and copied along with the repository; the NCCL
# process group needs the CUDA headers at build time (CUDA_HOME, or the nvidia-cuda-crt and
# nvidia-cuda-cccl wheels, see train/README.md):
#
#   eval "$(bash scripts/torch-env.sh)"
#   cargo build --release -p sdt-train --example bench_train --bin sdt-train
#   # on the GPU machine, from the repository root:
#   bash train/bench/gpu.sh [path/to/bench_train] [path/to/sdt-train]
#
# Environment: SDT_PYTHON (default python3), MODES (default "bf16"; e.g. "bf16 none" adds an fp32
# run), BATCH (64), WARMUP (5), ITERS (20), THREADS (CPU threads of each side, 4),
# COMPILE_WARMUP (warm-up steps of the torch.compile side, which compile: 10), NCCL_EPOCHS (2).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$root/target/release/examples/bench_train}
sdt=${2:-$root/target/release/sdt-train}
py=${SDT_PYTHON:-python3}
for b in "$bin" "$sdt"; do
    if [ ! -x "$b" ]; then
        echo "gpu.sh: $b not found; build it first:" >&2
        echo '  eval "$(bash scripts/torch-env.sh)" && cargo build --release -p sdt-train --example bench_train --bin sdt-train' >&2
        exit 1
    fi
done
if ! torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'); then
    echo "gpu.sh: $py cannot import torch; set SDT_PYTHON to a python with torch 2.11" >&2
    exit 1
fi
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU available:", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)

# Our binaries link libtorch dynamically: use this Python's torch libraries. The bench preloads
# libtorch_cuda.so into its worker (the linker drops it as unneeded otherwise).
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for b in "$bin" "$sdt"; do
    if ldd "$b" | grep -q "not found"; then
        echo "gpu.sh: unresolved libraries of $b:" >&2
        ldd "$b" | grep "not found" >&2
        exit 1
    fi
done

echo
echo "== 1. SDT-10M training step, 224², batch ${BATCH:-64}: sdt-train vs PyTorch eager"
for mode in ${MODES:-bf16}; do
    echo
    SDT_PYTHON="$py" "$bin" \
        --device cuda --preset m --size 224 \
        --batch "${BATCH:-64}" --amp "$mode" \
        --warmup "${WARMUP:-5}" --iters "${ITERS:-20}" \
        --threads "${THREADS:-4}" \
        --script "$root/train/bench/sdt_torch.py"
done
echo
echo "== 1b. the same step in PyTorch with torch.compile (bf16)"
"$py" "$root/train/bench/sdt_torch.py" bench \
    --device cuda --preset m --size 224 --batch "${BATCH:-64}" --amp bf16 --compile \
    --warmup "${COMPILE_WARMUP:-10}" --iters "${ITERS:-20}" --threads "${THREADS:-4}"

run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
printf 'amp = "bf16"\n' > "$run/amp.toml"
# Top-level keys go before the config's [augment] table.
cat "$run/amp.toml" "$root/train/configs/digits.toml" > "$run/digits-bf16.toml"
echo
echo "== 2. digits recipe, ${NCCL_EPOCHS:-2} epochs, bf16, 1 process, NCCL (torchrun variables)"
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29531} \
    "$sdt" train --cuda --dist-backend nccl --quiet \
    --data "$root/train/data/digits.safetensors" --config "$run/digits-bf16.toml" \
    --epochs "${NCCL_EPOCHS:-2}" --run-dir "$run/nccl1"
if [ "$gpus" -ge 2 ]; then
    echo
    echo "== 2b. the same, 2 processes (--nproc 2), NCCL, batch 32 per GPU"
    "$sdt" train --cuda --nproc 2 --dist-backend nccl --quiet \
        --data "$root/train/data/digits.safetensors" --config "$run/digits-bf16.toml" \
        --epochs "${NCCL_EPOCHS:-2}" --run-dir "$run/nccl2"
fi
