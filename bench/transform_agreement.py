"""Does ``transform`` of the training documents give back their fitted topics (issue 20 item 4),
and how consistent are the topics it gives new documents?

    python bench/transform_agreement.py --seeds 0,1,2 --bertopic --out bench/results/transform_agreement_20ng2000.json
    python bench/transform_agreement.py --full --seeds 0,1,2 --out bench/results/transform_agreement_20ng_full.json

Documents: by default the tests' 20 Newsgroups sample (``tests/conftest.py``'s ``load_corpus``
and cached MiniLM embeddings): the first ``--n-fit`` posts are fitted, the next ``--n-held``
are held out. With ``--full``: every 20 Newsgroups post of ``corpus.load("20newsgroups",
min_words=1)`` with the embeddings cached in ``--full-embeddings`` (an ``.npy`` of one row per
post); a seeded random ``--held-share`` of them is held out, the rest fitted.

Per UMAP seed, one fit (gputopic's defaults on the CPU), then every rule on the same fitted
UMAP + HDBSCAN, all from the points' positions after ``umap_model_.transform``:

- ``library``: ``GPUTopic.transform`` as it is in this checkout;
- ``approximate_predict``: HDBSCAN's prediction (the rule before issue 20);
- ``umap_vote_k``: the most common fitted topic (outliers a topic of their own) among the ``k``
  nearest training points in the fitted UMAP space (``embedding_``), ties to the nearest;
- ``emb_vote_k``: the same vote among the ``k`` most cosine-similar training documents in the
  embedding space, each vote weighted by its similarity. ``..._loo`` rows leave each training
  document out of its own neighbours: how well the rule predicts a training document's topic
  from the others (a new document's situation).

``agreement``: the share of the fitted documents whose rule topic equals the fitted topic
(``agreement_clustered``: among the fitted non-outliers). Held out: NMI of the rule's topics
against the newsgroups (outliers one class), the same over the documents the rule does not
call outliers, and the outlier share. With ``--bertopic``, BERTopic 0.17.4's
``fit_transform`` then ``transform`` of the same documents and embeddings (umap-learn seeded
the same way): its agreement, and its held-out figures. umap-learn's ``transform`` returns
the fitted layout when its whole input hashes like the training matrix, so BERTopic's
agreement is also measured with the training documents transformed in parts of 500
(``transform_in_parts_of_500``), where its prediction rule is what answers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(1, str(HERE.parent))

from corpus import emit  # noqa: E402  (bench/, this script's folder)


def vote(neigh_labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row the label with the largest summed weight; ties to the label seen first (the nearest)."""
    out = np.empty(len(neigh_labels), dtype=np.int64)
    for i, (labs, w) in enumerate(zip(neigh_labels, weights)):
        uniq, first, inv = np.unique(labs, return_index=True, return_inverse=True)
        score = np.bincount(inv, weights=w)
        best = np.flatnonzero(score >= score.max() - 1e-12)
        out[i] = uniq[best[np.argmin(first[best])]]
    return out


