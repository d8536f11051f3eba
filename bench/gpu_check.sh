#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (see README "GPU check").
# Prepare here first (ignored folder .gpu/, carried with the call):
#   .gpu/whl/    umap-learn, pynndescent, hdbscan wheels for cp312 (not in the device image)
#   .gpu/model/  an fp16 copy of all-MiniLM-L6-v2 (the PyPI package is over the carry limit)
#   .gpu/data/   20newsgroups.jsonl.gz from ../shared/data
# Then: run(command="bash bench/gpu_check.sh", carry=[".gpu"], timeout_s=560): about 9 minutes,
# one call per session (15 minutes of device time in all, starting the machine included).
# Helpers must not call the device on their own: their runs spend the same budget.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
export GPUTOPIC_DATA="$PWD/.gpu/data" GPUTOPIC_TEST_MODEL="$PWD/.gpu/model"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
  && export PYTHONPATH="/tmp/site:$PWD" || { echo "wheel install failed"; exit 1; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"; } 2>&1 | tee "$OUT/env.txt"
# 1. the GPU tests (parity CPU vs GPU, device paths), bounded
timeout 75 python3 -m pytest -q -m gpu tests/test_gpu.py tests/test_native_umap.py tests/test_native_hdbscan.py \
  -p no:cacheprovider 2>&1 | tail -25 | tee "$OUT/pytest_gpu.txt"
# 2. the benchmark, within what is left of the call
timeout 400 python3 bench/gpu_bench.py --model .gpu/model --out "$OUT" --budget-s 385 --cpu-peer-timeout 150 2>&1 | tee "$OUT/bench_log.txt" | grep -v Warning
echo "gpu_check done"
