#!/usr/bin/env bash
# The torch environment of scripts/torch-env.sh plus ONNX Runtime, for the dense int8 peer of
# the SDT-10M benchmark (train/bench/ort_peer.py):
#
#   eval "$(bash scripts/ort-env.sh)"
#
# Installs (once) the pinned onnxruntime, onnx and numpy into the project venv `.venv`; stdout
# carries only the `export` lines of torch-env.sh. Running it again is cheap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exports="$(bash "$root/scripts/torch-env.sh")"
py="$root/.venv/bin/python"
want_ort="1.32.0" want_onnx="1.23.2" want_numpy="2.4.6"
have="$("$py" -c 'import onnxruntime, onnx, numpy; print(onnxruntime.__version__, onnx.__version__, numpy.__version__)' 2>/dev/null || true)"
if [ "$have" != "$want_ort $want_onnx $want_numpy" ]; then
    echo "ort-env: installing onnxruntime==$want_ort onnx==$want_onnx numpy==$want_numpy into $root/.venv" >&2
    "$py" -m pip install --disable-pip-version-check --quiet \
        "onnxruntime==$want_ort" "onnx==$want_onnx" "numpy==$want_numpy" >&2
fi
printf '%s\n' "$exports"
