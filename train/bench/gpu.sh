#!/usr/bin/env bash
# SDT-10M training throughput on one NVIDIA GPU: sdt-train (tch) vs the same model in PyTorch
# eager, 224×224, batch 64, bf16 autocast; images/s and peak GPU memory of each side.
#
# For a machine with an NVIDIA GPU and a Python that has torch 2.11 (CUDA build). The bench
# binary is built elsewhere against pip torch 2.11.0 and copied along with the repository:
#
#   eval "$(bash scripts/torch-env.sh)"
#   cargo build --release -p sdt-train --example bench_train
#   # on the GPU machine, from the repository root:
#   bash train/bench/gpu.sh [path/to/bench_train]
#
# Environment: SDT_PYTHON (default python3), MODES (default "bf16"; e.g. "bf16 none" adds an fp32
# run), BATCH (64), WARMUP (5), ITERS (20), THREADS (CPU threads of each side, 4).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$root/target/release/examples/bench_train}
py=${SDT_PYTHON:-python3}
if [ ! -x "$bin" ]; then
    echo "gpu.sh: $bin not found; build it first:" >&2
    echo '  eval "$(bash scripts/torch-env.sh)" && cargo build --release -p sdt-train --example bench_train' >&2
    exit 1
fi
if ! torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'); then
    echo "gpu.sh: $py cannot import torch; set SDT_PYTHON to a python with torch 2.11" >&2
    exit 1
fi
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU available:", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

# Our binary links libtorch dynamically: use this Python's torch libraries. The bench preloads
# libtorch_cuda.so into its worker (the linker drops it as unneeded otherwise).
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$bin" | grep -q "not found"; then
    echo "gpu.sh: unresolved libraries:" >&2
    ldd "$bin" | grep "not found" >&2
    exit 1
fi

for mode in ${MODES:-bf16}; do
    echo
    SDT_PYTHON="$py" "$bin" \
        --device cuda --preset m --size 224 \
        --batch "${BATCH:-64}" --amp "$mode" \
        --warmup "${WARMUP:-5}" --iters "${ITERS:-20}" \
        --threads "${THREADS:-4}" \
        --script "$root/train/bench/sdt_torch.py"
done
