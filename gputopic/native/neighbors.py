"""Which kNN search a native estimator runs: ``knn="exact" | "approx" | "auto"``, and the
recall of an approximate graph, measured on a sample against the exact search.

"auto" takes the approximate search (:mod:`gputopic.native.ann`: the k-d tree for
low-dimensional points, the inverted file otherwise) from :data:`AUTO_MIN` points, and
refuses the inverted file, with a log line, where its sampled recall is below
:data:`MIN_RECALL` (uniform random data, for one).
"""

from __future__ import annotations

import logging

import torch

from .ann import budget_for, knn_ivf, knn_kdtree
from .knn import knn as exact_knn

logger = logging.getLogger("gputopic")


# ----------------------------------------------------------------------------- recall


def recall(approx_idx: torch.Tensor, exact_idx: torch.Tensor) -> float:
    """Mean fraction of each row of ``exact_idx`` found in the same row of ``approx_idx``."""
    a = approx_idx.cpu()
    e = exact_idx.cpu()
    hit = (a[:, :, None] == e[:, None, :]).any(1)
    return float(hit.float().mean())


def sample_recall(X: torch.Tensor, idx: torch.Tensor, metric: str, *, n_sample: int = 1000, seed: int = 0,
                  memory_budget: int | None = None) -> float:
    """Recall of the self-kNN ``idx`` of ``X`` on ``n_sample`` random rows, against the exact
    search for those rows (``O(n_sample * n * d)``)."""
    n, k = idx.shape
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    rows = torch.randperm(n, generator=g)[: min(n, n_sample)].to(X.device)
    Xf = X.float()
    if metric == "cosine":
        Xf = torch.nn.functional.normalize(Xf, dim=1)
    _, ex = exact_knn(Xf, k, metric, queries=Xf[rows], memory_budget=budget_for(X.device, memory_budget))
    # the point itself is its own first neighbour in both (exact may rank a duplicate first)
    ex[:, 0] = rows
    return recall(idx[rows], ex)


# ----------------------------------------------------------------------------- mode choice

KNN_MODES = ("auto", "exact", "approx")
#: ``knn="auto"`` takes the sub-quadratic search from this many points on, per device type.
#: CPU (2 shared cores, 1 thread, bench/RESULTS.md "Scale"): 384-D cosine, exact 18 s at
#: 16k points (so ~180 s at 50k, O(n^2)) against 68 s for the inverted file at 50k; 5-D
#: HDBSCAN at 20k, 3.5 s with the k-d tree against 16 s exact. (UMAP's CPU fits take
#: NN-descent earlier, above knn.CPU_EXACT_MAX points, and come here only below it.)
#: CUDA: not measured (no GPU was lent), so "auto" stays exact on CUDA (the value below is
#: out of reach) until bench/scale.py has run on a card; set it from that run (the exact
#: fp16 search takes ~3 s at 1M points on an H100).
AUTO_MIN = {"cpu": 50_001, "cuda": 1 << 62}
#: the sampled recall@k below which ``"auto"`` refuses the approximate graph
MIN_RECALL = 0.95
#: dimensions up to which the euclidean search uses the (exact) k-d tree
KD_MAX_DIM = 8


def check_mode(mode) -> str:
    if mode not in KNN_MODES:
        from ..exceptions import InputError

        raise InputError(f"knn must be one of {KNN_MODES}, got {mode!r}")
    return mode


def self_knn(X: torch.Tensor, k: int, metric: str, mode: str, *, seed: int = 0, who: str = "kNN",
             n_sample: int = 1000) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Self-kNN of ``X`` by ``mode`` ("exact", "approx", "auto"); returns (dist, idx, info).

    "approx": the k-d tree search (exact) for euclidean data of at most
    :data:`KD_MAX_DIM` dimensions, else the inverted file (:func:`knn_ivf`), whose recall
    is measured on ``n_sample`` points against the exact search and logged. "auto": the
    exact search below :data:`AUTO_MIN` points, else as "approx", except that an inverted
    file graph whose sampled recall is below :data:`MIN_RECALL` is refused (logged) and
    replaced by the exact search. ``info``: ``method`` ("exact", "kdtree", "ivf") and
    ``recall`` (sampled, None when exact by construction).
    """
    import logging

    log = logging.getLogger("gputopic")
    n, d = X.shape
    mode = check_mode(mode)
    if mode == "exact" or (mode == "auto" and n < AUTO_MIN.get(X.device.type, AUTO_MIN["cuda"])):
        dist, idx = exact_knn(X, k, metric)
        return dist, idx, {"method": "exact", "recall": None}
    if metric == "euclidean" and d <= KD_MAX_DIM:
        dist, idx = knn_kdtree(X, k)
        return dist, idx, {"method": "kdtree", "recall": None}
    dist, idx = knn_ivf(X, k, metric, seed=seed)
    r = sample_recall(X, idx, metric, n_sample=n_sample, seed=seed)
    if mode == "auto" and r < MIN_RECALL:
        log.info("%s: the approximate kNN graph reached recall@%d %.3f on %d sampled points (< %.2f); "
                 "using the exact search", who, k, r, min(n, n_sample), MIN_RECALL)
        dist, idx = exact_knn(X, k, metric)
        return dist, idx, {"method": "exact", "recall": None, "refused_recall": r}
    log.info("%s: approximate kNN graph (inverted file), sampled recall@%d %.3f", who, k, r)
    return dist, idx, {"method": "ivf", "recall": r}
