#!/usr/bin/env bash
# Fill .whl/ (ignored by git) with the wheels benchmarks/device.sh installs on a CUDA machine
# without network: what Moviola's model tests and benchmarks/gpu.py import beyond that machine's
# image (PyTorch, accelerate, peft, safetensors, tokenizers, numpy, pillow, rich, pytest … are
# there; /work/.library/device/KINDS.md lists them). Python 3.12, x86_64, no torch. Versions are
# the ones this project is developed against; each package is named (no dependency resolution),
# so one version of each travels. The device tool carries 64 MiB in all (tree and wheels): the
# draft voice (espeakng-loader, 10 MB) and the PDF libraries stay behind; no model test needs
# them. Run it on a connected machine, in the repository root:
#     benchmarks/fetch_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
PACKAGES=(
    diffusers==0.42.1 transformers==5.24.0 importlib-metadata==10.2.0 zipp
    ftfy==6.3.1 wcwidth==0.7.0            # Wan's prompt cleaning
    av==18.1.0                            # frames in and out (bundles FFmpeg)
    lark==1.3.1 interegular==0.3.3
    opentimelineio==0.18.1 otio-fcp-adapter==1.0.0 otio-fcpx-xml-adapter==1.0.0
    otio-cmx3600-adapter==1.0.0
    pygls==2.1.1 lsprotocol==2025.0.0 cattrs==26.2.1
    defusedxml==0.7.1
    torchsde==0.2.6 trampoline==0.1.2
)
mkdir -p "$WHEELS"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any \
    -d "$WHEELS" "${PACKAGES[@]}"
du -sh "$WHEELS"
ls "$WHEELS"
