"""How often a fit collapses into "two giant topics", per UMAP SGD variant, over seeds.

On small corpora HDBSCAN's excess-of-mass selection sometimes keeps two or three huge
clusters instead of the ~30 topics other seeds give (gputopic logs a warning then). This
counts such fits (3 topics or fewer) over UMAP seeds for each layout variant, all with the
native HDBSCAN on the same embeddings, so that a variant that raises the rate shows:

* ``sequential``: the CPU default up to 4,096 points (numba, one edge at a time);
* ``grouped``: the torch SGD in random edge groups, the code CUDA fits run (the fused
  Triton kernel uses the same groups); ``grouped:X`` sets ``X`` due edges per point per group;
* ``umap-learn``: ``umap_model="umap-learn"``, BERTopic's layout.

Corpus: the tests' sample (the first ``--n`` of 5,000 non-empty 20 Newsgroups posts drawn
by ``tests/conftest.load_corpus``) with the tests' cached MiniLM embeddings.

    python bench/two_giant_topics.py --variants sequential,grouped,umap-learn --seeds 0-59 \
        --out bench/results/two_giant_topics_ng2000_2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402


def seeds_of(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(variant: str, docs, emb, seeds: list[int]) -> dict:
    import gputopic.native.umap as native_umap
    from gputopic import GPUTopic

    before = os.environ.get("GPUTOPIC_UMAP_CPU_SGD"), native_umap._DUE_PER_HEAD_PER_BATCH
    if variant.startswith("grouped"):
        os.environ["GPUTOPIC_UMAP_CPU_SGD"] = "grouped"
        if ":" in variant:
            native_umap._DUE_PER_HEAD_PER_BATCH = float(variant.split(":")[1])
    elif variant not in ("sequential", "umap-learn"):
        raise SystemExit(f"unknown variant {variant!r}: sequential, grouped[:X] or umap-learn")
    topics = []
    try:
        for seed in seeds:
            t = time.perf_counter()
            model = GPUTopic(device="cpu", random_state=seed, hdbscan_model="native",
                             umap_model="umap-learn" if variant == "umap-learn" else "native")
            model.fit(docs, embeddings=emb)
            topics.append(len([k for k in model.topic_sizes_ if k >= 0]))
            print(json.dumps({"variant": variant, "seed": seed, "topics": topics[-1],
                              "seconds": round(time.perf_counter() - t, 1)}), flush=True)
    finally:
        if before[0] is None:
            os.environ.pop("GPUTOPIC_UMAP_CPU_SGD", None)
        else:
            os.environ["GPUTOPIC_UMAP_CPU_SGD"] = before[0]
        native_umap._DUE_PER_HEAD_PER_BATCH = before[1]
    other = [k for k in topics if k > 3]
    return {"seeds": f"{seeds[0]}-{seeds[-1]}", "fits": len(topics), "at_most_3_topics": sum(k <= 3 for k in topics),
            "mean_topics_otherwise": round(float(np.mean(other)), 1) if other else None, "topics": topics}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="sequential,grouped,umap-learn")
    ap.add_argument("--seeds", default="0-59", help="a range such as 0-59")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from conftest import cached_embeddings, load_corpus

    docs, _ = load_corpus("20newsgroups", n=5000)
    emb = cached_embeddings(docs)[: args.n]
    docs = docs[: args.n]
    result = {"n": args.n, "variants": {}}
    for variant in args.variants.split(","):
        result["variants"][variant] = run(variant, docs, emb, seeds_of(args.seeds))
        print(variant, {k: v for k, v in result["variants"][variant].items() if k != "topics"}, flush=True)
    return corpus.emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
