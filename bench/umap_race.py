"""gputopic's CPU UMAP against umap-learn's, each as BERTopic's users run it (BERTopic's UMAP
parameters, no seed, so umap-learn runs its parallel path), on the same embeddings.

    python bench/umap_race.py --corpus 20newsgroups,health_news_tweets --rounds 3 --out umap_race.json

Every run is a fresh process that fits twice: "cold" = import + first fit (numba
compilation or its disk cache included), "warm" = a second fit of a new model in that
process. The two libraries alternate, the order reversed every other round. Quality of the
cold fit's layout: trustworthiness (k=15, cosine in the input space) on a fixed sample of
3,000 points (scikit-learn's ``trustworthiness`` of the sample's inputs and layout), and
NMI of hdbscan's clusters (min_cluster_size=10, eom) against the labels, outliers as one
cluster. Embeddings: bench/.cache, computed by bench/vs_bertopic.py (run it first, or pass
``--embeddings-dir`` with ``<corpus>.npy``). Topic words (NPMI) need the whole pipeline:
bench/vs_bertopic.py measures them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import corpus  # noqa: E402

PARAMS = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine")  # BERTopic's
LIBRARIES = ("umap-learn", "gputopic")
SAMPLE = 3000


def _make(library: str):
    if library == "umap-learn":
        import umap

        return umap.UMAP(**PARAMS, low_memory=False)
    from gputopic.native import UMAP

    return UMAP(**PARAMS, device="cpu")


def run(spec: dict) -> dict:
    """One fresh process: cold fit, warm fit, quality of the cold layout."""
    import warnings

    warnings.filterwarnings("ignore")
    X = np.load(spec["embeddings"]).astype(np.float32)
    _, labels = corpus.load(spec["corpus"], min_words=1)
    t = time.perf_counter()
    layout = _make(spec["library"]).fit_transform(X)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    _make(spec["library"]).fit_transform(X)
    warm = time.perf_counter() - t

    import hdbscan
    from sklearn.manifold import trustworthiness

    from gputopic import metrics

    layout = np.asarray(layout)
    sample = np.random.RandomState(0).choice(len(X), min(SAMPLE, len(X)), replace=False)
    trust = trustworthiness(X[sample], layout[sample], n_neighbors=15, metric="cosine")
    clusters = hdbscan.HDBSCAN(min_cluster_size=10, cluster_selection_method="eom").fit_predict(layout)
    return {"library": spec["library"], "cold_s": round(cold, 3), "warm_s": round(warm, 3),
            "trustworthiness": round(float(trust), 4),
            "nmi": round(float(metrics.clustering_scores(labels, clusters)["nmi"]), 4),
            "clusters": int(clusters.max() + 1), "outliers": round(float((clusters == -1).mean()), 4)}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(run(json.loads(sys.argv[2]))), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--embeddings-dir", default=None, help="folder of <corpus>.npy (default: bench/.cache)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    from vs_bertopic import embeddings_for

    results = []
    for name in [c.strip() for c in args.corpus.split(",") if c.strip()]:
        docs, _ = corpus.load(name, min_words=1)
        path = embeddings_for(name, docs, args.embeddings_dir)
        runs = []
        for r in range(args.rounds):
            for lib in (LIBRARIES if r % 2 == 0 else LIBRARIES[::-1]):
                spec = {"corpus": name, "embeddings": str(path), "library": lib}
                proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{lib} on {name} failed:\n{proc.stderr[-3000:]}")
                row = {"round": r, **json.loads(proc.stdout.strip().splitlines()[-1])}
                runs.append(row)
                print(json.dumps({"corpus": name, **row}), flush=True)
        results.append({"corpus": name, "n_docs": len(docs), "runs": runs})

    print("\n| corpus | library | rounds | cold s | warm s | trustworthiness | NMI | clusters |")
    print("|---|---|---|---|---|---|---|---|")
    for res in results:
        for lib in LIBRARIES:
            rows = [r for r in res["runs"] if r["library"] == lib]
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("cold_s", "warm_s", "trustworthiness", "nmi",
                                                                       "clusters")}
            print(f"| {res['corpus']} | {lib} | {len(rows)} | {mean['cold_s']:.1f} | {mean['warm_s']:.2f} | "
                  f"{mean['trustworthiness']:.4f} | {mean['nmi']:.3f} | {mean['clusters']:.0f} |")
    if args.out:
        from gputopic.device import versions

        report = {"results": results, "params": PARAMS, "versions": versions(), "provenance": corpus.provenance()}
        Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
