"""Scaling of the native kNN / UMAP / HDBSCAN stages (issue 16): exact vs sub-quadratic.

Data: MiniLM embeddings of the 20 Newsgroups posts (``bench/.cache/20ng_minilm.npy``; made
here by embedding the corpus when missing, with the bundled model: ~25 min on 2 CPU cores,
seconds on a GPU), *resampled* to N points: N posts drawn with replacement (seeded), each
embedding plus isotropic Gaussian noise of norm ``--noise`` times the median distance
between a post and its nearest other post, renormalised; labels are the drawn posts'.
Nothing is shipped or downloaded. Uniform random unit vectors (384-D) are the
adversarial case for the inverted file.

``--cpu`` (anything can rerun it here; set ``--threads``): for each size, the inverted
file kNN time (repeats, spread), its recall@15 on 1,000 sampled points against the exact
search, the same on the real posts themselves and on ``--uniform-n`` uniform random unit vectors,
with what ``knn="auto"`` decides there,
and HDBSCAN on 5-D points (a Gaussian mixture with 10 % uniform background, a stand-in
for a UMAP output) with ``knn="approx"`` (k-d tree kNN and MST search) against
``knn="exact"`` (ARI, times) where the exact one is affordable; exponents by least squares
on log time vs log n.

Default (GPU): for each of ``--sizes`` (100k, 1M, 3M, 10M), resampled on the device, the
stages kNN, UMAP (5-D, given the graph), HDBSCAN, and up to ``--count-max`` documents
(1M) the counting of as many resampled 20 Newsgroups texts (``doc_term_matrix`` with the
default vectorizer, on all cores, the matrix then copied to the device), each timed between
``torch.cuda.synchronize()`` calls, with per stage: peak torch memory
(``max_memory_allocated``, reset per stage), the CuPy pool's bytes in use after it and held
at its end (``total_bytes``; the pool's blocks are freed before each stage, and a pool keeps
what it grew to, so this is the stage's peak of the pool), host peak RSS during the stage
(``VmHWM`` reset through ``/proc/self/clear_refs`` before it; Linux) and the process's
peak so far; recall@15 (sampled), NMI against the resampled labels;
the exact path at ``--exact-sizes`` (100k, 1M) as the peer. A size is skipped when the
time left (``--budget-s``) is below twice the previous size's total times the size ratio.

    python bench/scale.py --cpu --sizes 50000,100000,200000 --out bench/results/scale_cpu.json
    python bench/scale.py --sizes 100000,1000000,3000000,10000000 --out /tmp/out/scale_gpu.json
    python bench/scale.py --device cpu --sizes 3000,6000 --exact-sizes 3000 --budget-s 300   # dry run
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gputopic.native import ann, neighbors  # noqa: E402
from gputopic.native.knn import knn as exact_knn  # noqa: E402

CACHE = ROOT / "bench" / ".cache"


def provenance(device: torch.device) -> dict:
    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    out = {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "numpy": np.__version__}
    for name in ("cupy", "triton", "numba", "sklearn"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            pass
    if device.type == "cuda":
        out["card"] = torch.cuda.get_device_name(device)
    return out


# ----------------------------------------------------------------------------- data


def embeddings(device: str, model: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, labels) of all 20 Newsgroups posts; cached in bench/.cache."""
    from corpus import load

    docs, labels = load("20newsgroups", min_words=0)
    f = CACHE / "20ng_minilm.npy"
    if not f.exists():
        parts = sorted(CACHE.glob("20ng_part*.npy"))
        order_f = CACHE / "20ng_order.npy"
        if parts and order_f.exists() and sum(np.load(p, mmap_mode="r").shape[0] for p in parts) == len(docs):
            # made by embedding the posts in a seeded random order, 1,000 at a time
            order = np.load(order_f)
            E = np.empty((len(docs), 384), np.float32)
            E[order] = np.concatenate([np.load(p) for p in parts])
        else:
            from gputopic.device import get_backend
            from gputopic.embed import load_embedder

            emb = load_embedder(model, device, embedding_backend="auto" if device == "cpu" else "torch")
            E = np.asarray(emb.encode(docs, get_backend(device)), np.float32) if device == "cpu" else \
                emb.encode(docs, get_backend(device)).get().astype(np.float32)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(f, E)
    E = np.load(f)
    names = sorted(set(labels))
    return E, np.searchsorted(names, labels)


