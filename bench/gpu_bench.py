"""GPU benchmark for issue 4, run in ONE call on the lent GPU by bench/gpu_check.sh.

Measures, on resampled 20 Newsgroups text (bench/corpus.py):
  * embedding throughput: gputopic's CUDA path (fp16, length-sorted, threaded tokenisation)
    vs plain ``SentenceTransformer.encode`` on the same documents in the same run;
  * exact cosine kNN, UMAP, HDBSCAN and c-TF-IDF at each size (default 100k and 1M) through
    ``GPUTopic(device="cuda")`` with gputopic's native torch backends (no RAPIDS on the box);
  * umap-learn + hdbscan on the machine's CPU cores at 100k, for the ratio;
  * NMI against the resampled labels beside every timing.
Results go to $OUT/gpu_bench.json after every step (a step that fails is recorded and the
rest go on), and the 20 Newsgroups embeddings come back as fp16 for CPU comparisons.

    python bench/gpu_bench.py --model .gpu/model --out $OUT --budget-s 480
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpus  # noqa: E402

T0 = time.perf_counter()
RESULTS: dict = {"steps": {}, "errors": {}}


def elapsed() -> float:
    return time.perf_counter() - T0


def save(out: Path) -> None:
    RESULTS["elapsed_s"] = round(elapsed(), 1)
    RESULTS["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    (out / "gpu_bench.json").write_text(json.dumps(RESULTS, indent=1, default=str))


def step(name: str, out: Path, budget: float, need: float = 0.0):
    """Decorator: run a step if time allows, record its result or its error, save."""

    def wrap(fn):
        if elapsed() + need > budget:
            RESULTS["errors"][name] = f"skipped: {elapsed():.0f}s used, needs ~{need:.0f}s of {budget:.0f}s"
            print(f"[{elapsed():6.1f}s] SKIP {name}", flush=True)
            save(out)
            return None
        print(f"[{elapsed():6.1f}s] {name} ...", flush=True)
        t = time.perf_counter()
        try:
            value = fn()
            RESULTS["steps"][name] = value
            print(f"[{elapsed():6.1f}s] {name}: {json.dumps(value, default=str)[:600]}", flush=True)
        except Exception as exc:  # noqa: BLE001 - record and go on
            RESULTS["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"
            print(f"[{elapsed():6.1f}s] {name} FAILED after {time.perf_counter() - t:.1f}s: {exc}", flush=True)
        save(out)
        return None

    return wrap


def sync():
    import torch

    torch.cuda.synchronize()


def nmi(labels, topics) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return round(float(normalized_mutual_info_score(labels, topics)), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="sentence-transformers model folder (fp16 copy)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--embed-compare-n", type=int, default=20000)
    ap.add_argument("--cpu-peer-n", type=int, default=100000)
    ap.add_argument("--cpu-peer-timeout", type=int, default=200)
    ap.add_argument("--budget-s", type=float, default=480)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    n_max = max(sizes + [args.cpu_peer_n, args.embed_compare_n])

    import cupy
    import torch

    from gputopic import GPUTopic
    from gputopic.device import get_backend, versions
    from gputopic.embed import load_embedder
    from gputopic.native.knn import knn

    gpu = get_backend("cuda")
    props = torch.cuda.get_device_properties(0)
    RESULTS["device"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                         "sms": props.multi_processor_count, "cpu_cores": os.cpu_count()}
    RESULTS["versions"] = versions()
    save(out)
    state: dict = {}

    @step("corpus", out, args.budget_s)
    def _():
        t = time.perf_counter()
        src_docs, src_labels = corpus.load("20newsgroups")
        docs, labels = corpus.resample(src_docs, src_labels, n_max, seed=0)
        # every non-empty document, in file order (what bench/vs_bertopic.py expects)
        state.update(docs=docs, labels=labels, real=corpus.load("20newsgroups", min_words=1))
        return {"n": n_max, "seconds": round(time.perf_counter() - t, 1),
                "mean_words": round(float(np.mean([len(d.split()) for d in docs[:20000]])), 1)}

    @step("embed_compare", out, args.budget_s, need=40)
    def _():
        from sentence_transformers import SentenceTransformer

        docs = state["docs"][: args.embed_compare_n]
        plain = SentenceTransformer(args.model, device="cuda")
        plain.encode(docs[:512], batch_size=32)  # warm-up
        sync()
        t = time.perf_counter()
        e_plain = plain.encode(docs, batch_size=32, convert_to_numpy=True)
        sync()
        t_plain = time.perf_counter() - t
        del plain
        ours = load_embedder(args.model, "cuda")
        state["embedder"] = ours
        res = {"n": len(docs), "plain_encode_fp32_bs32_docs_s": round(len(docs) / t_plain)}
        for bs in (256, 512, 1024):
            ours.encode(docs[:2048], gpu, batch_size=bs)  # warm-up at this size
            sync()
            t = time.perf_counter()
            e_ours = ours.encode(docs, gpu, batch_size=bs)
            sync()
            res[f"ours_fp16_bs{bs}_docs_s"] = round(len(docs) / (time.perf_counter() - t))
        e = cupy.asnumpy(e_ours)
        cos = (e * e_plain).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(e_plain, axis=1)
        res["cosine_ours_vs_plain_min"] = round(float(cos.min()), 5)
        res["cosine_ours_vs_plain_mean"] = round(float(cos.mean()), 6)
        best = max((k for k in res if k.startswith("ours_")), key=lambda k: res[k])
        res["speedup_best_vs_plain"] = round(res[best] / res["plain_encode_fp32_bs32_docs_s"], 2)
        res["best"] = best
        state["best_bs"] = int(best.split("_bs")[1].split("_")[0])
        return res

    @step("embed_all", out, args.budget_s, need=60)
    def _():
        ours = state.get("embedder") or load_embedder(args.model, "cuda")
        docs = state["docs"]
        torch.cuda.reset_peak_memory_stats()
        sync()
        t = time.perf_counter()
        emb = ours.encode(docs, gpu, batch_size=state.get("best_bs", 512))
        sync()
        dt = time.perf_counter() - t
        state["emb"] = emb
        real_docs, real_labels = state["real"]
        t2 = time.perf_counter()
        real = ours.encode(real_docs, gpu, batch_size=state.get("best_bs", 512))
        sync()
        state["real_emb"] = real
        np.save(out / "20ng_embeddings_fp16.npy", cupy.asnumpy(real).astype(np.float16))
        return {"n": len(docs), "seconds": round(dt, 1), "docs_s": round(len(docs) / dt),
                "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                "real_20ng_n": len(real_docs), "real_20ng_docs_s": round(len(real_docs) / (time.perf_counter() - t2))}

    def pipeline(n: int, docs, labels, emb) -> dict:
        E = torch.from_dlpack(emb[:n])
        sync()
        t = time.perf_counter()
        knn(E, 15, "cosine")
        sync()
        t_knn = time.perf_counter() - t
        torch.cuda.reset_peak_memory_stats()
        model = GPUTopic(device="cuda", umap_model="native", hdbscan_model="native")
        sync()
        t = time.perf_counter()
        topics, _ = model.fit_transform(docs[:n], embeddings=emb[:n])
        sync()
        total = time.perf_counter() - t
        topics = cupy.asnumpy(topics)
        tm = {k: round(v, 2) for k, v in model.timings_.items()}
        after_embed = total - model.timings_["embed"]
        return {"n": n, "knn_alone_s": round(t_knn, 2), "stages_s": tm,
                "umap_hdbscan_ctfidf_s": round(after_embed, 2),
                "nmi": nmi(labels[:n], topics), "topics": int(topics.max() + 1),
                "outliers": round(float((topics == -1).mean()), 3),
                "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}

    @step("pipeline_real_20ng", out, args.budget_s, need=20)
    def _():
        real_docs, real_labels = state["real"]
        return pipeline(len(real_docs), real_docs, real_labels, state["real_emb"])

    def gpu_size(n: int) -> None:
        @step(f"pipeline_gpu_{n}", out, args.budget_s, need=10 + n / 20000)
        def _():
            return pipeline(n, state["docs"], state["labels"], state["emb"])

    for n in sizes[:-1]:
        gpu_size(n)

    @step(f"cpu_peer_{args.cpu_peer_n}", out, args.budget_s, need=args.cpu_peer_timeout)
    def _():
        n = args.cpu_peer_n
        path = Path("/tmp/peer_emb.npy")
        np.save(path, cupy.asnumpy(state["emb"][:n]))
        np.save("/tmp/peer_labels.npy", np.asarray(state["labels"][:n]))
        code = (
            "import time, json, numpy as np, umap, hdbscan\n"
            "from sklearn.metrics import normalized_mutual_info_score as nmi\n"
            "E = np.load('/tmp/peer_emb.npy'); y = np.load('/tmp/peer_labels.npy')\n"
            "t = time.perf_counter()\n"
            "R = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric='cosine', low_memory=False).fit_transform(E)\n"
            "t_umap = time.perf_counter() - t; t = time.perf_counter()\n"
            "h = hdbscan.HDBSCAN(min_cluster_size=10, metric='euclidean', cluster_selection_method='eom', prediction_data=True).fit(R)\n"
            "t_hdb = time.perf_counter() - t\n"
            "print(json.dumps({'umap_s': round(t_umap, 1), 'hdbscan_s': round(t_hdb, 1), 'nmi': round(float(nmi(y, h.labels_)), 4), 'clusters': int(h.labels_.max() + 1)}))\n"
        )
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=args.cpu_peer_timeout)
        except subprocess.TimeoutExpired:
            return {"n": n, "timed_out_after_s": args.cpu_peer_timeout}
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-1500:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["n"] = n
        gpu_res = RESULTS["steps"].get(f"pipeline_gpu_{n}")
        if gpu_res:
            g = gpu_res["stages_s"]
            res["ratio_umap_hdbscan_cpu_over_gpu"] = round((res["umap_s"] + res["hdbscan_s"]) / (g["reduce"] + g["cluster"]), 1)
        return res

    gpu_size(sizes[-1])  # the largest size last: the CPU peer's ratio is measured first
    save(out)
    print(json.dumps(RESULTS, indent=1, default=str)[-6000:])


if __name__ == "__main__":
    main()