def knn(train: np.ndarray, queries: np.ndarray, k: int, cosine: bool, skip_self: bool = False):
    """Indices and similarities (cosine) or distances (euclidean) of the ``k`` nearest rows."""
    if cosine:
        a = train / np.linalg.norm(train, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        s = q @ a.T
        if skip_self:
            np.fill_diagonal(s, -np.inf)
        idx = np.argpartition(-s, k, axis=1)[:, :k]
        val = np.take_along_axis(s, idx, 1)
        order = np.argsort(-val, axis=1)
    else:
        d = ((queries[:, None, :] - train[None, :, :]) ** 2).sum(-1) if len(train) * len(queries) < 5e7 else None
        if d is None:
            from sklearn.neighbors import NearestNeighbors

            nn = NearestNeighbors(n_neighbors=k + int(skip_self)).fit(train)
            dist, idx = nn.kneighbors(queries)
            return (idx[:, 1:], dist[:, 1:]) if skip_self else (idx, dist)
        if skip_self:
            np.fill_diagonal(d, np.inf)
        idx = np.argpartition(d, k, axis=1)[:, :k]
        val = np.sqrt(np.take_along_axis(d, idx, 1))
        order = np.argsort(val, axis=1)
    return np.take_along_axis(idx, order, 1), np.take_along_axis(val, order, 1)


def held_scores(pred: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    kept = pred >= 0
    return {"nmi": round(float(nmi(labels, pred)), 4),
            "nmi_clustered": round(float(nmi(labels[kept], pred[kept])), 4) if kept.sum() > 1 else None,
            "outliers": round(float((~kept).mean()), 4)}


def fit_scores(pred: np.ndarray, fitted: np.ndarray) -> dict:
    same = pred == fitted
    return {"agreement": round(float(same.mean()), 4),
            "agreement_clustered": round(float(same[fitted >= 0].mean()), 4),
            "outliers": round(float((pred < 0).mean()), 4)}


def rules(train_red, train_emb, fitted, queries_red, queries_emb, loo: bool, ks_umap, ks_emb) -> dict:
    """Every vote rule's topics for the queries (``loo``: the queries are the training rows)."""
    out = {}
    kmax = max(ks_umap)
    idx, _ = knn(train_red, queries_red, kmax, cosine=False)
    for k in ks_umap:
        out[f"umap_vote_{k}"] = vote(fitted[idx[:, :k]], np.ones((len(idx), k)))
    for skip in ([False, True] if loo else [False]):
        idx, sim = knn(train_emb, queries_emb, max(ks_emb), cosine=True, skip_self=skip)
        for k in ks_emb:
            out[f"emb_vote_{k}" + ("_loo" if skip else "")] = vote(fitted[idx[:, :k]], sim[:, :k])
    return out


def run_gputopic(seed, docs, emb, held_docs, held_emb, held_labels, ks_umap, ks_emb) -> dict:
    import hdbscan

    from gputopic import GPUTopic

    t = time.perf_counter()
    model = GPUTopic(device="cpu", random_state=seed)
    fitted = np.asarray(model.fit_transform(docs, embeddings=emb)[0])
    fit_s = time.perf_counter() - t
    umap_model, hdb = model.umap_model_, model.hdbscan_model_
    c2t = model._state.cluster_to_topic
    train_red = np.asarray(umap_model.embedding_)
    red = np.asarray(umap_model.transform(emb))
    held_red = np.asarray(umap_model.transform(held_emb))
    res = {"n_topics": int(fitted.max()) + 1, "fitted_outliers": round(float((fitted < 0).mean()), 4),
           "fit_s": round(fit_s, 1), "train": {}, "held": {}}
    lib_train = np.asarray(model.transform(docs, embeddings=emb)[0])
    lib_held = np.asarray(model.transform(held_docs, embeddings=held_emb)[0])
    res["train"]["library"] = fit_scores(lib_train, fitted)
    res["held"]["library"] = held_scores(lib_held, held_labels)
    for name, X, where, score in (("train", red, "train", lambda p: fit_scores(p, fitted)),
                                  ("held", held_red, "held", lambda p: held_scores(p, held_labels))):
        clusters = np.asarray(hdbscan.approximate_predict(hdb, X)[0])
        res[where]["approximate_predict"] = score(np.array([c2t.get(int(c), -1) for c in clusters]))
        q_emb = emb if name == "train" else held_emb
        for rule, pred in rules(train_red, emb, fitted, X, q_emb, name == "train", ks_umap, ks_emb).items():
            res[where][rule] = score(pred)
    # how far umap.transform moves a training point from its fitted position, against the
    # distance to its nearest other training point
    moved = np.linalg.norm(red - train_red, axis=1)
    _, nn = knn(train_red, train_red, 1, cosine=False, skip_self=True)
    res["umap_shift_over_nn_distance_median"] = round(float(np.median(moved / np.maximum(nn[:, 0], 1e-12))), 3)
    return res


def run_bertopic(seed, docs, emb, held_docs, held_emb, held_labels) -> dict:
    from bertopic import BERTopic
    from umap import UMAP

    umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    model = BERTopic(umap_model=umap)
    fitted = np.asarray(model.fit_transform(docs, embeddings=emb.copy())[0])
    again = np.asarray(model.transform(docs, embeddings=emb.copy())[0])
    # umap-learn's transform returns the fitted embedding_ when its input hashes like the
    # training matrix (a look-up of the whole input): the training documents in parts of 500
    # go through the prediction itself, as any other documents do
    parts = np.concatenate([model.transform(docs[i:i + 500], embeddings=emb[i:i + 500].copy())[0]
                            for i in range(0, len(docs), 500)])
    held = np.asarray(model.transform(held_docs, embeddings=held_emb.copy())[0])
    return {"n_topics": int(fitted.max()) + 1, "fitted_outliers": round(float((fitted < 0).mean()), 4),
            "train": {"transform": fit_scores(again, fitted), "transform_in_parts_of_500": fit_scores(parts, fitted)},
            "held": {"transform": held_scores(held, held_labels)}}


def load_data(args):
    if not args.full:
        from conftest import cached_embeddings, load_corpus

        docs, labels = load_corpus("20newsgroups", n=5000)
        emb = cached_embeddings(docs)
        fit = np.arange(args.n_fit)
        held = np.arange(args.n_fit, args.n_fit + args.n_held)
        source = f"tests' 20NG sample: first {args.n_fit} fitted, next {args.n_held} held out"
    else:
        from corpus import load

        docs, labels = load("20newsgroups", min_words=1)
        emb = np.load(args.full_embeddings)
        if len(emb) != len(docs):
            raise SystemExit(f"{args.full_embeddings} has {len(emb)} rows for {len(docs)} posts")
        order = np.random.default_rng(0).permutation(len(docs))
        n_held = int(round(args.held_share * len(docs)))
        held, fit = np.sort(order[:n_held]), np.sort(order[n_held:])
        source = f"all 20NG posts (min_words=1), {len(fit)} fitted, {len(held)} held out (rng 0)"
    labels = np.asarray(labels)
    return ([docs[i] for i in fit], emb[fit], labels[fit], [docs[i] for i in held], emb[held], labels[held], source)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-fit", type=int, default=2000)
    p.add_argument("--n-held", type=int, default=1000)
    p.add_argument("--full", action="store_true", help="all of 20 Newsgroups (needs --full-embeddings)")
    p.add_argument("--full-embeddings", default=str(HERE / ".cache" / "minilm_20ng_18331.npy"))
    p.add_argument("--held-share", type=float, default=0.1)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--k-umap", default="1,3,5,10,15")
    p.add_argument("--k-emb", default="5,10,20,40")
    p.add_argument("--bertopic", action="store_true", help="also BERTopic (pip install 'gputopic[bench]')")
    p.add_argument("--no-gputopic", action="store_true")
    p.add_argument("--out")
    args = p.parse_args(argv)
    docs, emb, labels, held_docs, held_emb, held_labels, source = load_data(args)
    ks_umap = [int(k) for k in args.k_umap.split(",")]
    ks_emb = [int(k) for k in args.k_emb.split(",")]
    result = {"data": source, "n_fit": len(docs), "n_held": len(held_docs), "seeds": {}}
    for seed in [int(s) for s in args.seeds.split(",")]:
        entry = {}
        if not args.no_gputopic:
            entry["gputopic"] = run_gputopic(seed, docs, emb, held_docs, held_emb, held_labels, ks_umap, ks_emb)
        if args.bertopic:
            entry["bertopic"] = run_bertopic(seed, docs, emb, held_docs, held_emb, held_labels)
        result["seeds"][str(seed)] = entry
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    return emit(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
