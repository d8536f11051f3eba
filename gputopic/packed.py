"""Packed (unpadded) forward pass of a BERT-family sentence-transformer, for the embedding loop.

A padded batch runs every layer on ``rows x longest`` token slots; here the token ids of a
batch lie end to end (``flat``, with each document's ``lengths``) and the linear layers,
layer norms and GELU run on the real tokens only. Attention is the one step that needs
document boundaries: it runs as ``torch.nn.functional.scaled_dot_product_attention`` on a
jagged nested tensor (``torch.nested.nested_tensor_from_jagged``, documented since torch
2.3), which on CUDA dispatches to the variable-length flash / memory-efficient kernels and
on the CPU to the math kernel, or (``attention="padded"``) on a padded copy of q, k, v
made for that step alone, with a key mask. Mean pooling is a segment sum over the packed
tokens, then the model's Normalize when it has one.

It applies to a SentenceTransformer made of a BertModel (absolute positions, encoder
only), a mean Pooling and optionally Normalize, i.e. all-MiniLM-L6-v2 and its kind;
:func:`packed_encoder` returns None for anything else and the loop keeps the padded
model call. Equality with the model's own output: tests/test_embed.py (CPU, fp32); the
CUDA kernels it reaches there are unverified until a GPU run (bench/embed_throughput.py).
"""

from __future__ import annotations

import logging
from typing import Any

from .device import optional_import

logger = logging.getLogger("gputopic")

ATTENTION_KINDS = ("nested", "padded")


def packed_encoder(model: Any, attention: str = "nested") -> "PackedEncoder | None":
    """A :class:`PackedEncoder` for ``model``, or None where its modules are not the ones
    handled here (then the embedding loop keeps the model's own padded call)."""
    try:
        modules = list(model)
        names = [type(m).__name__ for m in modules]
        if names[:2] != ["Transformer", "Pooling"] or names[2:] not in ([], ["Normalize"]):
            return None
        bert = modules[0].auto_model
        cfg = bert.config
        pool = modules[1].get_config_dict()
        if (type(bert).__name__ != "BertModel" or cfg.is_decoder
                or getattr(cfg, "position_embedding_type", "absolute") != "absolute"
                or pool.get("pooling_mode", "mean") != "mean" or not pool.get("include_prompt", True)
                or any(pool.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                               "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                               "pooling_mode_lasttoken"))):
            return None
        if pool.get("pooling_mode") is None and not pool.get("pooling_mode_mean_tokens", False):
            return None
        act = cfg.hidden_act
        if act not in ("gelu",):
            return None
        return PackedEncoder(bert, normalize=len(modules) == 3, attention=attention)
    except Exception as exc:  # noqa: BLE001 - an unusual model: the padded call
        logger.debug("no packed encoder (%s: %s): padded batches", type(exc).__name__, exc)
        return None


class PackedEncoder:
    """Sentence embeddings of packed token ids (see the module docstring)."""

    def __init__(self, bert: Any, normalize: bool, attention: str = "nested"):
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        self.bert = bert
        self.normalize = normalize
        self.attention = attention
        self.heads = int(bert.config.num_attention_heads)

    def __call__(self, flat, lengths, type_id: int = 0):
        return self.forward(flat, lengths, type_id)

    def forward(self, flat, lengths, type_id: int = 0):
        """``(len(lengths), hidden)`` embeddings of documents whose ids lie end to end in
        ``flat`` (1-D int64), ``lengths[i]`` ids each (all >= 1), on the model's device."""
        torch = optional_import("torch", "document embeddings")
        F = torch.nn.functional
        bert = self.bert
        emb = bert.embeddings
        n_tok, n_docs = flat.shape[0], lengths.shape[0]
        offsets = torch.zeros(n_docs + 1, dtype=torch.int64, device=flat.device)
        torch.cumsum(lengths, 0, out=offsets[1:])
        doc = torch.repeat_interleave(torch.arange(n_docs, device=flat.device), lengths, output_size=n_tok)
        pos = torch.arange(n_tok, device=flat.device) - offsets[:-1][doc]
        x = emb.word_embeddings(flat) + emb.position_embeddings(pos) + \
            emb.token_type_embeddings(torch.full_like(flat, int(type_id)))
        x = emb.LayerNorm(x)
        hidden = x.shape[1]
        d = hidden // self.heads
        # the longest and shortest document, read once per batch (one device sync): given to
        # the nested tensors, which would otherwise each compute them
        bounds = (int(lengths.max()), int(lengths.min()))
        pad = self._padding(lengths, offsets, doc, n_tok, bounds[0]) if self.attention == "padded" else bounds
        for layer in bert.encoder.layer:
            att = layer.attention.self
            q, k, v = (f(x).view(n_tok, self.heads, d) for f in (att.query, att.key, att.value))
            o = self._attend(torch, F, q, k, v, offsets, pad).reshape(n_tok, hidden)
            x = layer.attention.output.LayerNorm(layer.attention.output.dense(o) + x)
            h = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
            x = layer.output.LayerNorm(layer.output.dense(h) + x)
        sums = torch.zeros((n_docs, hidden), dtype=torch.float32, device=x.device)
        sums.index_add_(0, doc, x.float())
        out = sums / lengths.to(sums.dtype)[:, None]
        return F.normalize(out, p=2, dim=1) if self.normalize else out

    @staticmethod
    def _padding(lengths, offsets, doc, n_tok, width):
        """Where each packed token sits in a padded (docs x ``width``) layout, and the key mask."""
        torch = optional_import("torch", "document embeddings")
        slot = doc * width + (torch.arange(n_tok, device=doc.device) - offsets[:-1][doc])
        mask = torch.arange(width, device=doc.device)[None, :] < lengths[:, None]
        return slot, mask, width

    def _attend(self, torch, F, q, k, v, offsets, pad):
        if self.attention == "nested":
            # (docs, jagged, heads, d) -> (docs, heads, jagged, d), as SDPA wants
            longest, shortest = pad
            qn, kn, vn = (torch.nested.nested_tensor_from_jagged(t, offsets, min_seqlen=shortest, max_seqlen=longest)
                          .transpose(1, 2) for t in (q, k, v))
            return F.scaled_dot_product_attention(qn, kn, vn).transpose(1, 2).values()
        slot, mask, width = pad
        n_docs = mask.shape[0]
        padded = []
        for t in (q, k, v):
            p = t.new_zeros((n_docs * width, *t.shape[1:]))
            p[slot] = t
            padded.append(p.view(n_docs, width, *t.shape[1:]).transpose(1, 2))
        o = F.scaled_dot_product_attention(*padded, attn_mask=mask[:, None, None, :])
        return o.transpose(1, 2).reshape(n_docs * width, *q.shape[1:])[slot]
