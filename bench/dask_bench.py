"""Sharded (Dask LocalCluster) vs single-process fit on one corpus: time, peak memory, agreement.

    python bench/dask_bench.py --corpus health_news_tweets --workers 2 --partitions 8 --fast
    python bench/dask_bench.py --corpus 20newsgroups --resample 200000 --partitions 16 --fast

The single-process fit runs in a child process so its peak RSS is its own. The sharded fit
reports each worker's peak RSS (``ru_maxrss``, from process start, so imports included; the
idle baseline is printed beside it) and the client process's. ``--fast`` swaps the models that
are not the point for stand-ins (hashed bag-of-words embeddings of --dim dims, PCA, KMeans) so the
run fits a laptop's CPU; without it the defaults run (MiniLM, UMAP, HDBSCAN). Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class HashedEmbeddings:
    """A picklable stand-in embedding model: hashed bag of words, L2-normalised."""

    def __init__(self, dim: int):
        self.dim = dim

    def encode(self, docs):
        from sklearn.feature_extraction.text import HashingVectorizer

        X = HashingVectorizer(n_features=self.dim, alternate_sign=False, norm="l2").transform(docs)
        return X.toarray().astype(np.float32)


def make_model(args, **extra):
    from gputopic import GPUTopic

    if not args.fast:
        return GPUTopic(device="cpu", random_state=0, **extra)
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    return GPUTopic(embedding_model=HashedEmbeddings(args.dim), umap_model=PCA(n_components=5, random_state=0),
                    hdbscan_model=KMeans(n_clusters=args.topics, n_init=1, random_state=0), device="cpu", **extra)


def peak_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _warm_up() -> None:
    import gputopic.distributed  # noqa: F401
    import sentence_transformers  # noqa: F401  (Embedder.encode imports it to check the model type)


def _single(args, docs) -> dict:
    """The in-process fit, run in this (fresh) process: ``--single-only`` writes its JSON."""
    _warm_up()
    idle = peak_mib()
    start = time.perf_counter()
    model = make_model(args).fit(docs)
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak_mib(), "idle_rss_mib": idle,
            "topics": np.asarray(model.topics_).tolist(), "timings": model.timings_}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="health_news_tweets")
    p.add_argument("--limit", type=int)
    p.add_argument("--resample", type=int, metavar="N",
                   help="N documents resampled from the corpus's sentences within each label (bench/corpus.py)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--topics", type=int, default=20)
    p.add_argument("--out", default="bench/results/dask_bench.json")
    p.add_argument("--single-only", metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args()

    import dask.dataframe as dd
    import distributed
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from corpus import load, resample
    from gputopic.device import versions

    docs, labels = load(args.corpus, min_words=1, limit=args.limit)
    keep = [i for i, d in enumerate(docs) if d.strip()]
    docs, labels = [docs[i] for i in keep], [labels[i] for i in keep]
    if args.resample:
        docs, labels = resample(docs, labels, args.resample, seed=0)
    print(f"{len(docs)} documents of {args.corpus}{' (resampled)' if args.resample else ''}", flush=True)
    t0 = time.perf_counter()

    if args.single_only:
        Path(args.single_only).write_text(json.dumps(_single(args, docs)))
        return
    # the in-process fit in a fresh interpreter, so its peak RSS is its own
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--single-only", f"{tmp}/single.json"], check=True)
        single = json.loads(Path(f"{tmp}/single.json").read_text())
    print(f"single process: {single['seconds']:.1f} s, peak {single['peak_rss_mib']:.0f} MiB "
          f"(wall so far {time.perf_counter() - t0:.0f} s)", flush=True)

    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  memory_limit=None, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        series = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=args.partitions)
        client.run(_warm_up)  # the imports an embedding call makes, out of the timing and the baseline
        idle = client.run(peak_mib)
        model = make_model(args, client=client)
        start = time.perf_counter()
        topics, _ = model.fit_transform(series)
        seconds = time.perf_counter() - start
        workers = client.run(peak_mib)
        print(f"sharded: {seconds:.1f} s (wall so far {time.perf_counter() - t0:.0f} s)", flush=True)
    sharded_topics = np.asarray(model.topics_)
    result = {
        "corpus": args.corpus, "resampled": bool(args.resample), "n_docs": len(docs), "workers": args.workers, "partitions": args.partitions,
        "fast_stand_ins": args.fast,
        "single": {k: v for k, v in single.items() if k != "topics"},
        "sharded": {"seconds": seconds, "timings": model.timings_,
                    "worker_peak_rss_mib": sorted(workers.values()),
                    "worker_idle_rss_mib": sorted(idle.values()),
                    "client_peak_rss_mib": peak_mib()},
        "ari_sharded_vs_single": adjusted_rand_score(single["topics"], sharded_topics),
        "nmi_vs_labels": {"single": normalized_mutual_info_score(labels, single["topics"]),
                          "sharded": normalized_mutual_info_score(labels, sharded_topics)},
        "versions": versions(),
    }
    from corpus import emit

    emit(result, args.out, indent=2)


if __name__ == "__main__":
    main()
