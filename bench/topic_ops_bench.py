"""Topic operations, gputopic vs BERTopic 0.17.4, on the same fitted topics, in one process.

    python bench/topic_ops_bench.py --corpus health_news_tweets \\
        --embeddings emb/health_news_tweets.npy --out topic_ops.json

BERTopic is fitted once (umap-learn + hdbscan, its defaults as in ``bench/vs_bertopic.py``),
and gputopic is fitted on the same embeddings with BERTopic's clusters as its clustering (a
clustering model that returns BERTopic's labels, PCA in UMAP's slot), so both start from
the same topics (checked and reported; ids may differ between equal-sized topics, and the
comparisons below map them). Then each operation runs on a fresh deep copy of each fitted
model, the two libraries alternating, ``--rounds`` times; the fits are not timed.

    reduce_topics        reduce_topics(docs, nr_topics=--nr-topics)
    topics_over_time     topics_over_time(docs, dates, nr_bins=--nr-bins)   (corpora with a date field)
    topics_over_time_no_evolution   the same with evolution_tuning=False (BERTopic 0.17.4's
                         evolution step writes into a temporary copy of its matrix and changes
                         nothing, gputopic's averages with the previous time step, so only this
                         variant can agree word for word)
    topics_per_class     topics_per_class(docs, classes=labels)
    approximate_distribution   approximate_distribution(docs) (window 4, stride 1, min_similarity 0.1)
    hierarchical_topics  hierarchical_topics(docs) (Ward linkage of 1 - cosine of the c-TF-IDF rows)
    outliers_update      reduce_outliers(docs, topics, strategy="c-tf-idf") then
                         update_topics(docs, topics=new)  (gputopic gets the embeddings, which it
                         uses for the new topic embeddings; BERTopic's update_topics takes none,
                         and gets the fit's CountVectorizer(stop_words="english"), since without
                         one it counts with a plain CountVectorizer, stop words included)

Per operation: best and median seconds of each, the ratio BERTopic / gputopic, and whether
the results agree: topics (NMI between the two libraries' assignments, NMI against the
labels, NPMI of the topic words), or for the frames the rows (topic, timestamp / class,
frequency) in common and the mean overlap of their words.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import corpus  # noqa: E402
from vs_bertopic import BASELINE, make_model  # noqa: E402

OURS = "gputopic"


class GivenClusters:
    """A clustering model whose ``fit`` returns fixed labels (BERTopic's clusters)."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def fit(self, X, y=None):
        self.labels_ = self.labels.copy()
        return self


def _fit_ours(docs, emb, labels_from_bertopic):
    from sklearn.decomposition import PCA

    from gputopic import GPUTopic

    model = GPUTopic(device="cpu", umap_model=PCA(n_components=5, random_state=0),
                     hdbscan_model=GivenClusters(labels_from_bertopic))
    return model.fit(docs, embeddings=emb)


def _ops(args, docs, labels, dates, emb) -> dict:
    """name -> (callable(model, library) -> result)."""
    def reduce(model, lib):
        return model.reduce_topics(docs, nr_topics=args.nr_topics)

    def over_time(model, lib):
        return model.topics_over_time(docs, dates, nr_bins=args.nr_bins)

    def over_time_no_evolution(model, lib):
        return model.topics_over_time(docs, dates, nr_bins=args.nr_bins, evolution_tuning=False)

    def per_class(model, lib):
        return model.topics_per_class(docs, classes=labels)

    def outliers_update(model, lib):
        new = model.reduce_outliers(docs, model.topics_, strategy="c-tf-idf")
        if lib == BASELINE:  # without a vectorizer BERTopic's update_topics counts with a plain
            # CountVectorizer (stop words included); pass the fit's, which gputopic keeps
            from sklearn.feature_extraction.text import CountVectorizer

            return model.update_topics(docs, topics=new, vectorizer_model=CountVectorizer(stop_words="english"))
        return model.update_topics(docs, topics=new, embeddings=emb)

    def distribution(model, lib):
        return model.approximate_distribution(docs)[0]

    def hierarchy(model, lib):
        return model.hierarchical_topics(docs)

    ops = {"reduce_topics": reduce, "topics_per_class": per_class, "outliers_update": outliers_update,
           "approximate_distribution": distribution}
    ops["hierarchical_topics"] = hierarchy
    if dates is not None:
        ops["topics_over_time"] = over_time
        ops["topics_over_time_no_evolution"] = over_time_no_evolution
    return ops


def _topic_quality(model, docs, labels) -> dict:
    from gputopic.metrics import evaluate

    q = evaluate(model, docs, labels)
    return {k: round(float(q[k]), 4) for k in ("nmi", "npmi", "n_topics", "outlier_fraction")}


def _id_map(ours: np.ndarray, theirs: np.ndarray) -> dict[int, int]:
    """Our topic id -> BERTopic's: the id most of the same documents carry (equal-sized topics
    may be numbered in another order)."""
    out = {}
    for t in np.unique(ours).tolist():
        ids, counts = np.unique(theirs[ours == t], return_counts=True)
        out[int(t)] = int(ids[np.argmax(counts)])
    return out


def _frame_agreement(a, b, key: str, id_map: dict[int, int]) -> dict:
    """Rows (Topic, key, Frequency) both frames hold (our topic ids mapped to BERTopic's), and
    the mean Jaccard overlap of their words."""
    def rows(f, ids):
        return {(ids.get(int(t), int(t)), str(k)): (int(n), set(w.split(", "))) for t, k, n, w in
                zip(f["Topic"], f[key], f["Frequency"], f["Words"])}

    ra, rb = rows(a, id_map), rows(b, {})
    common = set(ra) & set(rb)
    same_freq = sum(ra[c][0] == rb[c][0] for c in common)
    jacc = [len(ra[c][1] & rb[c][1]) / max(len(ra[c][1] | rb[c][1]), 1) for c in common]
    return {"rows_bertopic": len(rb), "rows_gputopic": len(ra), "rows_in_common": len(common),
            "same_frequency": same_freq, "mean_word_jaccard": round(float(np.mean(jacc)), 4) if jacc else None}


def _distribution_agreement(ours: np.ndarray, theirs: np.ndarray, id_map: dict[int, int]) -> dict:
    """Our (documents x topics) distribution with its columns put in BERTopic's topic order,
    compared with BERTopic's."""
    aligned = np.zeros_like(theirs)
    for t in range(ours.shape[1]):
        aligned[:, id_map.get(t, t)] = ours[:, t]
    both = (aligned.sum(1) > 0) & (theirs.sum(1) > 0)
    return {"docs_with_a_distribution": {"gputopic": int((aligned.sum(1) > 0).sum()),
                                         "bertopic": int((theirs.sum(1) > 0).sum())},
            "same_top_topic": round(float((aligned[both].argmax(1) == theirs[both].argmax(1)).mean()), 4),
            "mean_abs_diff": round(float(np.abs(aligned - theirs).sum(1).mean() / 2), 4)}


def _tree_agreement(ours, theirs, id_map: dict[int, int]) -> dict:
    """Merges (as sets of topics, our ids mapped to BERTopic's) both hierarchies hold, and how
    many of those carry the same name."""
    mine = {frozenset(id_map.get(int(t), int(t)) for t in ts): n for ts, n in zip(ours["Topics"], ours["Parent_Name"])}
    other = {frozenset(int(t) for t in ts): n for ts, n in zip(theirs["Topics"], theirs["Parent_Name"])}
    common = set(mine) & set(other)
    return {"merges": len(mine), "same_merges": len(common),
            "same_names": sum(mine[c] == other[c] for c in common),
            "max_distance_diff": round(float(np.max(np.abs(np.sort(np.asarray(ours["Distance"], float))
                                                           - np.sort(np.asarray(theirs["Distance"], float))))), 6)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="health_news_tweets")
    p.add_argument("--embeddings", required=True, help=".npy with one row per document of corpus.load(min_words=1)")
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--min-topic-size", type=int, default=10)
    p.add_argument("--nr-topics", type=int, default=30)
    p.add_argument("--nr-bins", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ops", help="comma-separated subset of the operations")
    p.add_argument("--out", help="write the JSON here")
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    from sklearn.metrics import normalized_mutual_info_score as nmi

    docs, labels = corpus.load(args.corpus, min_words=1, limit=args.limit)
    dates = corpus.load_field(args.corpus, "date", min_words=1, limit=args.limit)
    if any(d is None for d in dates):
        dates = None
    else:  # parsed once for both (BERTopic 0.17.4 parses strings with an argument pandas 3 removed)
        import pandas as pd

        dates = pd.to_datetime(pd.Series(dates), utc=True).dt.tz_localize(None).tolist()
    emb = np.load(args.embeddings, mmap_mode="r")[: len(docs)].astype(np.float32)
    if emb.shape[0] != len(docs):
        raise SystemExit(f"{args.embeddings} has {emb.shape[0]} rows for {len(docs)} documents")

    fitted = {BASELINE: make_model(BASELINE, args.seed, args.min_topic_size).fit(docs, embeddings=emb)}
    fitted[OURS] = _fit_ours(docs, emb, fitted[BASELINE].topics_)
    start = {lib: np.asarray(m.topics_) for lib, m in fitted.items()}
    id_map = _id_map(start[OURS], start[BASELINE])
    mapped = np.asarray([id_map[int(t)] for t in start[OURS]])
    result = {
        "corpus": args.corpus, "n_docs": len(docs), "seed": args.seed, "nr_topics": args.nr_topics,
        "nr_bins": args.nr_bins, "rounds": args.rounds, "machine": platform.processor() or platform.machine(),
        "same_start_topics": bool(np.array_equal(start[BASELINE], start[OURS])),
        "same_start_topics_up_to_ids": bool(np.array_equal(start[BASELINE], mapped)
                                            and len(set(id_map.values())) == len(id_map)),
        "start_nmi_between": round(float(nmi(start[BASELINE], start[OURS])), 4),
        "start_n_topics": {lib: int(len(set(t.tolist())) - (-1 in t)) for lib, t in start.items()},
        "ops": {},
    }
    ops = _ops(args, docs, labels, dates, emb)
    chosen = args.ops.split(",") if args.ops else list(ops)
    for name in chosen:
        times: dict[str, list[float]] = {BASELINE: [], OURS: []}
        outputs = {}
        for r in range(args.rounds):
            order = (BASELINE, OURS) if r % 2 == 0 else (OURS, BASELINE)
            for lib in order:
                model = copy.deepcopy(fitted[lib])
                t = time.perf_counter()
                out = ops[name](model, lib)
                times[lib].append(time.perf_counter() - t)
                outputs[lib] = (model, out)
        entry = {lib: {"best_s": round(min(v), 3), "median_s": round(float(np.median(v)), 3)}
                 for lib, v in times.items()}
        entry["speedup_best"] = round(min(times[BASELINE]) / min(times[OURS]), 2)
        if name in ("reduce_topics", "outliers_update"):
            for lib in (BASELINE, OURS):
                entry[lib].update(_topic_quality(outputs[lib][0], docs, labels))
            entry["nmi_between"] = round(float(nmi(np.asarray(outputs[BASELINE][0].topics_),
                                                   np.asarray(outputs[OURS][0].topics_))), 4)
        elif name == "hierarchical_topics":
            entry["agreement"] = _tree_agreement(outputs[OURS][1], outputs[BASELINE][1], id_map)
        elif name == "approximate_distribution":
            entry["agreement"] = _distribution_agreement(np.asarray(outputs[OURS][1]), np.asarray(outputs[BASELINE][1]),
                                                         id_map)
        else:
            key = "Class" if name == "topics_per_class" else "Timestamp"
            entry["agreement"] = _frame_agreement(outputs[OURS][1], outputs[BASELINE][1], key, id_map)
        result["ops"][name] = entry
        print(name, json.dumps(entry), file=sys.stderr)
    return corpus.emit(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
