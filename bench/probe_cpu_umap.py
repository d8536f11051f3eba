"""Probe for issue 3 (a faster CPU path): where UMAP time goes on the CPU, and what two
candidate paths give, on the same embeddings in one process.

    python bench/probe_cpu_umap.py --embeddings 20newsgroups.npy [--corpus 20newsgroups] [--seed 42]

Rows (each run twice in one process: "cold" includes numba compilation for whichever row
compiles a kernel first, so only the first row's cold time is a true cold start; "warm" is fair):
  umap-learn default (NN-descent), as BERTopic runs it
  umap-learn on an exact cosine kNN from one BLAS product (gputopic.native.knn), precomputed_knn
  gputopic's native torch UMAP
each followed by hdbscan (min_cluster_size=10) and NMI against the labels; the native row
also reports NPMI of the resulting topics through GPUTopic. Not a race against BERTopic:
bench/vs_bertopic.py is that.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups")
    ap.add_argument("--embeddings", required=True, help=".npy aligned with corpus.load(name, min_words=1)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import hdbscan
    import torch
    import umap
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from gputopic import GPUTopic, metrics
    from gputopic.native import UMAP as NativeUMAP, knn

    docs, labels = corpus.load(args.corpus, min_words=1)
    emb = np.load(args.embeddings).astype(np.float32)
    params = dict(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=args.seed)

    def cluster(R):
        return hdbscan.HDBSCAN(min_cluster_size=10, prediction_data=True).fit(R).labels_

    for run in ("cold", "warm"):
        t = time.perf_counter()
        labels_default = cluster(umap.UMAP(**params).fit_transform(emb))
        t_default = time.perf_counter() - t
        t = time.perf_counter()
        d, i = knn(torch.from_numpy(emb), 15, "cosine")
        t_knn = time.perf_counter() - t
        labels_pre = cluster(umap.UMAP(**params, precomputed_knn=(i.numpy(), d.numpy(), None)).fit_transform(emb))
        t_pre = time.perf_counter() - t
        t = time.perf_counter()
        model = GPUTopic(device="cpu", umap_model=NativeUMAP(**params, device="cpu"), hdbscan_model="hdbscan")
        topics, _ = model.fit_transform(docs, embeddings=emb)
        t_native = time.perf_counter() - t
        print(json.dumps({
            "run": run,
            "umap_learn_default": {"s": round(t_default, 1), "nmi": round(nmi(labels, labels_default), 4),
                                   "topics": int(labels_default.max() + 1)},
            "umap_learn_exact_knn": {"s": round(t_pre, 1), "knn_s": round(t_knn, 1),
                                     "nmi": round(nmi(labels, labels_pre), 4), "topics": int(labels_pre.max() + 1)},
            "native_umap_gputopic": {"s": round(t_native, 1), "stages": {k: round(v, 2) for k, v in model.timings_.items()},
                                     "nmi": round(nmi(labels, topics), 4), "topics": int(topics.max() + 1),
                                     "npmi": round(metrics.npmi_coherence(model.get_topics(), docs)["mean"], 4)},
        }), flush=True)


if __name__ == "__main__":
    main()
