"""GPU benchmark for issue 4, run in ONE call on the lent GPU by bench/gpu_check.sh.

Measures, on resampled 20 Newsgroups text (bench/corpus.py):
  * embedding throughput: gputopic's CUDA path (fp16, length-sorted, threaded tokenisation)
    vs plain ``SentenceTransformer.encode`` on the same documents in the same run;
  * exact cosine kNN, UMAP, HDBSCAN and c-TF-IDF at each size (default 100k and 1M) through
    ``GPUTopic(device="cuda")`` with gputopic's native torch backends (no RAPIDS on the box);
  * umap-learn + hdbscan on the machine's CPU cores at 100k, for the ratio;
  * NMI against the resampled labels beside every timing, and on all real 20 Newsgroups
    posts over five UMAP seeds (the GPU path's NMI spread).
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
import tokenizer_bench  # noqa: E402

T0 = time.perf_counter()
RESULTS: dict = {"steps": {}, "errors": {}}


def elapsed() -> float:
    return time.perf_counter() - T0


def save(out: Path) -> None:
    RESULTS["elapsed_s"] = round(elapsed(), 1)
    RESULTS["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    (out / "gpu_bench.json").write_text(json.dumps(RESULTS, indent=1, default=str))


SKIP: set = set()


def step(name: str, out: Path, budget: float, need: float = 0.0):
    """Decorator: run a step if time allows, record its result or its error, save."""

    def wrap(fn):
        if name in SKIP:
            print(f"[{elapsed():6.1f}s] SKIP {name} (--skip)", flush=True)
            return None
        if elapsed() + need > budget:
            RESULTS["errors"][name] = f"skipped: {elapsed():.0f}s used, needs ~{need:.0f}s of {budget:.0f}s"
            print(f"[{elapsed():6.1f}s] SKIP {name}", flush=True)
            save(out)
            return None
        print(f"[{elapsed():6.1f}s] {name} ...", flush=True)
        t = time.perf_counter()
        try:
            value = fn()
            if isinstance(value, dict):
                value["step_wall_s"] = round(time.perf_counter() - t, 1)
            RESULTS["steps"][name] = value
            print(f"[{elapsed():6.1f}s] {name}: {json.dumps(value, default=str)[:600]}", flush=True)
        except Exception as exc:  # noqa: BLE001 - record and go on
            RESULTS["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"
            print(f"[{elapsed():6.1f}s] {name} FAILED after {time.perf_counter() - t:.1f}s: {exc}", flush=True)
        save(out)
        return None

    return wrap


DEVICE = "cuda"  # --device cpu: a dry run of the script's logic on small sizes, no GPU


def sync():
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def peak_gib() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if DEVICE == "cuda" else 0.0


def reset_peak() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()


def nmi(labels, topics) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return round(float(normalized_mutual_info_score(labels, topics)), 4)


def model_only_rate(ours, texts: list, batch_size: int) -> float:
    """Documents per second of the embedder's transformer alone (fp16 on CUDA) on
    length-sorted token-budget batches tokenised beforehand: the device's share of the
    embedding loop, without the tokenizer."""
    import torch

    model, dev = ours.model, ours.model.device
    order = np.argsort([-len(d) for d in texts], kind="stable")
    batches = ours._fast.batches(order, [texts[i] for i in order], batch_size * model.max_seq_length,
                                 dev.type == "cuda")
    for _ in range(2):  # the first pass warms up this batch size
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            for _, feats, _ in batches:
                model({k: v.to(dev, non_blocking=True) if hasattr(v, "to") else v
                       for k, v in feats.items()})["sentence_embedding"]
        sync()
    return len(texts) / (time.perf_counter() - t)


def loop_without_model_rate(ours, docs: list, batch_size: int) -> float:
    """Documents per second of the embedding loop with the transformer replaced by zeros of
    the right shape: its CPU side (tokenising, batching, pinned copies) and transfers."""
    import torch

    model = ours.model
    dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
    real = model.forward
    model.forward = lambda feats: {"sentence_embedding": torch.zeros(
        (feats["input_ids"].shape[0], dim), dtype=torch.float16, device=feats["input_ids"].device)}
    try:
        sync()
        t = time.perf_counter()
        ours._encode_device(docs, batch_size, False)  # the loop itself, on the CPU too (dry runs)
        sync()
        return len(docs) / (time.perf_counter() - t)
    finally:
        model.forward = real


class StandIn:
    """Dry runs on the CPU only: quick hashed TF-IDF + SVD vectors in place of the model."""

    def encode(self, docs, backend, batch_size=None):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        X = TfidfTransformer().fit_transform(HashingVectorizer(n_features=2**16).transform(docs))
        return backend.asarray(TruncatedSVD(48, random_state=0).fit_transform(X).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="sentence-transformers model folder (fp16 copy)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--embed-compare-n", type=int, default=20000)
    ap.add_argument("--cpu-peer-n", type=int, default=100000)
    ap.add_argument("--cpu-peer-timeout", type=int, default=200)
    ap.add_argument("--budget-s", type=float, default=480)
    ap.add_argument("--plain-n", type=int, default=10000, help="documents for plain encode (slow)")
    ap.add_argument("--embed-budget-s", type=float, default=110,
                    help="seconds for embedding the corpus, at embed_compare's measured rate")
    ap.add_argument("--knn-budget-s", type=float, default=30)
    ap.add_argument("--skip", default="", help="comma-separated step names to leave out")
    ap.add_argument("--stand-in", action="store_true",
                    help="dry runs only: hashed TF-IDF + SVD vectors instead of the model (no embedding step)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: dry run of the logic")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    n_max = max(sizes + [args.cpu_peer_n, args.embed_compare_n])

    global DEVICE
    DEVICE = args.device
    SKIP.update(x for x in args.skip.split(",") if x)
    import torch

    from gputopic import GPUTopic
    from gputopic.device import get_backend, versions
    from gputopic.embed import load_embedder
    from gputopic.native.knn import knn

    from gputopic.device import to_numpy

    gpu = get_backend(DEVICE)
    os.environ.setdefault("GPUTOPIC_TRITON_MST", "1")  # the fused MST kernel (checked against torch below)
    if DEVICE == "cuda":
        props = torch.cuda.get_device_properties(0)
        RESULTS["device"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                             "sms": props.multi_processor_count, "cpu_cores": os.cpu_count()}
    else:
        RESULTS["device"] = {"name": "cpu (dry run)", "cpu_cores": os.cpu_count()}
    RESULTS["versions"] = versions()
    RESULTS["provenance"] = corpus.provenance()
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

    @step("knn_strategies", out, args.budget_s, need=args.knn_budget_s)
    def _():
        import knn_bench  # bench/knn_bench.py

        K = knn_bench.K
        for metric in ("cosine", "euclidean"):  # unless a measured winner replaces it: the proven path
            K.AUTO[(DEVICE, metric)] = "full"
        strategies = {384: ["full", "fp16_blockmax", "blockmax", "fp16_chunked", "chunked", "fp16"],
                      5: ["full", "blockmax", "blockmax:32", "chunked", f"blockmax@{knn_bench.HDBSCAN_BUDGET}"]}
        res = knn_bench.run(device=DEVICE, n=max(sizes), n_queries=min(50_000, max(sizes)), k=16,
                            seconds_budget=args.knn_budget_s, strategies=strategies)
        # the pipelines below use the measured fastest exact strategy per metric
        applied = {}
        for entry in res["dims"].values():
            # the fastest strategy whose neighbour sets equal the independent (float64 /
            # coordinate-difference) reference's; "full" itself ranks fp16-rounded products
            ok = {s: v for s, v in entry["strategies"].items() if "seconds" in v and "@" not in s
                  and "!" not in s and v.get("same_set_as_reference", 0) >= entry["strategies"].get("full", {}).get("same_set_as_reference", 1)}
            best = min(ok, key=lambda s: ok[s]["seconds"]) if ok else ""
            if best:
                K.AUTO[(DEVICE, entry["metric"])] = best
                applied[entry["metric"]] = best
        res["applied_to_auto"] = applied
        return res

    @step("embed_compare", out, args.budget_s if not args.stand_in else 0, need=40)
    def _():
        from sentence_transformers import SentenceTransformer

        from gputopic.tokenizer import tokenizer_char_cap

        docs = state["docs"][: args.embed_compare_n]
        # as a user's plain SentenceTransformer("all-MiniLM-L6-v2") runs: fp32 weights (the hub's
        # checkpoint is fp32; transformers 5 would keep the fp16 copy's dtype otherwise)
        plain = SentenceTransformer(args.model, device=DEVICE, model_kwargs={"dtype": torch.float32})
        plain.encode(docs[:512], batch_size=32)  # warm-up
        n_plain = min(len(docs), args.plain_n)
        sync()
        t = time.perf_counter()
        e_plain = plain.encode(docs[:n_plain], batch_size=32, convert_to_numpy=True)
        sync()
        t_plain = time.perf_counter() - t
        res = {"n": len(docs), "plain_n": n_plain, "plain_encode_fp32_bs32_docs_s": round(n_plain / t_plain),
               "plain_dtype": str(next(plain.parameters()).dtype)}
        # where the CPU side stands: the model's own preprocess vs the Rust-direct tokenizer
        cap = tokenizer_char_cap(plain)
        capped = [d[:cap] for d in docs]
        n_pre = min(len(capped), 5120)
        t = time.perf_counter()
        for s in range(0, n_pre, 512):
            plain.preprocess(capped[s:min(n_pre, s + 512)])
        res["tokenize_preprocess_docs_s"] = round(n_pre / (time.perf_counter() - t))
        # the Rust-direct tokenizer of each version, 1 / 2 / 4 chunks at once
        import gputopic.embed as embed_mod

        res.update(tokenizer_bench.rates_by_version(plain, capped, embed_mod.FAST_CHUNK_DOCS))
        if DEVICE == "cuda":  # a stronger peer than the defaults: the model in fp16, large batches
            plain.half()
            plain.encode(docs[:512], batch_size=256)
            sync()
            t = time.perf_counter()
            plain.encode(docs[:n_plain], batch_size=256, convert_to_numpy=True)
            sync()
            res["plain_encode_fp16_bs256_docs_s"] = round(n_plain / (time.perf_counter() - t))
        del plain
        ours = load_embedder(args.model, DEVICE)
        state["embedder"] = ours
        # (tokenizing in 14 forked processes instead of the threads was tried on 2026-11-27:
        # 4,235 docs/s at batch 2048 against 11,626 in threads, results/gpu_bench_h100_nov27b_run2.json)
        # "ompall": torch's CPU thread pool left at all cores during the loop (the default,
        # embed.CUDA_LOOP_TORCH_THREADS, is 1 since results/gpu_bench_h100_nov27c.json: 26,593
        # vs 22,666 docs/s); "c1024", chunks of 1,024 documents instead of 4,096 (less wait
        # before the first batch; it helped on 2 CPU cores with a sleeping stand-in model,
        # bench/RESULTS.md, not on the H100: 22,399 vs 22,666 docs/s with all threads)
        default_chunk, default_threads = embed_mod.FAST_CHUNK_DOCS, embed_mod.CUDA_LOOP_TORCH_THREADS
        for bs, threads, ompall, chunk in ((1024, 2, False, default_chunk), (2048, 2, False, default_chunk),
                                           (4096, 2, False, default_chunk), (2048, 2, True, default_chunk),
                                           (2048, 2, False, 1024)):
            embed_mod.FAST_TOKENIZER_THREADS, embed_mod.FAST_CHUNK_DOCS = threads, chunk
            embed_mod.CUDA_LOOP_TORCH_THREADS = None if ompall else default_threads
            ours.encode(docs[:2048], gpu, batch_size=bs)  # warm-up at this size
            sync()
            t = time.perf_counter()
            e_ours = ours.encode(docs, gpu, batch_size=bs)
            sync()
            tag = ("_ompall" if ompall else "") + (f"_c{chunk}" if chunk != default_chunk else "")
            res[f"ours_fp16_bs{bs}_t{threads}{tag}_docs_s"] = round(len(docs) / (time.perf_counter() - t))
        embed_mod.FAST_CHUNK_DOCS, embed_mod.CUDA_LOOP_TORCH_THREADS = default_chunk, default_threads
        res["ours_used_fast_tokenizer"] = bool(ours._fast)
        if ours._fast:  # the GPU alone: the transformer on batches tokenised beforehand
            for bs in (1024, 2048):
                res[f"gpu_only_bs{bs}_docs_s"] = round(model_only_rate(ours, capped, bs))
            # the loop alone: tokenising, batching, pinning and copies, the transformer replaced
            # by zeros (with the two figures above: which side keeps the loop under 20k docs/s)
            res["loop_without_model_bs2048_docs_s"] = round(loop_without_model_rate(ours, docs, 2048))
        e = to_numpy(e_ours)[:n_plain]
        cos = (e * e_plain).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(e_plain, axis=1)
        res["cosine_ours_vs_plain_min"] = round(float(cos.min()), 5)
        res["cosine_ours_vs_plain_mean"] = round(float(cos.mean()), 6)
        best = max((k for k in res if k.startswith("ours_") and k.endswith("_docs_s")), key=lambda k: res[k])
        res["speedup_best_vs_plain"] = round(res[best] / res["plain_encode_fp32_bs32_docs_s"], 2)
        res["best"] = best
        state["best_bs"] = int(best.split("_bs")[1].split("_")[0])
        if "_ompall" in best:  # the large run as the best variant ran
            embed_mod.CUDA_LOOP_TORCH_THREADS = None
        res["best_torch_threads_in_loop"] = embed_mod.CUDA_LOOP_TORCH_THREADS or "all"
        if "_c" in best:  # the chunk size of the best variant for the large run
            embed_mod.FAST_CHUNK_DOCS = int(best.split("_c")[1].split("_")[0])
        res["best_chunk_docs"] = embed_mod.FAST_CHUNK_DOCS
        embed_mod.FAST_TOKENIZER_THREADS = int(best.split("_t")[1].split("_")[0])
        res["best_tokenizer_threads"] = embed_mod.FAST_TOKENIZER_THREADS
        state["rate"] = res[best]
        return res

    @step("embed_all", out, args.budget_s, need=30)
    def _():
        ours = state.get("embedder") or (StandIn() if args.stand_in else load_embedder(args.model, DEVICE))
        # as many documents as the embedding budget allows at the measured rate (all, if fast)
        rate = state.get("rate")  # measured by embed_compare; without it, embed every document
        n = len(state["docs"]) if rate is None else min(len(state["docs"]), max(sizes[0], int(rate * args.embed_budget_s)))
        docs = state["docs"][:n]
        reset_peak()
        sync()
        t = time.perf_counter()
        emb = ours.encode(docs, gpu, batch_size=state.get("best_bs", 2048))
        sync()
        dt = time.perf_counter() - t
        state["emb"] = emb
        real_docs, real_labels = state["real"]
        t2 = time.perf_counter()
        real = ours.encode(real_docs, gpu, batch_size=state.get("best_bs", 2048))
        sync()
        state["real_emb"] = real
        np.save(out / "20ng_embeddings_fp16.npy", to_numpy(real).astype(np.float16))
        return {"n": n, "seconds": round(dt, 1), "docs_s": round(n / dt),
                "peak_gpu_gib": peak_gib(),
                "real_20ng_n": len(real_docs), "real_20ng_docs_s": round(len(real_docs) / (time.perf_counter() - t2))}

    def pipeline(n: int, docs, labels, emb, random_state: int | None = None) -> dict:
        E = torch.from_dlpack(emb[:n])
        sync()
        t = time.perf_counter()
        knn(E, 15, "cosine")
        sync()
        t_knn = time.perf_counter() - t
        reset_peak()
        from gputopic.native import umap as native_umap

        sgd_runs = native_umap._TRITON_SGD_STATE["runs"]
        model = GPUTopic(device=DEVICE, umap_model="native", hdbscan_model="native", random_state=random_state)
        sync()
        t = time.perf_counter()
        topics, _ = model.fit_transform(docs[:n], embeddings=emb[:n])
        sync()
        total = time.perf_counter() - t
        topics = to_numpy(topics)
        tm = {k: round(v, 2) for k, v in model.timings_.items()}
        after_embed = total - model.timings_["embed"]
        from gputopic.native import hdbscan as native_hdbscan

        return {"n": n, "knn_alone_s": round(t_knn, 2), "stages_s": tm,
                "triton_mst": os.environ.get("GPUTOPIC_TRITON_MST") == "1" and not native_hdbscan._TRITON_STATE["failed"],
                "umap_sgd": "triton" if native_umap._TRITON_SGD_STATE["runs"] > sgd_runs else "torch",
                "umap_hdbscan_ctfidf_s": round(after_embed, 2),
                "nmi": nmi(labels[:n], topics), "topics": int(topics.max() + 1),
                "outliers": round(float((topics == -1).mean()), 3),
                "peak_gpu_gib": peak_gib()}

    @step("pipeline_real_20ng", out, args.budget_s, need=20)
    def _():
        real_docs, real_labels = state["real"]
        return pipeline(len(real_docs), real_docs, real_labels, state["real_emb"])

    @step("real_20ng_seeds", out, args.budget_s, need=40)
    def _():
        # NMI over UMAP seeds on the real posts (warm: compiles paid above), to read one
        # fit's NMI against umap-learn's own seed range on the CPU (0.423-0.446, README)
        real_docs, real_labels = state["real"]
        runs = {seed: pipeline(len(real_docs), real_docs, real_labels, state["real_emb"], random_state=seed)
                for seed in range(5)}
        nmis = [r["nmi"] for r in runs.values()]
        return {"seeds": list(runs), "nmi": nmis, "topics": [r["topics"] for r in runs.values()],
                "umap_hdbscan_ctfidf_s": [r["umap_hdbscan_ctfidf_s"] for r in runs.values()],
                "nmi_mean": round(float(np.mean(nmis)), 4), "nmi_min": min(nmis), "nmi_max": max(nmis)}

    def gpu_size(n: int, sgd: str = "triton") -> None:
        name = f"pipeline_gpu_{n}" + ("_torch_sgd" if sgd == "torch" else "")

        @step(name, out, args.budget_s, need=10 + n / 40000)  # 1M: 35.6 s on an H100
        def _():
            m = min(n, int(state["emb"].shape[0]))  # what the embedding budget allowed
            if sgd == "torch":  # the torch path of the UMAP SGD, for comparison with the kernel
                os.environ["GPUTOPIC_TRITON_SGD"] = "0"
            try:
                return {"requested_n": n, **pipeline(m, state["docs"], state["labels"], state["emb"])}
            finally:
                os.environ.pop("GPUTOPIC_TRITON_SGD", None)

    @step("hdbscan_triton_vs_torch_100k", out, args.budget_s, need=20)
    def _():
        from sklearn.metrics import adjusted_rand_score

        from gputopic.native import hdbscan as native_hdbscan
        from gputopic.native.hdbscan import HDBSCAN
        from gputopic.native.umap import UMAP

        n = min(sizes[0], int(state["emb"].shape[0]))
        R = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=0).fit_transform(
            torch.from_dlpack(state["emb"][:n]))
        res = {"n": n}
        labels = {}
        for mode in ("0", "1", "1"):  # torch path, then the fused kernel (compile, then timed)
            os.environ["GPUTOPIC_TRITON_MST"] = mode
            sync()
            t = time.perf_counter()
            h = HDBSCAN(min_cluster_size=10, prediction_data=True).fit(R)
            sync()
            res[f"seconds_triton_{mode}"] = round(time.perf_counter() - t, 2)
            labels[mode] = h.labels_.cpu().numpy()
            res[f"mst_weight_triton_{mode}"] = float(np.sum(h._mst_[2]))
        res["triton_failed"] = bool(native_hdbscan._TRITON_STATE["failed"])
        res["labels_identical"] = bool(np.array_equal(labels["0"], labels["1"]))
        res["ari_triton_vs_torch"] = round(float(adjusted_rand_score(labels["0"], labels["1"])), 6)
        return res


    for n in sizes[:-1]:
        gpu_size(n)
        gpu_size(n, "torch")

    @step(f"cpu_peer_{args.cpu_peer_n}", out, args.budget_s, need=args.cpu_peer_timeout)
    def _():
        n = args.cpu_peer_n
        path = Path("/tmp/peer_emb.npy")
        np.save(path, to_numpy(state["emb"][:n]))
        np.save("/tmp/peer_labels.npy", np.asarray(state["labels"][:n]))
        # warm: numba compiles on a small fit first (reported apart), then the timed fit;
        # each figure is printed as soon as it exists, so a timeout still reports the rest
        code = (
            "import time, json, numpy as np, umap, hdbscan\n"
            "from sklearn.metrics import normalized_mutual_info_score as nmi\n"
            "E = np.load('/tmp/peer_emb.npy'); y = np.load('/tmp/peer_labels.npy')\n"
            "def fit(X):\n"
            "    t = time.perf_counter()\n"
            "    R = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric='cosine', low_memory=False).fit_transform(X)\n"
            "    print(json.dumps({'umap_s': round(time.perf_counter() - t, 1)}), flush=True); t = time.perf_counter()\n"
            "    h = hdbscan.HDBSCAN(min_cluster_size=10, metric='euclidean', cluster_selection_method='eom', prediction_data=True).fit(R)\n"
            "    print(json.dumps({'hdbscan_s': round(time.perf_counter() - t, 1)}), flush=True)\n"
            "    return h\n"
            "t = time.perf_counter(); fit(E[:3000])\n"
            "print(json.dumps({'warmup_compile_s': round(time.perf_counter() - t, 1)}), flush=True)\n"
            "h = fit(E)\n"
            "print(json.dumps({'nmi': round(float(nmi(y, h.labels_)), 4), 'clusters': int(h.labels_.max() + 1)}))\n"
        )
        timed_out = False
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=args.cpu_peer_timeout)
            stdout = proc.stdout
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-1500:])
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        lines = [json.loads(x) for x in stdout.strip().splitlines() if x.startswith("{")]
        res = {"n": n, "cpu_cores": os.cpu_count(), "timed_out_after_s": args.cpu_peer_timeout if timed_out else None}
        warm = False
        for line in lines:  # the first umap_s/hdbscan_s pair is the 3,000-point warm-up
            if "warmup_compile_s" in line:
                warm = True
            res.update(line if warm or "warmup_compile_s" in line else {})
        gpu_res = RESULTS["steps"].get(f"pipeline_gpu_{n}")
        if gpu_res and "umap_s" in res:
            g = gpu_res["stages_s"]
            cpu_s = res["umap_s"] + res.get("hdbscan_s", 0.0)
            res["ratio_umap_hdbscan_cpu_over_gpu"] = round(cpu_s / (g["reduce"] + g["cluster"]), 1)
            if "hdbscan_s" not in res:
                res["ratio_is_lower_bound"] = True
        elif gpu_res and timed_out:
            g = gpu_res["stages_s"]
            spent = args.cpu_peer_timeout - res.get("warmup_compile_s", 0.0)  # on the timed fit
            res["ratio_lower_bound"] = round(spent / (g["reduce"] + g["cluster"]), 1)
        return res

    gpu_size(sizes[-1])  # the largest size last: the CPU peer's ratio is measured first
    save(out)
    print(json.dumps(RESULTS, indent=1, default=str)[-6000:])


if __name__ == "__main__":
    main()
