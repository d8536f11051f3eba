"""Quality of steered fits: class labels (``y``), seed topics and zero-shot topics, against
the newsgroups, for gputopic and (with ``--bertopic``) BERTopic on the same documents,
embeddings and seeds.

    python bench/guidance_quality.py --n 2000 --seeds 0,1,2 --bertopic --out guidance.json

Documents: the first ``--n`` of the tests' 20 Newsgroups sample (``tests/conftest.py``'s
``load_corpus``/``cached_embeddings``). Per UMAP seed: NMI of the topics against the
newsgroups, and for the 4 newsgroups that have seed words / zero-shot names, the F1 of the
topic that best matches each (for seed topics) or the share of a named topic's posts that
come from its newsgroup (zero-shot precision); and which share of the posts the seed
topics label, and how many of those belong to the seed's newsgroup. gputopic runs with its defaults on the CPU;
BERTopic with umap-learn seeded the same way and the bundled MiniLM for the seed texts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(1, str(HERE.parent))

from corpus import emit  # noqa: E402  (bench/, this script's folder)

SEED_WORDS = {"sci.space": ["space", "nasa", "orbit", "launch", "shuttle"],
              "rec.sport.hockey": ["hockey", "nhl", "team", "game", "season"],
              "sci.crypt": ["encryption", "key", "clipper", "chip", "security"],
              "sci.med": ["doctor", "disease", "patients", "medical", "treatment"]}
NAMES = {"sci.space": "space exploration, NASA and rockets", "rec.sport.hockey": "ice hockey",
         "sci.crypt": "encryption and cryptography", "sci.med": "medicine and disease"}


def best_f1(topics: np.ndarray, labels: np.ndarray, group: str) -> float:
    best = 0.0
    for t in set(topics.tolist()) - {-1}:
        mine = topics == t
        hit = int((mine & (labels == group)).sum())
        best = max(best, 2 * hit / (int(mine.sum()) + int((labels == group).sum())))
    return best


def named_topics(model) -> dict:
    """{newsgroup: the topic labelled with its zero-shot name, or None} (both libraries)."""
    by_name = {name: t for t, name in model.topic_labels_.items()}
    return {g: by_name.get(n) for g, n in NAMES.items()}


def score(topics, labels, names_of=None) -> dict:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    topics = np.asarray(topics)
    out = {"n_topics": len(set(topics.tolist())), "nmi": round(float(nmi(labels, topics)), 4),
           "best_f1": {g: round(best_f1(topics, labels, g), 3) for g in SEED_WORDS}}
    if names_of is not None:  # zero-shot: {group: topic id or None}
        out["zeroshot"] = {g: None if t is None else {"size": int((topics == t).sum()),
                                                      "precision": round(float((labels[topics == t] == g).mean()), 3)}
                           for g, t in names_of.items()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threshold", type=float, default=0.3, help="zeroshot_min_similarity")
    p.add_argument("--bertopic", action="store_true", help="also run BERTopic (pip install 'gputopic[bench]')")
    p.add_argument("--out")
    args = p.parse_args(argv)

    from conftest import cached_embeddings, load_corpus, test_model_path
    from gputopic import GPUTopic

    docs, labels = load_corpus("20newsgroups", n=5000)
    emb = cached_embeddings(docs)
    docs, labels, emb = docs[: args.n], np.asarray(labels[: args.n]), emb[: args.n]
    codes = np.unique(labels, return_inverse=True)[1]
    result = {"n_docs": len(docs), "threshold": args.threshold, "runs": []}
    from gputopic.device import get_backend
    from gputopic.embed import load_embedder
    from gputopic.guided import guide

    cpu = get_backend("cpu")
    seed_texts = [" ".join(w) for w in SEED_WORDS.values()]
    seed_labels, _ = guide(emb, load_embedder(None, "cpu").encode(seed_texts, cpu), cpu)
    result["seed_labels"] = {"labelled_share": round(float((seed_labels >= 0).mean()), 4),
                             "precision": {g: round(float((labels[seed_labels == k] == g).mean()), 3)
                                           for k, g in enumerate(SEED_WORDS)}}
    print(json.dumps(result["seed_labels"]), file=sys.stderr)

    def record(lib, seed, mode, entry):
        entry.update({"library": lib, "seed": seed, "mode": mode})
        result["runs"].append(entry)
        print(json.dumps(entry), file=sys.stderr)

    for seed in [int(s) for s in args.seeds.split(",")]:
        half = codes.copy()
        half[np.random.default_rng(seed).random(len(codes)) >= 0.5] = -1
        runs = {"plain": {}, "y_half": {"y": half}, "y_all": {"y": codes},
                "seed_topics": {"seed_topic_list": list(SEED_WORDS.values())},
                "zeroshot": {"zeroshot_topic_list": list(NAMES.values()), "zeroshot_min_similarity": args.threshold}}
        for mode, kw in runs.items():
            y = kw.pop("y", None)
            model = GPUTopic(device="cpu", random_state=seed, **kw)
            topics = model.fit_transform(docs, embeddings=emb, y=y)[0]
            record("gputopic", seed, mode, score(topics, labels, named_topics(model) if mode == "zeroshot" else None))
        if args.bertopic:
            from bertopic import BERTopic
            from sentence_transformers import SentenceTransformer
            from umap import UMAP

            st = SentenceTransformer(test_model_path(), device="cpu")
            for mode, kw in runs.items():
                if mode.startswith("y"):
                    y = half if mode == "y_half" else codes
                else:
                    y = None
                umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
                model = BERTopic(embedding_model=st, umap_model=umap, **kw)
                topics = model.fit_transform(docs, embeddings=emb.copy(), y=y)[0]
                record("bertopic", seed, mode,
                       score(topics, labels, named_topics(model) if mode == "zeroshot" else None))
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
