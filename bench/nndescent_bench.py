"""gputopic's NN-descent (``gputopic.native.knn.nndescent``) against pynndescent and the
exact graph, on one embedding file, in one process.

Both approximate searches run twice: the first call includes what a fresh process pays
(pynndescent compiles its kernels; gputopic loads its kernels from numba's disk cache,
or compiles them on the very first use on a machine), the second is warm. pynndescent
runs with the settings umap-learn gives it in a BERTopic fit (``umap.umap_.nearest_neighbors``
with BERTopic's ``low_memory=False``; ``n_jobs=1`` as umap-learn does when ``random_state``
is set). Reported per method:
seconds, recall (fraction of the exact k neighbours found) and distance recall (fraction
of returned neighbours no farther than the exact k-th one: ties among duplicates count as
found).

    python bench/nndescent_bench.py --embeddings /tmp/vsb/health_news_tweets.npy --out results/nndescent_health_2core.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gputopic.native.knn  # noqa: E402,F401  (the package attribute is the function)

K = sys.modules["gputopic.native.knn"]


def _quality(d, i, de, ie) -> dict:
    k = ie.shape[1]
    found = (i[:, :, None] == ie[:, None, :]).any(2)
    return {"recall": round(float(found.mean()), 4),
            "distance_recall": round(float(np.mean(d <= de[:, k - 1:k] + 1e-5)), 4)}


def _pynndescent(X: np.ndarray, k: int, metric: str, seed: int):
    import pynndescent

    n = X.shape[0]
    index = pynndescent.NNDescent(
        X, metric=metric, n_neighbors=k, random_state=seed, low_memory=False, n_jobs=1, compressed=False,
        n_trees=min(64, 5 + int(round(n ** 0.5 / 20.0))), n_iters=max(5, int(round(np.log2(n)))),
        max_candidates=60, verbose=False,
    )
    i, d = index.neighbor_graph
    return d, i


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embeddings", required=True, help=".npy of float32 rows")
    ap.add_argument("--limit", type=int, default=None, help="only the first LIMIT rows")
    ap.add_argument("-k", type=int, default=15)
    ap.add_argument("--metric", default="cosine", choices=K.METRICS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-pynndescent", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)

    X = np.load(args.embeddings, mmap_mode="r")[: args.limit].astype(np.float32)
    Xt = torch.from_numpy(X)
    k, metric, seed = args.k, args.metric, args.seed
    t = time.perf_counter()
    de, ie = K.knn(Xt, k, metric)
    res = {"exact": {"seconds": round(time.perf_counter() - t, 2)}}
    de, ie = de.numpy(), ie.numpy()
    methods = {"gputopic": lambda: tuple(a.numpy() for a in K.nndescent(Xt, k, metric, seed))}
    if not args.no_pynndescent:
        methods["pynndescent"] = lambda: _pynndescent(X, k, metric, seed)
    for name, fn in methods.items():
        for call in ("first", "second"):
            t = time.perf_counter()
            d, i = fn()
            res[f"{name}_{call}"] = {"seconds": round(time.perf_counter() - t, 2), **_quality(d, i, de, ie)}
    import numba

    out = {"embeddings": args.embeddings, "n": int(X.shape[0]), "dim": int(X.shape[1]), "k": k, "metric": metric,
           "seed": seed, "threads": numba.get_num_threads(), "results": res,
           "machine": {"platform": platform.platform(), "cpu_count": torch.get_num_threads()},
           "versions": {"numba": numba.__version__, "torch": torch.__version__}}
    try:
        import pynndescent

        out["versions"]["pynndescent"] = pynndescent.__version__
    except ImportError:
        pass
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus import emit

    emit(out, args.out)


if __name__ == "__main__":
    main()
