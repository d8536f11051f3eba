"""Probe for issue 3: native UMAP's clustering quality against umap-learn's, per seed.

    python bench/probe_umap_quality.py --embeddings 20newsgroups.npy --seeds 42 0 \
        [--variants umap-learn native native:n_epochs=100] [--cache /tmp/umapq]

For each variant and seed: one UMAP fit (BERTopic's parameters: n_neighbors=15,
n_components=5, min_dist=0.0, metric="cosine"), timed warm (umap-learn's numba kernels
are compiled by a throw-away fit on 2,000 rows first; its embeddings are cached in
--cache, keyed by seed, because they take the longest), then GPUTopic with that
embedding and hdbscan (min_cluster_size=10, eom): topic count, outlier fraction, NMI
against the newsgroup labels and NPMI of the topic words (gputopic.metrics).
One JSON line per (variant, seed). ``native:NAME=VALUE,...`` passes parameters to the
native UMAP (integers, floats or strings), e.g. ``native:n_epochs=100``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

PARAMS = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine")


class Fixed:
    """A umap_model slot that returns an embedding computed beforehand."""

    def __init__(self, embedding):
        self.embedding = embedding

    def fit_transform(self, X):
        return self.embedding


def umap_learn(emb, seed, cache: Path):
    import umap

    path = cache / f"umap_learn_{umap.__version__}_{seed}_{len(emb)}.npz"
    if path.exists():
        z = np.load(path)
        return z["emb"], float(z["s"])
    umap.UMAP(**PARAMS, random_state=seed).fit_transform(emb[:2000])  # compile numba
    t = time.perf_counter()
    out = umap.UMAP(**PARAMS, random_state=seed).fit_transform(emb)
    s = time.perf_counter() - t
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, emb=out, s=s)
    return out, s


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def native(emb, seed, spec: str = ""):
    from gputopic.native import UMAP

    extra = dict(item.split("=", 1) for item in spec.split(",") if item)
    extra = {k: _value(v) for k, v in extra.items()}
    UMAP(**PARAMS, random_state=seed, device="cpu", **extra).fit_transform(emb[:2000])  # warm-up
    t = time.perf_counter()
    out = UMAP(**PARAMS, random_state=seed, device="cpu", **extra).fit_transform(emb)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups")
    ap.add_argument("--embeddings", required=True, help=".npy aligned with corpus.load(name, min_words=1)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 0])
    ap.add_argument("--variants", nargs="+", default=["umap-learn", "native"])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/umapq"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import hdbscan

    from gputopic import GPUTopic, metrics

    docs, labels = corpus.load(args.corpus, min_words=1)
    emb = np.load(args.embeddings).astype(np.float32)
    for variant in args.variants:
        for seed in args.seeds:
            if variant == "umap-learn":
                red, s = umap_learn(emb, seed, args.cache)
            else:
                red, s = native(emb, seed, variant.partition(":")[2])
            model = GPUTopic(device="cpu", umap_model=Fixed(red),
                             hdbscan_model=hdbscan.HDBSCAN(min_cluster_size=10, prediction_data=True))
            topics, _ = model.fit_transform(docs, embeddings=emb)
            topics = np.asarray(topics)
            scores = metrics.clustering_scores(labels, topics)
            print(json.dumps({
                "variant": variant, "seed": seed, "topics": int(topics.max() + 1),
                "outliers": round(float((topics == -1).mean()), 4),
                "nmi": round(float(scores["nmi"]), 4),
                "npmi": round(metrics.npmi_coherence(model.get_topics(), docs)["mean"], 4),
                "umap_s": round(s, 2),
            }), flush=True)


if __name__ == "__main__":
    main()
