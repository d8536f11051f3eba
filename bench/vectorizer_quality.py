"""Topic words of the default vectorizer against other token patterns, on the same topics.

    python bench/vectorizer_quality.py --seeds 0,1,2 --n 2000 --out bench/results/vectorizer_quality_2core.json

The vectorizer decides only the topic words: embeddings, UMAP and HDBSCAN, hence the topics
and their NMI against the labels, do not depend on it (checked: a fit with scikit-learn's
token pattern gives the same topics as a fit with the default at the first seed of the
first corpus). So per corpus and seed the default CPU pipeline is fitted once and every other
pattern recounts the same topics with ``update_topics(docs, vectorizer_model=...)``.

Per pattern: NPMI of the top-10 words (document co-occurrence, reference counts from
scikit-learn's own token pattern, which holds every word any of the patterns can give, so
no pattern's words are skipped), topic diversity, the share of top-10 words that hold a
digit or run past 20 characters, and the topics whose name (first 4 words) holds one.
Embeddings: the bundled MiniLM, cached like the tests' (``tests/conftest.py``).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))  # this checkout's gputopic
sys.path.insert(0, str(HERE))

from corpus import emit  # noqa: E402

PATTERNS = {
    "default (2-20 letters)": None,  # gputopic.vectorize.DEFAULT_TOKEN_PATTERN
    "sklearn (2+ letters or digits; gputopic 0.1, BERTopic)": r"(?u)\b\w\w+\b",
    "letter first, then letters or digits, 2-20": r"(?u)\b[^\W\d_]\w{1,19}\b",
}


def corpora(names: list[str], n: int):
    from conftest import load_corpus

    from gputopic.datasets import load_demo

    for name in names:
        if name == "demo":
            demo = load_demo()
            yield "demo_20newsgroups (bundled, 2,000)", demo.docs, demo.labels
        else:
            yield f"{name} ({n:,} sample)", *load_corpus(name, n=n, min_words=3)


def junk(word: str) -> bool:
    return any(c.isdigit() for c in word) or len(word) > 20


def score(model, docs, labels, ref, ref_vocab) -> dict:
    from gputopic import metrics

    words = {t: [w for w, _ in pairs] for t, pairs in model.get_topics().items() if t >= 0}
    top = [w for ws in words.values() for w in ws[:10]]
    return {
        "npmi": round(metrics.npmi_coherence(words, doc_term=ref, vocabulary=ref_vocab)["mean"], 4),
        "diversity": round(metrics.topic_diversity(words), 4),
        "junk_word_share": round(sum(map(junk, top)) / max(len(top), 1), 4),
        "topics_named_with_junk": sum(any(junk(w) for w in ws[:4]) for ws in words.values()),
        "names": {int(t): "_".join(ws[:4]) for t, ws in list(words.items())[:8]},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--corpora", default="demo,20newsgroups,ag_news_test,stackoverflow_titles,health_news_tweets",
                    help="'demo' (the bundled sample) and file stems of ../shared/data")
    ap.add_argument("--n", type=int, default=3000, help="sample size of the corpora in ../shared/data")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.metrics import normalized_mutual_info_score

    from conftest import cached_embeddings
    from gputopic import GPUTopic
    from gputopic.device import get_backend
    from gputopic.vectorize import DEFAULT_TOKEN_PATTERN, doc_term_matrix

    seeds = [int(s) for s in args.seeds.split(",")]
    rows, checked = [], None
    for name, docs, labels in corpora(args.corpora.split(","), args.n):
        emb = cached_embeddings(docs)
        ref_vec = CountVectorizer(stop_words="english")
        ref = doc_term_matrix(ref_vec, docs, get_backend("cpu"))
        for seed in seeds:
            t = time.perf_counter()
            model = GPUTopic(device="cpu", random_state=seed).fit(docs, embeddings=emb)
            fit_s = time.perf_counter() - t
            topics = np.asarray(model.topics_)
            if checked is None:  # the topics do not depend on the vectorizer
                other = GPUTopic(device="cpu", random_state=seed,
                                 vectorizer_model=CountVectorizer(stop_words="english")).fit(docs, embeddings=emb)
                checked = bool((np.asarray(other.topics_) == topics).all())
                print(f"same topics with scikit-learn's token pattern: {checked}", file=sys.stderr, flush=True)
            row = {"corpus": name, "seed": seed, "fit_s": round(fit_s, 1),
                   "n_topics": int(len(set(topics.tolist()) - {-1})),
                   "nmi": round(float(normalized_mutual_info_score(labels, topics)), 4), "patterns": {}}
            for label, pattern in PATTERNS.items():
                m = model if pattern is None else copy.deepcopy(model).update_topics(
                    docs, vectorizer_model=CountVectorizer(stop_words="english", token_pattern=pattern))
                assert (np.asarray(m.topics_) == topics).all()
                row["patterns"][label] = score(m, docs, labels, ref, ref_vec.vocabulary_)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "patterns"},
                  {k: (v["npmi"], v["junk_word_share"]) for k, v in row["patterns"].items()}, file=sys.stderr, flush=True)
        if args.out:  # after each corpus, so a long run that is stopped keeps what it measured
            result(rows, seeds, checked, DEFAULT_TOKEN_PATTERN, complete=False, out=args.out)
    return result(rows, seeds, checked, DEFAULT_TOKEN_PATTERN, complete=True, out=args.out)


def result(rows: list, seeds: list, checked, pattern: str, complete: bool, out) -> int:
    summary = {}
    for name in dict.fromkeys(r["corpus"] for r in rows):
        mine = [r for r in rows if r["corpus"] == name]
        summary[name] = {"nmi_mean": round(float(np.mean([r["nmi"] for r in mine])), 4), "patterns": {
            label: {k: round(float(np.mean([r["patterns"][label][k] for r in mine])), 4)
                    for k in ("npmi", "diversity", "junk_word_share", "topics_named_with_junk")}
            for label in PATTERNS}}
    return emit({"default_token_pattern": pattern, "seeds": seeds, "complete": complete,
                 "same_topics_with_sklearn_pattern": checked, "summary": summary, "runs": rows}, out)


if __name__ == "__main__":
    sys.exit(main())
