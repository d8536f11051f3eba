"""UMAP's SGD layout on the CPU: one edge at a time, in parallel, reproducible.

umap-learn applies its sampled edges one at a time, so each move sees the moves before
it; with ``random_state`` set it runs them on one thread (parallel numba would race).
This kernel keeps the one-at-a-time updates and uses every thread without races:

* the points are split into ``T`` contiguous blocks (one per thread) with about equal
  numbers of edges; a thread processes the edges whose head is in its block, in CSR
  order, and writes only points of its own block;
* a point of another block is read from a snapshot that is refreshed ``n_sub`` times per
  epoch (between parallel sub-steps, :data:`N_SUB` by default), so no thread reads a point
  while another writes it;
* an edge whose tail is in the head's block moves both ends, as umap-learn does; an edge
  whose tail is in another block moves only its head, twice (the symmetric edge, owned by
  the tail's thread, moves the tail), so every point still gets two attraction moves per
  sampled edge pair, as in umap-learn;
* negative samples (``int((epoch - next_negative) / epochs_per_negative)`` per sampled
  edge, umap-learn's schedule) move the head only; each thread draws them from its own
  xorshift64* stream.

For a fixed seed and thread count the result is bitwise reproducible; it changes with
the thread count (the blocks change). With one thread it is a sequential SGD in CSR
order with the symmetric-edge rule above.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba ships with umap-learn, a dependency
    numba = None

__all__ = ["N_SUB", "available", "blocks", "optimize_layout"]

#: Snapshot refreshes per epoch. A staler snapshot makes looser clusters: on 20 Newsgroups
#: (GPUTopic, 100 epochs, 2 threads, seeds 0-19) 8 refreshes gave NMI 0.431 (sd 0.013),
#: outliers 0.388; 32 gave 0.436 (sd 0.007), outliers 0.380 (umap-learn one-threaded: 0.437,
#: sd 0.002, 0.368), for 0.37 s more SGD (1.41 -> 1.78 s); bench/RESULTS.md.
N_SUB = 32


def available() -> bool:
    return numba is not None


def blocks(head: np.ndarray, n: int, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex and edge bounds of ``n_threads`` contiguous blocks with ~equal edge counts.

    ``head`` must be sorted. Returns ``(vertex_bounds, edge_bounds)``, each of length
    ``n_threads + 1``; block ``t`` owns points ``[vb[t], vb[t+1])`` and edges ``[eb[t], eb[t+1])``.
    """
    n_threads = max(1, int(n_threads))
    ptr = np.searchsorted(head, np.arange(n + 1), side="left")  # CSR row pointer
    targets = (np.arange(n_threads + 1) * len(head)) // n_threads
    vb = np.searchsorted(ptr, targets, side="left").clip(0, n)
    vb[0], vb[-1] = 0, n
    vb = np.maximum.accumulate(vb)
    eb = ptr[vb]
    return vb.astype(np.int64), eb.astype(np.int64)


