#!/usr/bin/env bash
# One short check for a machine with a real GPU (NVIDIA/AMD/Intel driver with Vulkan; no internet
# needed: copy the repository with its node_modules over). Prints, in order:
#   1. `vulkaninfo --summary` (the driver's view of the GPU; skipped when vulkan-tools is absent),
#   2. the GPU test files (tfjs webgpu vs wasm parity, fault handling; ORT's WebGPU EP vs its CPU
#      EP and tfjs; CI=true: no adapter = failure),
#   3. one JSON object (last block of stdout, also written to scratch/gpu-check.json): score training of configs/score/gpt2-small-gpu.json
#      (d 768, depth 4) at widths 64/512/1024 and a GPT-2-small-shaped forward, webgpu vs wasm; and
#      `ortForward`: the ORT engine's GPT-2-small-shaped last-position logits, WebGPU EP vs CPU EP.
# Usage: bash scripts/gpu-check.sh [STEPS [BATCH [LENGTHS]]]   (defaults 5, the config's 1024, 128,1024;
#        a dry run on a software adapter: bash scripts/gpu-check.sh 1 64 128)
# Put the JSON's figures into README ("Training on a GPU").
set -uo pipefail
cd "$(dirname "$0")/.."
args=("$@")
rc=0
echo "== vulkaninfo --summary"
if command -v vulkaninfo >/dev/null; then vulkaninfo --summary 2>&1 | head -60; else echo "(vulkaninfo not installed: apt-get install vulkan-tools)"; fi
echo "== spinbath env --backend webgpu"
[ -f dist/src/cli/main.js ] || npx tsc -p tsconfig.build.json || rc=1
node bin/spinbath.js env --backend webgpu || rc=1
echo "== GPU tests (test/gpu/)"
CI=true npx vitest run test/gpu/ || rc=1
echo "== timings (JSON)"
mkdir -p scratch
GPU_BENCH_OUT=scratch/gpu-check.json npx tsx bench/gpu-bench.ts "${args[@]}" || rc=1
exit $rc
