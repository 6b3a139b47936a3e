#!/usr/bin/env bash
# Prepared GPU check (issue "Scale out"): run on a machine with one CUDA GPU, from the project root,
# with the project installed (make install). About 3-5 minutes. Writes benchmarks/results/*_cuda.json:
#   1. training throughput (windows/s) on the GPU vs the CPU, default model, ett_small_1h windows;
#   2. sampling time of 414 series x 100 samples (m4_hourly size), fp32 vs bf16/fp16 autocast vs torch.compile;
#   3. the library end to end on the GPU (fit with a student, every sampler and precision, save/load to the CPU).
# Usage: bash benchmarks/gpu_check.sh [PYTHON]
set -euo pipefail
PY=${1:-.venv/bin/python}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
timeout 150 "$PY" benchmarks/train_throughput.py --device cuda --runs 1 --steps 30 --warmup 5 \
    --out benchmarks/results/train_throughput_cuda.json
timeout 60 "$PY" benchmarks/train_throughput.py --device cpu --runs 1 --steps 10 --warmup 3 \
    --out benchmarks/results/train_throughput_cpu_on_gpu_host.json
timeout 180 "$PY" benchmarks/inference_flags.py --device cuda --series 414 --samples 100 --steps 20 \
    --out benchmarks/results/inference_flags_cuda.json
timeout 300 "$PY" benchmarks/gpu_functional.py --out benchmarks/results/gpu_functional_cuda.json