def resample(E: torch.Tensor, labels: torch.Tensor, n: int, noise: float, seed: int):
    """n rows drawn with replacement, plus Gaussian noise of norm ``noise`` x the median
    nearest-other-post distance, renormalised (see the module docstring)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    gd = g if E.device.type == "cpu" else torch.Generator(device=E.device).manual_seed(seed)
    En = torch.nn.functional.normalize(E.float(), dim=1)
    d, _ = exact_knn(En[:5000], 2, "euclidean")
    scale = float(noise * d[:, 1].median()) / En.shape[1] ** 0.5
    pick = torch.randint(0, En.shape[0], (n,), generator=g)
    pick_d = pick.to(E.device)
    out = torch.empty((n, En.shape[1]), dtype=torch.float32, device=E.device)
    for s in range(0, n, 1 << 20):
        p = pick_d[s : s + (1 << 20)]
        z = torch.randn((p.shape[0], En.shape[1]), generator=gd, device=E.device)
        out[s : s + p.shape[0]] = torch.nn.functional.normalize(En[p] + scale * z, dim=1)
    return out, labels[pick]


def corpus_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts resampled from the 20 Newsgroups posts (bench/corpus.py)."""
    from corpus import load, resample

    return resample(*load("20newsgroups", min_words=0), n, seed)[0]


def mixture5(n: int, seed: int) -> torch.Tensor:
    """5-D stand-in for a UMAP output: 60 Gaussian clusters (scales 0.2-0.9, centres spread
    8) and 10 % uniform background in [-15, 15]^5."""
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(60, 5, generator=g) * 8
    sc = torch.rand(60, generator=g) * 0.7 + 0.2
    lab = torch.randint(0, 60, (n,), generator=g)
    X = C[lab] + torch.randn(n, 5, generator=g) * sc[lab, None]
    nb = n // 10
    X[:nb] = torch.rand(nb, 5, generator=g) * 30 - 15
    return X


def exponent(ns, ts) -> float | None:
    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


_HOST_PEAK = [0.0]  # the process's peak RSS before the last reset (GiB)


def reset_host_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0). That also
    lowers what ``ru_maxrss`` reports for the running process: the peak before the reset is
    kept in ``_HOST_PEAK`` for :func:`process_peak_gib`."""
    _HOST_PEAK[0] = process_peak_gib()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def process_peak_gib() -> float:
    """The process's peak RSS so far (GiB), across :func:`reset_host_peak` calls."""
    return max(_HOST_PEAK[0], rss_gib(), host_peak_gib() or 0.0)