if numba is not None:

    @njit(cache=True, inline="always")
    def _xorshift(s):
        s ^= s >> np.uint64(12)
        s ^= s << np.uint64(25)
        s ^= s >> np.uint64(27)
        return s

    @njit(cache=True, fastmath=True, inline="always")
    def _clip4(x):
        if x > 4.0:
            return np.float32(4.0)
        if x < -4.0:
            return np.float32(-4.0)
        return x

    @njit(cache=True, fastmath=True)
    def _attract(emb, ref, i, j, a, b, alpha, move_j):
        dim = emb.shape[1]
        d2 = np.float32(0.0)
        for d in range(dim):
            diff = emb[i, d] - ref[j, d]
            d2 += diff * diff
        coef = np.float32(0.0)
        if d2 > 0.0:
            d2b = d2**b
            coef = (np.float32(-2.0) * a * b) * d2b / (d2 * (a * d2b + np.float32(1.0)))
        for d in range(dim):
            g = _clip4(coef * (emb[i, d] - ref[j, d])) * alpha
            emb[i, d] += g
            if move_j:
                emb[j, d] -= g

    @njit(cache=True, fastmath=True)
    def _block_step(emb, snap, head, tail, eps, next_s, eps_neg, next_neg, e_lo, e_hi, v_lo, v_hi,
                    epoch, a, b, gamma, alpha, do_neg, state):
        n, dim = emb.shape
        for e in range(e_lo, e_hi):
            if next_s[e] > epoch:
                continue
            i = head[e]
            j = tail[e]
            if v_lo <= j < v_hi:
                _attract(emb, emb, i, j, a, b, alpha, True)
            else:
                _attract(emb, snap, i, j, a, b, alpha, False)
                _attract(emb, snap, i, j, a, b, alpha, False)
            next_s[e] += eps[e]
            if not do_neg:
                continue
            n_neg = int((epoch - next_neg[e]) / eps_neg[e])
            for _ in range(n_neg):
                state = _xorshift(state)
                k = np.int64((state * np.uint64(2685821657736338717)) >> np.uint64(33)) % n
                if k == i:
                    continue
                ref = emb if v_lo <= k < v_hi else snap
                d2 = np.float32(0.0)
                for d in range(dim):
                    diff = emb[i, d] - ref[k, d]
                    d2 += diff * diff
                if d2 <= 0.0:
                    continue
                coef = (np.float32(2.0) * gamma * b) / ((np.float32(0.001) + d2) * (a * d2**b + np.float32(1.0)))
                for d in range(dim):
                    emb[i, d] += _clip4(coef * (emb[i, d] - ref[k, d])) * alpha
            if n_neg > 0:
                next_neg[e] += n_neg * eps_neg[e]
        return state

    @njit(cache=True, parallel=True)
    def _layout(emb, head, tail, eps, n_epochs, a, b, gamma, alpha0, neg_rate, vb, eb, n_sub, states):
        T = vb.shape[0] - 1
        snap = emb.copy()
        next_s = eps.copy()
        do_neg = neg_rate > 0
        eps_neg = eps / max(neg_rate, 1.0)
        next_neg = eps_neg.copy()
        for epoch in range(n_epochs):
            alpha = np.float32(alpha0 * (1.0 - epoch / n_epochs))
            for s in range(n_sub):
                for t in prange(T):
                    m = eb[t + 1] - eb[t]
                    lo = eb[t] + (m * s) // n_sub
                    hi = eb[t] + (m * (s + 1)) // n_sub
                    states[t] = _block_step(emb, snap, head, tail, eps, next_s, eps_neg, next_neg, lo, hi,
                                            vb[t], vb[t + 1], epoch, a, b, gamma, alpha, do_neg, states[t])
                for t in prange(T):
                    for v in range(vb[t], vb[t + 1]):
                        for d in range(emb.shape[1]):
                            snap[v, d] = emb[v, d]
        return emb


def optimize_layout(
    emb: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    epochs_per_sample: np.ndarray,
    n_epochs: int,
    a: float,
    b: float,
    gamma: float,
    initial_alpha: float,
    negative_sample_rate: int,
    seed: int,
    n_threads: int | None = None,
    n_sub: int = N_SUB,
) -> np.ndarray:
    """Run the SGD on ``emb`` (float32, ``[n, dim]``, updated in place and returned).

    ``head``/``tail``/``epochs_per_sample`` describe a symmetric edge list; it is sorted
    by head here. ``n_threads`` defaults to numba's thread count.
    """
    if numba is None:  # pragma: no cover
        raise RuntimeError("numba is not installed")
    n = emb.shape[0]
    order = np.lexsort((tail, head))
    head = np.ascontiguousarray(head[order], dtype=np.int64)
    tail = np.ascontiguousarray(tail[order], dtype=np.int64)
    eps = np.ascontiguousarray(epochs_per_sample[order], dtype=np.float64)
    T = int(n_threads or numba.get_num_threads())
    T = max(1, min(T, n))
    vb, eb = blocks(head, n, T)
    ss = np.random.SeedSequence(int(seed)).generate_state(T, dtype=np.uint64)
    states = np.where(ss == 0, np.uint64(0x9E3779B97F4A7C15), ss).astype(np.uint64)
    out = np.ascontiguousarray(emb, dtype=np.float32)
    f32 = np.float32
    _layout(out, head, tail, eps, int(n_epochs), f32(a), f32(b), f32(gamma), f32(initial_alpha),
            float(negative_sample_rate), vb, eb, max(1, int(n_sub)), states)
    return out
