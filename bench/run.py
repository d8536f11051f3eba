"""Stage timings of one gputopic fit, as JSON: embed, reduce, cluster, c-TF-IDF, total,
docs/s, peak memory (host RSS, and GPU when on CUDA), device and library versions.

    python bench/run.py                                   # 20 Newsgroups from ../shared/data
    python bench/run.py --corpus ag_news_test --n 5000 --device cpu --out run.json
    python bench/run.py --corpus my_docs.jsonl.gz --embeddings emb.npy

--corpus is a file stem in ../shared/data (or $GPUTOPIC_DATA) or a .jsonl(.gz) path with a
"text" field; documents with fewer than --min-words words are dropped first.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="20newsgroups")
    ap.add_argument("--n", type=int, default=None, help="use the first N documents")
    ap.add_argument("--min-words", type=int, default=1)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--embeddings", default=None, help=".npy aligned with the documents (skips embedding)")
    ap.add_argument("--embedding-cache", default=None, help="folder for gputopic's embedding cache")
    ap.add_argument("--min-topic-size", type=int, default=10)
    ap.add_argument("--random-state", type=int, default=None)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()

    from sklearn.metrics import normalized_mutual_info_score

    from gputopic import GPUTopic
    from gputopic.device import resolve_device, versions

    docs, labels = corpus.load(args.corpus, min_words=args.min_words, limit=args.n)
    emb = None
    if args.embeddings:
        emb = np.load(args.embeddings)[: len(docs)].astype(np.float32)
    device = resolve_device(args.device)
    model = GPUTopic(device=device, min_topic_size=args.min_topic_size, random_state=args.random_state,
                     embedding_cache_dir=args.embedding_cache)
    t = time.perf_counter()
    topics, _ = model.fit_transform(docs, embeddings=emb)
    total = time.perf_counter() - t
    topics = np.asarray(topics.get() if hasattr(topics, "get") else topics)
    result = {
        "corpus": args.corpus,
        "n_docs": len(docs),
        "device": device,
        "stages_s": {k: round(v, 3) for k, v in model.timings_.items()},
        "total_s": round(total, 3),
        "docs_per_s": round(len(docs) / total, 1),
        "docs_per_s_after_embedding": round(len(docs) / max(total - model.timings_["embed"], 1e-9), 1),
        "embeddings_given": emb is not None,
        "topics": int(len(set(topics.tolist())) - (1 if -1 in topics else 0)),
        "outlier_fraction": round(float((topics == -1).mean()), 4),
        "nmi": round(float(normalized_mutual_info_score(labels, topics)), 4) if any(labels) else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "versions": versions(),
    }
    if device == "cuda":
        import torch

        result["gpu"] = torch.cuda.get_device_name(0)
        result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    corpus.emit(result, args.out)


if __name__ == "__main__":
    main()