def host_peak_gib() -> float | None:
    """VmHWM: the peak RSS since the last :func:`reset_host_peak` (None: not Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


# ----------------------------------------------------------------------------- CPU


def run_cpu(args) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from gputopic.native import HDBSCAN

    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    # the machine's load (1/5/15-minute averages) at the start and the end: timings on a shared
    # machine are noisy, and this says how shared it was
    out = {"mode": "cpu", "provenance": provenance(dev), "args": vars(args),
           "load_average_start": list(os.getloadavg()), "knn": [], "hdbscan": []}
    sizes = [int(s) for s in args.sizes.split(",")]
    if "knn" in args.parts:
        E, lab = embeddings("cpu")
        E, lab = torch.from_numpy(E), torch.from_numpy(lab)
        out["source_posts"] = int(E.shape[0])
        for n in sizes:
            X, _ = resample(E, lab, n, args.noise, seed=0)
            times = []
            for r in range(args.repeats):
                t = time.perf_counter()
                _, idx = ann.knn_ivf(X, 15, "cosine", seed=r)
                times.append(time.perf_counter() - t)
            rec = neighbors.sample_recall(X, idx, "cosine", n_sample=1000)
            row = {"n": n, "ivf_s": times, "recall15_sampled": rec, "rss_gib": rss_gib()}
            print(json.dumps(row), flush=True)
            out["knn"].append(row)
        if out["knn"]:
            out["knn_exponent_min_time"] = exponent([r["n"] for r in out["knn"]], [min(r["ivf_s"]) for r in out["knn"]])
        # the real posts themselves (no resampling), and uniform random unit vectors
        checks = [("real_posts", torch.nn.functional.normalize(E.float(), dim=1))]
        if args.uniform_n > 0:  # --uniform-n 0 leaves the adversarial case out
            checks.append(("uniform", torch.nn.functional.normalize(
                torch.randn(args.uniform_n, 384, generator=torch.Generator().manual_seed(1)), dim=1)))
        for name, X in checks:
            t = time.perf_counter()
            _, idx = ann.knn_ivf(X, 15, "cosine")
            ti = time.perf_counter() - t
            rec = neighbors.sample_recall(X, idx, "cosine", n_sample=1000)
            saved = neighbors.AUTO_MIN["cpu"]
            neighbors.AUTO_MIN["cpu"] = 0
            try:
                _, _, info = neighbors.self_knn(X, 15, "cosine", "auto", n_sample=1000) if rec < neighbors.MIN_RECALL else (None, None, {"method": "ivf"})
            finally:
                neighbors.AUTO_MIN["cpu"] = saved
            row = {"data": name, "n": int(X.shape[0]), "ivf_s": ti, "recall15_sampled": rec, "auto_chose": info["method"]}
            print(json.dumps(row), flush=True)
            out.setdefault("knn_cases", []).append(row)
    if "hdbscan" in args.parts:
        for n in [int(s) for s in args.hdb_sizes.split(",")]:
            X = mixture5(n, seed=0)
            row = {"n": n}
            ts = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                h = HDBSCAN(min_cluster_size=max(50, n // 2000), min_samples=10, knn="approx", device="cpu").fit(X)
                ts.append(time.perf_counter() - t)
            row.update(approx_s=ts, n_clusters=h.n_clusters_, method=h.knn_method_, rss_gib=rss_gib())
            if n <= args.exact_max:
                t = time.perf_counter()
                e = HDBSCAN(min_cluster_size=max(50, n // 2000), min_samples=10, knn="exact", device="cpu").fit(X)
                row.update(exact_s=time.perf_counter() - t, ari_vs_exact=float(adjusted_rand_score(e.labels_, h.labels_)),
                           mst_weight_approx=float(h._mst_[2].sum()), mst_weight_exact=float(e._mst_[2].sum()))
            print(json.dumps(row), flush=True)
            out["hdbscan"].append(row)
        if out["hdbscan"]:
            out["hdbscan_exponent_min_time"] = exponent([r["n"] for r in out["hdbscan"]],
                                                        [min(r["approx_s"]) for r in out["hdbscan"]])
    return out


# ----------------------------------------------------------------------------- GPU


def run_gpu(args) -> dict:
    """The device run; ``--device cpu`` is the dry run of the same code at small sizes (no
    GPU was lent when this was written: the CUDA path is unverified)."""
    from sklearn.metrics import normalized_mutual_info_score

    from gputopic.device import get_backend
    from gputopic.native import HDBSCAN, UMAP
    from gputopic.vectorize import default_vectorizer, doc_term_matrix

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    try:
        import cupy
        pool = cupy.get_default_memory_pool() if cuda else None
    except Exception:  # noqa: BLE001
        pool = None
    out = {"mode": "gpu", "provenance": provenance(dev), "args": vars(args), "runs": []}
    E, lab = embeddings(dev.type, args.model)
    E, lab = torch.from_numpy(E).to(dev), torch.from_numpy(lab)
    t_start = time.perf_counter()
    prev = None
    plan = [(int(s), "approx") for s in args.sizes.split(",")] + [(int(s), "exact") for s in args.exact_sizes.split(",") if s]
    for n, mode in plan:
        left = args.budget_s - (time.perf_counter() - t_start)
        if prev is not None and left < 2 * prev[1] * n / prev[0]:
            out["runs"].append({"n": n, "knn": mode, "skipped": f"{left:.0f} s left"})
            continue
        X, y = resample(E, lab, n, args.noise, seed=0)
        stages = {}

        def stage(name, fn):
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                if pool:
                    pool.free_all_blocks()
            reset = reset_host_peak()
            t = time.perf_counter()
            r = fn()
            if cuda:
                torch.cuda.synchronize()
            stages[name] = {"s": time.perf_counter() - t,
                            "torch_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                            "cupy_pool_used_gib": (pool.used_bytes() / 2**30) if (pool and cuda) else None,
                            "cupy_pool_held_gib": (pool.total_bytes() / 2**30) if (pool and cuda) else None,
                            "host_stage_peak_rss_gib": host_peak_gib() if reset else None,
                            "host_peak_rss_gib": process_peak_gib()}
            return r

        if n <= args.count_max:
            texts = corpus_texts(n)
            Xc = stage("count", lambda: doc_term_matrix(default_vectorizer(), texts, get_backend(dev.type)))
            stages["count"].update(n_terms=int(Xc.shape[1]), nnz=int(Xc.nnz))
            del texts, Xc

        d, i, info = stage("knn", lambda: neighbors.self_knn(X, 15, "cosine", mode))
        rec = info.get("recall")
        if rec is None and mode != "exact":
            rec = neighbors.sample_recall(X, i, "cosine", n_sample=1000)
        emb = stage("umap", lambda: UMAP(n_neighbors=15, n_components=5, metric="cosine", min_dist=0.0,
                                         random_state=0, device=dev.type).fit_transform(X, knn=(d, i)))
        del d, i
        h = stage("hdbscan", lambda: HDBSCAN(min_cluster_size=max(15, n // 2000), min_samples=10,
                                              knn=mode, device=dev.type).fit(emb))
        labels = h.labels_.cpu().numpy() if hasattr(h.labels_, "cpu") else np.asarray(h.labels_)
        nmi = float(normalized_mutual_info_score(y.numpy(), labels))
        total = sum(s["s"] for s in stages.values())
        row = {"n": n, "knn": mode, "knn_method": info["method"], "recall15_sampled": rec, "nmi": nmi,
               "n_clusters": h.n_clusters_, "stages": stages, "total_s": total}
        print(json.dumps(row), flush=True)
        out["runs"].append(row)
        if mode == "approx":
            prev = (n, total)
        del X, emb, h
        if cuda:
            torch.cuda.empty_cache()
    ok = [r for r in out["runs"] if r.get("knn") == "approx" and "total_s" in r and r["n"] >= 1_000_000]
    out["exponent_1m_up"] = exponent([r["n"] for r in ok], [r["total_s"] for r in ok])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true", help="the CPU measurement (see above)")
    p.add_argument("--sizes", default="100000,1000000,3000000,10000000")
    p.add_argument("--exact-sizes", default="100000,1000000", help="GPU: sizes also run with knn='exact'")
    p.add_argument("--hdb-sizes", default="50000,100000,200000,400000", help="CPU: 5-D HDBSCAN sizes")
    p.add_argument("--exact-max", type=int, default=50000, help="CPU: largest 5-D size also fit with knn='exact'")
    p.add_argument("--parts", default="knn,hdbscan", help="CPU: knn, hdbscan")
    p.add_argument("--uniform-n", type=int, default=20000, help="CPU: uniform random points for the recall check")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--noise", type=float, default=0.5)
    p.add_argument("--budget-s", type=float, default=480)
    p.add_argument("--count-max", type=int, default=1_000_000,
                   help="GPU: largest size whose resampled texts are also counted (0: none)")
    p.add_argument("--device", default="cuda", help="default mode: cuda, or cpu for a dry run at small sizes")
    p.add_argument("--model", help="GPU: embedding model folder when bench/.cache has no embeddings")
    p.add_argument("--out")
    args = p.parse_args()
    res = run_cpu(args) if args.cpu else run_gpu(args)
    if args.cpu:
        res["load_average_end"] = list(os.getloadavg())
    text = json.dumps(res, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
