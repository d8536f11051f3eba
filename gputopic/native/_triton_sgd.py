"""Fused Triton kernel for native UMAP's SGD epochs on CUDA (see ``umap._optimize_layout``).

The torch path runs every (epoch, edge group) step as some 25 separate kernels plus one
host sync (the group's due-edge count), so a fit is bound by launches and syncs, not by
arithmetic (bench/RESULTS.md compares the two on an H100). Here each
(epoch, group) step is ONE launch: every program takes a block of the group's edges, skips
those not due this epoch (and advances the due ones' next epoch), computes the attraction
from the current positions and ``NEG`` negative samples per edge, and adds the clipped
gradients with atomic adds (Hogwild: races between updates are accepted, as in
umap-learn's parallel mode).

The arithmetic is the torch path's (same gradients, clipping and learning rate); two
things differ: a program reads positions that other programs of the same launch may
already have moved (the torch path reads them all before any add), and negative samples
come from Triton's Philox stream (``tl.randint``) instead of torch's generator. The groups
and their order are the torch path's, so layouts are of the same quality, not identical.

Importing this module imports triton; ``umap`` only does so for CUDA tensors. The kernel
is built on first use, so ``TRITON_INTERPRET=1`` set before that (tests on the CPU)
selects Triton's interpreter.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._triton_jit import jit

MAX_DIM = 64  # n_components the kernel takes (one padded block of coordinates per edge)
_BLOCK = 128
_NUM_WARPS = 4
_INT32_MAX = 2**31 - 1


def _sgd_group(
    head_ptr, tail_ptr, h_ptr, t_ptr, eps_ptr, next_ptr,
    lo, n_e, epoch, alpha, a, b, gamma, n_tail, seed,
    D: tl.constexpr, DP: tl.constexpr, NEG: tl.constexpr, MOVE_OTHER: tl.constexpr, BLOCK: tl.constexpr,
):
    """One program: edges ``lo + pid * BLOCK ...`` of one group, for one epoch."""
    pid = tl.program_id(0)
    local = pid * BLOCK + tl.arange(0, BLOCK)
    offs = lo + local
    m = local < n_e
    nxt = tl.load(next_ptr + offs, mask=m, other=float("inf"))
    due = m & (nxt <= epoch)
    eps = tl.load(eps_ptr + offs, mask=due, other=0.0)
    tl.store(next_ptr + offs, nxt + eps, mask=due)
    j = tl.load(h_ptr + offs, mask=due, other=0).to(tl.int64)
    k = tl.load(t_ptr + offs, mask=due, other=0).to(tl.int64)
    dd = tl.arange(0, DP)
    m2 = due[:, None] & (dd < D)[None, :]
    hj = tl.load(head_ptr + j[:, None] * D + dd[None, :], mask=m2, other=0.0)
    tk = tl.load(tail_ptr + k[:, None] * D + dd[None, :], mask=m2, other=0.0)
    diff = hj - tk
    d2 = tl.sum(diff * diff, axis=1)
    d2b = tl.exp2(b * tl.log2(tl.maximum(d2, 1e-30)))  # d2 ** b
    # -2ab d^(2(b-1)) / (1 + a d^(2b)); zero for coincident points
    coef = tl.where(d2 > 0, (-2.0 * a * b) * d2b / (tl.maximum(d2, 1e-30) * (a * d2b + 1.0)), 0.0)
    g = tl.minimum(tl.maximum(diff * coef[:, None], -4.0), 4.0) * alpha
    tl.atomic_add(head_ptr + j[:, None] * D + dd[None, :], g, mask=m2)
    if MOVE_OTHER:
        tl.atomic_add(tail_ptr + k[:, None] * D + dd[None, :], -g, mask=m2)
    for s in tl.static_range(NEG):
        r = tl.randint(seed, local * NEG + s)
        kn = ((r >> 1).to(tl.int32) % n_tail).to(tl.int64)
        tn = tl.load(tail_ptr + kn[:, None] * D + dd[None, :], mask=m2, other=0.0)
        diff_n = hj - tn
        d2n = tl.sum(diff_n * diff_n, axis=1)
        # 2 gamma b / ((0.001 + d^2)(1 + a d^(2b))); no push between coincident points
        coef_n = (2.0 * gamma * b) / ((1e-3 + d2n) * (a * tl.exp2(b * tl.log2(tl.maximum(d2n, 1e-30))) + 1.0))
        g_n = tl.minimum(tl.maximum(diff_n * coef_n[:, None], -4.0), 4.0) * alpha
        tl.atomic_add(head_ptr + j[:, None] * D + dd[None, :], g_n, mask=m2)


def _kernel():
    # offsets, counts and seeds change at every launch: one compiled kernel for all of them
    return jit(_sgd_group, ("lo", "n_e", "n_tail", "seed"))


def supported(head: torch.Tensor, tail: torch.Tensor, n_edges: int, negative_sample_rate: int) -> bool:
    """Whether the kernel handles this layout (float32, small dimension, 32-bit counters)."""
    dim = head.shape[1]
    return (head.dtype == torch.float32 and tail.dtype == torch.float32 and 1 <= dim <= MAX_DIM
            and head.is_contiguous() and tail.is_contiguous()
            and n_edges * max(1, negative_sample_rate) < _INT32_MAX and tail.shape[0] < _INT32_MAX)


def optimize_layout(head, tail, h_idx, t_idx, epochs_per_sample, bounds, n_epochs, a, b, gamma,
                    initial_alpha, negative_sample_rate, move_other, seed) -> torch.Tensor:
    """The SGD epochs of ``umap._optimize_layout`` with one launch per (epoch, group).

    ``h_idx``, ``t_idx`` and ``epochs_per_sample`` are ordered by group and ``bounds`` are
    the groups' edge offsets (as the torch path makes them). ``head`` (and ``tail`` when
    ``move_other``, where it is ``head``) is updated in place and returned.
    """
    h = h_idx.to(torch.int32).contiguous()
    t = t_idx.to(torch.int32).contiguous()
    eps = epochs_per_sample.float().contiguous()
    nxt = eps.clone()
    dim = head.shape[1]
    kernel = _kernel()
    n_groups = len(bounds) - 1
    for epoch in range(n_epochs):
        alpha = initial_alpha * (1.0 - epoch / float(n_epochs))
        for g, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            if hi <= lo:
                continue
            step_seed = (seed + epoch * n_groups + g) % _INT32_MAX
            kernel[(triton.cdiv(hi - lo, _BLOCK),)](
                head, tail, h, t, eps, nxt,
                lo, hi - lo, float(epoch), float(alpha), float(a), float(b), float(gamma),
                tail.shape[0], step_seed,
                D=dim, DP=triton.next_power_of_2(dim), NEG=int(negative_sample_rate),
                MOVE_OTHER=bool(move_other), BLOCK=_BLOCK, num_warps=_NUM_WARPS,
            )
    return head
