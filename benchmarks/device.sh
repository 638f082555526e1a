#!/usr/bin/env bash
# One GPU run, on a CUDA machine without network, in under 10 minutes (never part of CI):
#   1. installs what its image lacks from the wheels in .whl/ (benchmarks/fetch_wheels.sh fills
#      it on a connected machine), then Moviola itself (editable, no index);
#   2. the model tests (`pytest -m models`: the modules that run tiny random-weight models
#      through a backend) on CUDA in bfloat16 (MOVIOLA_TEST_DEVICE / MOVIOLA_TEST_DTYPE,
#      tests/conftest.py);
#   3. benchmarks/gpu.py for keyframes (Stable Diffusion 1.5 shapes) and for clips (Wan 2.2
#      TI2V-5B's configuration, 1280×704, 121 frames): naive script, runtime, compute floor, and
#      peak memory per model;
#   4. benchmarks/train.py: LoRA training at Stable Diffusion 1.5 size (512 px, bf16, gradient
#      checkpointing, random weights) against its compute floor, with peak memory.
# Everything is tee'd into $OUT (device.log, the figures as JSON, the tests' junit XML).
# With this workplace's device tool, from the repository root:
#     run(command="bash benchmarks/device.sh", carry=[".whl"], timeout_s=600)
# Each stage has its own time limit (TESTS_S, KEYFRAMES_S, TRAIN_S, VIDEO_S seconds) so that one stage
# running long still leaves the others their turn; VIDEO_ARGS passes options to the clip bench.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device}
mkdir -p "$OUT"
LOG="$OUT/device.log"
TESTS_S=${TESTS_S:-130}
KEYFRAMES_S=${KEYFRAMES_S:-90}
TRAIN_S=${TRAIN_S:-60}
VIDEO_S=${VIDEO_S:-280}
VIDEO_ARGS=${VIDEO_ARGS:---video-steps 4 --video-shots 2}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

say "install"
if ! ls .whl/*.whl >/dev/null 2>&1; then
    say "no wheels in .whl/: run benchmarks/fetch_wheels.sh on a connected machine and carry .whl"
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl 2>&1 | tee -a "$LOG" || exit 3
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tee -a "$LOG" || exit 3
nvidia-smi 2>&1 | tee -a "$LOG"
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'cuda',
torch.version.cuda, torch.cuda.get_device_name(), '| diffusers', diffusers.__version__,
'| transformers', transformers.__version__)" 2>&1 | tee -a "$LOG"

say "model tests on cuda, bfloat16 (limit ${TESTS_S} s)"
MOVIOLA_TEST_DEVICE=cuda MOVIOLA_TEST_DTYPE=bfloat16 timeout "$TESTS_S" \
    python3 -m pytest -q -p no:cacheprovider -rfE --durations=10 --junitxml "$OUT/tests.xml" \
    -m models \
    2>&1 | tee -a "$LOG"
say "model tests: exit ${PIPESTATUS[0]} (124: stopped at the limit)"

say "keyframes benchmark (limit ${KEYFRAMES_S} s)"
timeout "$KEYFRAMES_S" python3 benchmarks/gpu.py --only keyframes --json "$OUT/keyframes.json" \
    2>&1 | tee -a "$LOG"
say "keyframes: exit ${PIPESTATUS[0]}"

say "LoRA training benchmark, Stable Diffusion 1.5 size (limit ${TRAIN_S} s)"
timeout "$TRAIN_S" python3 benchmarks/train.py --steps 20 2>&1 | tee -a "$LOG"
say "training: exit ${PIPESTATUS[0]}"

say "clips benchmark, Wan 2.2 TI2V-5B configuration (limit ${VIDEO_S} s): $VIDEO_ARGS"
# shellcheck disable=SC2086  # VIDEO_ARGS is a list of options
timeout "$VIDEO_S" python3 benchmarks/gpu.py --only video $VIDEO_ARGS --json "$OUT/video.json" \
    2>&1 | tee -a "$LOG"
say "clips: exit ${PIPESTATUS[0]}"
