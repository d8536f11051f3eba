"""The fast tokenizer of the embedding loop: the model's own Rust tokenizer called
directly, its token ids packed with NumPy, and a compiled WordPiece
(:mod:`gputopic.wordpiece`) for plain ASCII texts of BERT-family tokenizers.

:func:`fast_tokenizer` builds a :class:`FastTokenizer` for a SentenceTransformer and keeps
it only when it reproduces the model's own features exactly on a sample of the documents
(and a few fixed probe texts); :mod:`gputopic.embed` falls back to the model's
``preprocess`` otherwise.
"""

from __future__ import annotations

import json
import logging
from itertools import chain
from typing import Any, Sequence

import numpy as np

from .device import optional_import

logger = logging.getLogger("gputopic")

#: chunks tokenised at once by the Rust tokenizer (each call already runs on every core)
FAST_TOKENIZER_THREADS = 2
#: characters per token of max_seq_length tokenised first (FastTokenizer.pack): on all 18,331
#: 20 Newsgroups posts, 1 in 1,000 needs a second, whole pass at 6 (1 in 100 at 5)
CUT_CHARS_PER_TOKEN = 6
_CUT_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
_CUT_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFC", "StripAccents"}
_FEATURE_KEYS = ("input_ids", "attention_mask", "token_type_ids")
#: normalisers that change an ASCII text at most by lowercasing it (BertNormalizer also by
#: its control-character removal and whitespace mapping: see FastTokenizer.tokenize)
_ASCII_NOOP_NORMALIZERS = {"NFD", "NFC", "NFKD", "NFKC", "StripAccents"}
#: what BertNormalizer's clean_text removes from ASCII text (tab, newline, return stay)
_CONTROL_BYTES = bytes([*range(9), 11, 12, *range(14, 32), 127])


def _packed(encodings: list) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``tokenizers`` encodings end to end (int64), and each one's count."""
    ids = [e.ids for e in encodings]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())), lengths


