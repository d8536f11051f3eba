#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (see README "GPU check").
# Prepare here first (ignored folder .gpu/; a call carries the subfolders it needs, never all of .gpu):
#   .gpu/whl/    umap-learn, pynndescent, hdbscan, dask, distributed, dask-cuda (+ their missing
#                dependencies) wheels for cp312 (not in the device image)
#   .gpu/model/  an fp16 copy of all-MiniLM-L6-v2 (the PyPI package is over the carry limit)
#   .gpu/data/   20newsgroups.jsonl.xz: ../shared/data's file, text and label only, xz -9 (the
#                gzip file would put the carry over its 64 MiB); unpacked to .gz on the device
#   .gpu/plot/   plotly's wheel, for the `figures` part only (below)
# Then two calls back to back (the second while the machine is still warm, within 30 s), as on
# 2026-11-27 (eighth session, H100): the first 291 s on a fresh machine (start ~40 s more; the bench's
# real_20ng_seeds step, added since, needs ~30 s more), the second 127 s:
#   run(command="BENCH_BUDGET=430 PLAIN_N=5000 BENCH_SKIP=knn_strategies,hdbscan_triton_vs_torch_100k,\
#       pipeline_gpu_100000_torch_sgd bash bench/gpu_check.sh bench", carry=GPU, timeout_s=480)
#   run(command="bash bench/gpu_check.sh tests dask", carry=GPU, timeout_s=400)
# with GPU = [".gpu/whl", ".gpu/model", ".gpu/data"] (~62 MB with the repository).
# A third part, `figures` (plotly's tests), carries less: .gpu/plot holds plotly's wheel (9.7 MB; the
# device has narwhals), and model + data + plot + the repository come to ~66.7 of the 64 MiB (67.1 MB):
#   run(command="bash bench/gpu_check.sh figures", carry=[".gpu/model", ".gpu/data", ".gpu/plot"], timeout_s=300)
# Issue 16's scaling run (not yet run on a card): one call of ~9 minutes (embedding throughput, then scale.py),
#   run(command="bash bench/gpu_check.sh scale", carry=[".gpu/model", ".gpu/data"], timeout_s=570)
# Parts run in the order given; BENCH_BUDGET, BENCH_SKIP (empty: skip nothing), PLAIN_N and TESTS_TIMEOUT
# size a call. The tests need ~75 s on a fresh machine (compiles): give them 150 s or more.
# 15 minutes of device time per session in all, starting the machine included.
# Helpers must not call the device on their own: their runs spend the same budget.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
export GPUTOPIC_DATA="$PWD/.gpu/data" GPUTOPIC_TEST_MODEL="$PWD/.gpu/model"
PIP="python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site"
for w in .gpu/whl/*.whl .gpu/plot/*.whl; do  # the folders carried this call (see the header)
  [ -f "$w" ] && { $PIP "$w" || echo "wheel install failed: $w"; }
done
export PYTHONPATH="/tmp/site:$PWD"
[ -f .gpu/data/20newsgroups.jsonl.gz ] || python3 -c "import gzip, lzma, shutil; \
  shutil.copyfileobj(lzma.open('.gpu/data/20newsgroups.jsonl.xz'), gzip.open('.gpu/data/20newsgroups.jsonl.gz', 'wb', 1))"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"; } 2>&1 | tee "$OUT/env.txt"
for PART in "${@:-bench}"; do
case $PART in
tests)
  # the GPU-marked tests (parity CPU vs GPU, the fused Triton kernels compiled for real, the
  # CUDA embedding loop and its OOM back-off, native UMAP/HDBSCAN on CUDA); the GPU-vs-CPU
  # pipeline NMI test is left out (its CPU half compiles numba for a minute): gpu_bench's
  # pipeline_real_20ng step gives that NMI instead
  timeout "${TESTS_TIMEOUT:-240}" python3 -m pytest -q -m gpu tests/test_gpu.py tests/test_native_umap.py \
    tests/test_native_hdbscan.py --deselect tests/test_gpu.py::test_native_gpu_pipeline_quality_matches_cpu \
    -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu_full.txt" | tail -25 | tee "$OUT/pytest_gpu.txt" ;;
figures)
  # the tests that need plotly (the figures of a CUDA model) and the topic operations on
  # CUDA, in a call carrying .gpu/model, .gpu/data and .gpu/plot (plotly's wheel) but not
  # .gpu/whl: all of .gpu with plotly would pass the 64 MiB carry
  timeout "${TESTS_TIMEOUT:-240}" python3 -m pytest -q -m gpu tests/test_gpu.py -k "figures or topic_operations" \
    -p no:cacheprovider 2>&1 | tee "$OUT/pytest_gpu_figures.txt" | tail -25 ;;
dask)
  # Dask-CUDA (issue 5): LocalCUDACluster fit vs single-process fit (dask wheels in .gpu/whl)
  timeout 160 python3 bench/dask_gpu_check.py --cluster local-cuda --model .gpu/model \
    --data .gpu/data/20newsgroups.jsonl.gz --n 20000 --out "$OUT" --timeout-s 150 --sharded-share 0.7 2>&1 | tail -30
  python3 -m pip show cuda-core cuda-bindings 2>/dev/null | grep -E "^(Name|Version)" ;;
bench)
  # the benchmark (issue 4): embedding, 100k and 1M fits, the CPU peer at 100k (the kNN
  # strategies and the Triton-vs-torch MST were measured on 2026-11-27: results/gpu_bench_h100_call1.json)
  budget=${BENCH_BUDGET:-400}
  timeout $((budget + 20)) python3 bench/gpu_bench.py --model .gpu/model --out "$OUT" --budget-s "$budget" \
    --skip "${BENCH_SKIP-knn_strategies,hdbscan_triton_vs_torch_100k}" --plain-n "${PLAIN_N:-10000}" \
    --cpu-peer-timeout 150 --embed-budget-s 90 2>&1 | tee "$OUT/bench_log.txt" | grep -v Warning ;;
scale)
  # issue 16 item 4 first (~45 s expected, unmeasured; 110 s at most): the embedding loop on
  # 60k resampled posts, padded vs packed batches x fp16 vs bf16: docs/s, padding share, achieved
  # TFLOP/s against the card's peak, cosine to the fp32 reference on 10k (bench/embed_throughput.py;
  # EMBED_COMPILE=--compile adds a torch.compile'd packed run, compile time unknown)
  timeout "${EMBED_TIMEOUT:-110}" python3 bench/embed_throughput.py --device cuda --model .gpu/model \
    --n "${EMBED_N:-60000}" --check-n 10000 --budget-s "${EMBED_BUDGET:-80}" ${EMBED_COMPILE:-} \
    --out "$OUT/embed_throughput.json" 2>&1 | tee "$OUT/embed_log.txt" | grep -v Warning | tail -12
  # then approximate vs exact kNN / UMAP / HDBSCAN on resampled 20 Newsgroups embeddings,
  # 100k..10M, and the counting of as many resampled texts up to 1M, with per-stage GPU and host
  # peak memory (bench/scale.py; the posts are embedded on the card first, ~1 s). Carry .gpu/model
  # and .gpu/data; sizes that the time left cannot reach are skipped and listed. The two steps
  # together stay within the call's 570 s: 110 + 420 s at most, plus ~20 s of set-up above
  timeout "${SCALE_TIMEOUT:-420}" python3 bench/scale.py --model .gpu/model --budget-s "${SCALE_BUDGET:-360}" \
    --sizes "${SCALE_SIZES:-100000,1000000,3000000,10000000}" --exact-sizes "${SCALE_EXACT:-100000,1000000}" \
    --out "$OUT/scale_gpu.json" 2>&1 | tee "$OUT/scale_log.txt" | grep -v Warning | tail -40 ;;
*) echo "unknown part $PART (tests, figures, dask, bench, scale)" ;;
esac
echo "gpu_check $PART done"
done
