"""Quality of topic reduction: NMI against the labels after ``reduce_topics`` by topic
embeddings (BERTopic 0.17's default) and by c-TF-IDF rows, from one CPU fit.

    python bench/reduce_quality.py --n 2000 --seed 42 --out reduce_quality.json

Documents: the first ``--n`` of the tests' 20 Newsgroups sample (5,000 non-empty posts,
``tests/conftest.py``'s ``load_corpus``/``cached_embeddings``, embeddings cached under
tests/.cache), fitted once with ``GPUTopic(device="cpu", random_state=seed)``; each
reduction runs on a copy of that fit.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(1, str(HERE.parent))

from corpus import emit  # noqa: E402  (bench/, this script's folder)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--targets", default="20,12,auto", help="comma-separated nr_topics values")
    p.add_argument("--out")
    args = p.parse_args(argv)

    from sklearn.metrics import normalized_mutual_info_score as nmi

    from conftest import cached_embeddings, load_corpus
    from gputopic import GPUTopic

    docs, labels = load_corpus("20newsgroups", n=5000)
    emb = cached_embeddings(docs)
    docs, labels, emb = docs[: args.n], labels[: args.n], emb[: args.n]
    model = GPUTopic(device="cpu", random_state=args.seed).fit(docs, embeddings=emb)
    result = {"n_docs": len(docs), "seed": args.seed, "fit": {"n_topics": len(model.topic_sizes_),
                                                              "nmi": round(nmi(labels, model.topics_), 4)},
              "reduced": []}
    for target in args.targets.split(","):
        nr = target if target == "auto" else int(target)
        for use_ctfidf in (False, True):
            reduced = copy.deepcopy(model).reduce_topics(docs, nr_topics=nr, use_ctfidf=use_ctfidf)
            sizes = sorted(reduced.topic_sizes_.values(), reverse=True)
            result["reduced"].append({"nr_topics": nr, "use_ctfidf": use_ctfidf, "n_topics": len(sizes),
                                      "nmi": round(nmi(labels, reduced.topics_), 4), "largest": sizes[:3]})
            print(json.dumps(result["reduced"][-1]), file=sys.stderr)
    return emit(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