def _merge(n: int, parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Packed ids of ``n`` texts from parts ``(rows, flat, lengths)`` that cover every row once."""
    lengths = np.zeros(n, dtype=np.int64)
    for rows, _, counts in parts:
        lengths[rows] = counts
    starts = np.cumsum(lengths) - lengths
    flat = np.empty(int(lengths.sum()), dtype=np.int64)
    for rows, ids, counts in parts:
        # where each id goes: its row's start + its place in the row
        flat[np.repeat(starts[rows] - (np.cumsum(counts) - counts), counts) + np.arange(ids.size)] = ids
    return flat, lengths


class FastTokenizer:
    """The model's own Rust tokenizer called directly, its token ids packed with NumPy.

    ``SentenceTransformer.preprocess`` goes through transformers' Python tokenizer wrapper,
    which turns every token into a Python object and back into a tensor while holding the
    GIL: on a 16-core GPU server that, not the GPU, limits throughput. Here one batch call
    per chunk runs without the GIL: the compiled WordPiece for plain ASCII texts where it
    applies (:meth:`tokenize`), the Rust tokenizer on all cores for the rest. Built by
    :func:`fast_tokenizer`, which keeps it only when it reproduces the model's own features
    exactly on a sample.
    """

    def __init__(self, tokenizer: Any, pad_id: int, type_id: int, keys: tuple, extras: dict,
                 max_len: int = 0, cut: int = 0, ascii_tokenizer: Any = None, ascii_lower: bool = False,
                 wordpiece: Any = None):
        self.tokenizer = tokenizer
        self.pad_id = int(pad_id)
        self.type_id = int(type_id)
        self.keys = keys
        self.extras = extras  # non-tensor entries of the model's features, e.g. modality="text"
        self.max_len = int(max_len)  # tokens kept per text (the truncation length)
        self.cut = int(cut)  # characters tokenised first (0: whole texts); see pack()
        # the tokenizer without its normaliser, for plain ASCII texts (lowercased here first
        # where ``ascii_lower``); None: every text through ``tokenizer``. See tokenize().
        self.ascii_tokenizer = ascii_tokenizer
        self.ascii_lower = bool(ascii_lower)
        self.wordpiece = wordpiece  # AsciiWordPiece: the ascii_tokenizer's ids, compiled (faster)
        # added tokens ([CLS], [MASK], ...) are matched in the text before the normaliser runs:
        # a text holding one, in any case, keeps the whole tokenizer
        self.added_lower = tuple({a.content.lower() for a in tokenizer.get_added_tokens_decoder().values()})
        self._added_marks = tuple({a[0] for a in self.added_lower if a})  # their first characters
        # offsets are never read here: the variant that does not compute them where it exists
        self._encode = _batch_encoder(tokenizer)
        self._encode_ascii = _batch_encoder(ascii_tokenizer) if ascii_tokenizer is not None else None

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All token ids of ``texts`` (as given, no cut) end to end, and each text's count.

        With an ``ascii_tokenizer``, texts of ASCII characters without control characters
        (all but 2 in 1,000 20 Newsgroups posts) skip the normaliser: lowercased by Python
        where it lowercases, they are what it would have produced, because on such text its
        other steps (accent stripping, CJK spacing, control-character removal) change
        nothing and its mapping of tab and newline to a space changes no token of a
        whitespace-splitting pre-tokenizer. Texts holding an added token's text ("[MASK]")
        keep the whole tokenizer, which matches those before it lowercases. The normaliser
        is the costliest step of the Rust tokenizer (it keeps an alignment per character).
        Where the rest of the tokenizer is the BERT family's, those texts are tokenised by
        :class:`gputopic.wordpiece.AsciiWordPiece` instead of the Rust tokenizer.
        """
        texts = list(texts)
        if self._encode_ascii is None:
            return _packed(self._encode(texts))
        lower = str.lower if self.ascii_lower else str
        added, marks = self.added_lower, self._added_marks
        rows, plain, rest = [], [], []
        for i, t in enumerate(texts):
            if t.isascii():  # O(1) in CPython; the checks below cost ~2 us per post
                low = lower(t)
                b = low.encode()
                if len(b.translate(None, _CONTROL_BYTES)) == len(b) and not (
                        any(m in low for m in marks) and any(a in low for a in added)):
                    rows.append(i)
                    plain.append(low)
                    continue
            rest.append(i)
        if not rest:
            return self._tokenize_ascii(plain)
        parts = [(rest, *_packed(self._encode([texts[i] for i in rest])))]
        if rows:
            parts.append((rows, *self._tokenize_ascii(plain)))
        return _merge(len(texts), parts)

    def _tokenize_ascii(self, plain: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`tokenize` of texts already normalised and checked (see there)."""
        if self.wordpiece is not None:
            return self.wordpiece.encode(plain)
        return _packed(self._encode_ascii(plain))

    def pack(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All token ids of ``texts`` end to end, and each text's number of tokens.

        With ``cut``, a longer text is first tokenised only up to its last whitespace before
        ``cut`` characters. The pre-tokenizer splits at whitespace, so the tokens of that
        prefix are the first tokens of the whole text: when they fill ``max_len``, the
        truncated ids are exactly the whole text's. A text whose prefix falls short is
        tokenised again whole. (99% of the 20 Newsgroups posts that reach 256 tokens do so
        within 1,400 characters: the cut spares 22% of the characters tokenised.)
        """
        texts = list(texts)
        first, cut_rows = texts, []
        if self.cut:
            first = list(texts)
            for i, t in enumerate(texts):
                if len(t) > self.cut:
                    j = max(t.rfind(" ", 0, self.cut), t.rfind("\n", 0, self.cut))
                    if j > 0:
                        first[i] = t[:j]
                        cut_rows.append(i)
        flat, lengths = self.tokenize(first)
        again = [i for i in cut_rows if lengths[i] < self.max_len]
        if again:
            keep = np.ones(len(texts), dtype=bool)
            keep[again] = False
            kept = (np.flatnonzero(keep), flat[np.repeat(keep, lengths)], lengths[keep])
            flat, lengths = _merge(len(texts), [kept, (again, *self.tokenize([texts[i] for i in again]))])
        return flat, lengths

    def features(self, flat: np.ndarray, lengths: np.ndarray, pin: bool = False) -> dict:
        """Right-padded model features (int64 tensors) of packed ids."""
        torch = optional_import("torch", "document embeddings")
        width = int(lengths.max()) if lengths.size else 0
        mask = np.arange(width)[None, :] < lengths[:, None]
        ids = np.full(mask.shape, self.pad_id, dtype=np.int64)
        ids[mask] = flat
        arrays = {"input_ids": ids, "attention_mask": mask.astype(np.int64),
                  "token_type_ids": np.where(mask, self.type_id, 0).astype(np.int64)}
        feats = {}
        for k in self.keys:
            t = torch.from_numpy(arrays[k])
            feats[k] = t.pin_memory() if pin else t
        feats.update(self.extras)
        return feats

    def __call__(self, texts: Sequence[str]) -> dict:
        return self.features(*self.pack(texts))

    def batches(self, idx: np.ndarray, texts: Sequence[str], token_budget: int, pin: bool,
                packed: bool = False) -> list:
        """``(rows, features, (tokens, slots))`` batches of one chunk, ``slots`` being the
        token positions the model computes (tokens + padding).

        Padded (default): consecutive rows while rows x the longest row stays within
        ``token_budget`` (the rows come longest first, so a batch pads little); features
        as the model takes them. ``packed``: consecutive rows while their tokens stay within
        ``token_budget``; features ``{"flat": ids end to end, "lengths": per row}`` for
        :class:`gputopic.packed.PackedEncoder`, which computes no padding.

        The rows are first put in order of their token counts, longest first (the caller
        sorts by characters, which tokens follow only roughly: on 20 Newsgroups, batches
        cut in character order compute 24% padding at 32 documents' budget, in token order
        1%: bench/RESULTS.md); ``rows`` says where each embedding goes."""
        flat, lengths = self.pack(texts)
        perm = np.argsort(-lengths, kind="stable")
        if not np.array_equal(perm, np.arange(perm.size)):
            starts = np.cumsum(lengths) - lengths
            new_starts = np.cumsum(lengths[perm]) - lengths[perm]
            flat = flat[np.repeat(starts[perm] - new_starts, lengths[perm]) + np.arange(flat.size)]
            idx, lengths = np.asarray(idx)[perm], lengths[perm]
        ends = np.cumsum(lengths)
        out, s = [], 0
        while s < len(idx):
            if packed:
                used = np.cumsum(np.maximum(lengths[s:], 1))
                e = s + max(1, int(np.searchsorted(used, token_budget, side="right")))
            else:
                longest = np.maximum.accumulate(np.maximum(lengths[s:], 1))
                fits = np.arange(1, longest.size + 1) * longest <= token_budget
                e = s + max(1, int(np.argmin(fits)) if not fits.all() else longest.size)
            lo = ends[s - 1] if s else 0
            tokens = int(ends[e - 1] - lo)
            if packed:
                torch = optional_import("torch", "document embeddings")
                feats = {"flat": torch.from_numpy(flat[lo:ends[e - 1]]), "lengths": torch.from_numpy(lengths[s:e])}
                if pin:
                    feats = {k: v.pin_memory() for k, v in feats.items()}
                slots = tokens
            else:
                feats = self.features(flat[lo:ends[e - 1]], lengths[s:e], pin)
                slots = (e - s) * int(lengths[s:e].max(initial=0))
            out.append((idx[s:e], feats, (tokens, slots)))
            s = e
        return out


def demo_probe(n: int = 16) -> list[str]:
    """Every 125th of the bundled 20 Newsgroups posts (16 of 2,000), none if it is missing."""
    try:
        from .io import demo_corpus

        docs = demo_corpus().docs
    except Exception:  # noqa: BLE001 - a trimmed installation: the run's own documents suffice
        return []
    return list(docs[:: max(1, len(docs) // n)][:n])


def probe_rows(order: np.ndarray) -> np.ndarray:
    """Rows to check a fast tokenizer on: the longest, the shortest and some in between."""
    n = order.size
    picks = np.concatenate([order[:16], order[-16:], order[np.linspace(0, n - 1, 32).astype(int)]])
    return np.unique(picks)


def fast_tokenizer(model: Any, sample: list[str]) -> FastTokenizer | None:
    """A :class:`FastTokenizer` for a SentenceTransformer, or None where it does not apply.

    It applies when the model's tokenizer has a Rust backend, pads on the right, and the
    model's features are input ids, attention mask and token type ids; and it is kept only
    when its features for ``sample`` equal the model's own ``preprocess`` output exactly.
    """
    torch = optional_import("torch", "document embeddings")
    try:
        import tokenizers

        hf = model.tokenizer
        if getattr(hf, "padding_side", "right") != "right" or hf.pad_token_id is None:
            return None
        if getattr(model[0], "do_lower_case", False):
            return None
        tk = tokenizers.Tokenizer.from_str(hf.backend_tokenizer.to_str())
        tk.no_padding()
        tk.enable_truncation(int(model.max_seq_length), direction=getattr(hf, "truncation_side", "right"))
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        ref = preprocess(sample)
        keys = tuple(k for k in _FEATURE_KEYS if isinstance(ref.get(k), torch.Tensor))
        others = {k: v for k, v in ref.items() if k not in keys}
        if "input_ids" not in keys or any(isinstance(v, torch.Tensor) for v in others.values()):
            return None
        type_ids = {t for e in tk.encode_batch(sample[:8]) for t in e.type_ids}
        max_len = int(model.max_seq_length)
        cut = CUT_CHARS_PER_TOKEN * max_len if _whitespace_cut_is_exact(tk, hf) else 0
        ascii_tk, lower = _ascii_tokenizer(tk)
        fast = FastTokenizer(tk, hf.pad_token_id, min(type_ids) if type_ids else 0, keys, others,
                             max_len=max_len, cut=cut, ascii_tokenizer=ascii_tk, ascii_lower=lower,
                             wordpiece=_ascii_wordpiece(ascii_tk))
        got = fast(sample)
        if all(got[k].shape == ref[k].shape and bool((got[k] == ref[k].cpu()).all()) for k in keys):
            return fast
        logger.debug("fast tokenizer differs from the model's preprocess: using preprocess")
    except Exception as exc:  # noqa: BLE001 - any mismatch in an unusual model: the model's own path
        logger.debug("fast tokenizer unavailable (%s: %s): using the model's preprocess", type(exc).__name__, exc)
    return None


def _batch_encoder(tk: Any):
    """The tokenizer's batch call that skips offsets where it has one (tokenizers >= 0.20)."""
    return getattr(tk, "encode_batch_fast", None) or tk.encode_batch


def _ascii_tokenizer(tk: Any) -> tuple[Any, bool]:
    """``tk`` without its normaliser, and whether texts must be lowercased for it, where that
    gives ``tk``'s ids on ASCII texts without control characters (FastTokenizer.tokenize);
    (None, False) where it may not."""
    spec = json.loads(tk.to_str())
    if (spec.get("pre_tokenizer") or {}).get("type") not in _CUT_PRE_TOKENIZERS:
        return None, False  # BertNormalizer maps tabs and newlines to spaces: only whitespace splits ignore it
    norm = spec.get("normalizer")
    steps = (norm.get("normalizers") or []) if norm and norm.get("type") == "Sequence" else [norm] if norm else []
    lower = False
    for step in steps:
        kind = step.get("type")
        if kind in ("BertNormalizer", "Lowercase"):
            lower = lower or bool(step.get("lowercase", True))
        elif kind not in _ASCII_NOOP_NORMALIZERS:
            return None, False
    if not steps:
        return None, False  # nothing to skip
    spec["normalizer"] = None
    tokenizers = optional_import("tokenizers", "document embeddings")
    return tokenizers.Tokenizer.from_str(json.dumps(spec)), lower


def _ascii_wordpiece(ascii_tk: Any) -> Any:
    """:class:`gputopic.wordpiece.AsciiWordPiece` for the normaliser-free tokenizer, compiled
    (or read from numba's cache) here, or None where it does not apply or fails (logged)."""
    if ascii_tk is None:
        return None
    try:
        # numba: imported only where documents are embedded
        from .wordpiece import AsciiWordPiece

        wordpiece = AsciiWordPiece.from_tokenizer(ascii_tk)
        if wordpiece is not None:
            wordpiece.encode(["compiles the kernel"])
        return wordpiece
    except Exception as exc:  # noqa: BLE001 - the Rust tokenizer does the same work, slower
        logger.warning("compiled WordPiece tokenizer unavailable (%s: %s): using the Rust tokenizer",
                       type(exc).__name__, exc)
        return None


def _whitespace_cut_is_exact(tk: Any, hf: Any) -> bool:
    """Whether FastTokenizer.pack may tokenise a whitespace-cut prefix first: the
    pre-tokenizer splits at whitespace, the normaliser works character by character, and
    truncation keeps the start of the text."""
    spec = json.loads(tk.to_str())
    pre = (spec.get("pre_tokenizer") or {}).get("type")
    norm = (spec.get("normalizer") or {}).get("type")
    return (pre in _CUT_PRE_TOKENIZERS and (norm is None or norm in _CUT_NORMALIZERS)
            and getattr(hf, "truncation_side", "right") == "right")


def tokenizer_char_cap(model: Any) -> int:
    """Characters of a document worth tokenising: 16 per token of ``max_seq_length``.

    The tokenizer truncates to ``max_seq_length`` tokens anyway; cutting the text first
    spares tokenising the tail of very long documents. A WordPiece/BPE token of natural
    text is far shorter than 16 characters, so the kept tokens are the same.
    """
    length = getattr(model, "max_seq_length", None) or 512
    return int(length) * 16
