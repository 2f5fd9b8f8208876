#!/usr/bin/env bash
# Prepare libtorch for the `sdt-train` crate (tch 0.24 needs libtorch 2.11).
#
# Creates (once) a project-local virtual environment `.venv` with torch==2.11.0
# from PyPI and prints the environment the build and the tests need:
#
#   eval "$(bash scripts/torch-env.sh)"      # or:  source scripts/torch-env.sh
#
# Progress goes to stderr; stdout carries only `export` lines, so `eval` is safe.
# Running it again is cheap: an existing, working install is kept.

_sdt_torch_env() {
    local root venv py torch_version want="2.11.0" torch_lib
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    venv="$root/.venv"
    py="$venv/bin/python"

    if [ ! -x "$py" ]; then
        echo "torch-env: creating $venv" >&2
        python3 -m venv "$venv" >&2 || return 1
    fi

    torch_version="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)"
    if [ "$torch_version" != "$want" ]; then
        echo "torch-env: installing torch==$want into $venv (several GB, takes minutes)" >&2
        "$py" -m pip install --disable-pip-version-check --quiet "torch==$want" >&2 || return 1
    fi

    torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)" || return 1

    export LIBTORCH_USE_PYTORCH=1
    export PATH="$venv/bin:$PATH"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # tch-rs builds against the torch found through `python3`, i.e. this venv.
    printf 'export LIBTORCH_USE_PYTORCH=1\n'
    printf 'export PATH=%q\n' "$PATH"
    printf 'export LD_LIBRARY_PATH=%q\n' "$LD_LIBRARY_PATH"
}

_sdt_torch_env
_sdt_torch_env_rc=$?
unset -f _sdt_torch_env
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: the exports above are already applied to the caller's shell.
    return "$_sdt_torch_env_rc"
fi
exit "$_sdt_torch_env_rc"
