"""WordPiece tokenisation of plain ASCII text, compiled with numba.

The embedding loop's CPU side (:class:`gputopic.embed.FastTokenizer`) spends most of its
time in the Rust tokenizer, and on a GPU server that, not the GPU, bounds the throughput.
For the BERT family's tokenizers (BertPreTokenizer + WordPiece + a ``[CLS] ... [SEP]``
template, as all-MiniLM-L6-v2), on texts that ``FastTokenizer`` has already lowercased and
checked to be ASCII without control characters or added-token text, this module gives the
same ids an order of magnitude faster (``bench/RESULTS.md``): the text is split at
whitespace and ASCII punctuation, and each word is matched greedily, longest piece first,
in a trie of the vocabulary held as an open-addressing hash table ((node, byte) -> child),
in one nogil numba call per batch.

It applies only where :meth:`AsciiWordPiece.from_tokenizer` recognises every step of the
tokenizer; ``FastTokenizer`` still checks its output against the model's own
``preprocess`` on a sample, and the tests compare it with the Rust tokenizer on 2,000
20 Newsgroups posts and on random text over a small vocabulary.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba ships with umap-learn, a dependency
    njit = None

#: the whitespace left in the texts routed here (FastTokenizer sends those with other
#: control characters to the Rust tokenizer)
_SPACE = b" \t\n\r"
#: BertPreTokenizer isolates each punctuation character (for ASCII: Rust's is_ascii_punctuation)
_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


class AsciiWordPiece:
    """A BERT-family tokenizer's ids for ASCII texts (see the module docstring)."""

    def __init__(self, vocab: dict, unk_id: int, prefix: str, max_word: int, head: list, tail: list,
                 max_length: int):
        keys, children, terminal, cont = _trie(vocab, prefix)
        self.table_keys, self.table_children = _hash_table(keys, children)
        self.terminal = terminal
        self.cont_node = cont  # the node of the continuing-subword prefix ("##"); -1: none in vocab
        self.unk_id = int(unk_id)
        self.max_word = int(max_word)
        self.head = np.asarray(head, dtype=np.int64)  # ids before the text ([CLS])
        self.tail = np.asarray(tail, dtype=np.int64)  # ids after it ([SEP])
        self.max_length = int(max_length)  # tokens in all, head and tail included
        self.space = np.zeros(256, dtype=np.bool_)
        self.space[list(_SPACE)] = True
        self.punct = np.zeros(256, dtype=np.bool_)
        self.punct[list(_PUNCT)] = True

    @classmethod
    def from_tokenizer(cls, tk: Any) -> AsciiWordPiece | None:
        """One for a ``tokenizers.Tokenizer`` (truncation set, no padding), or None where
        any of its steps is not one this module reproduces. The normaliser is not looked at:
        the texts come already normalised (FastTokenizer.tokenize)."""
        if njit is None:
            return None
        spec = json.loads(tk.to_str())
        model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
        trunc, post = spec.get("truncation"), spec.get("post_processor")
        if model.get("type") != "WordPiece" or pre.get("type") != "BertPreTokenizer":
            return None
        if spec.get("padding") or not trunc or trunc.get("direction", "Right") != "Right":
            return None
        vocab = model.get("vocab") or {}
        if model.get("unk_token") not in vocab or not (model.get("continuing_subword_prefix") or "").isascii():
            return None
        affixes = _template_ids(post)
        if affixes is None or len(affixes[0]) + len(affixes[1]) >= int(trunc["max_length"]):
            return None
        return cls(vocab, vocab[model["unk_token"]], model.get("continuing_subword_prefix") or "",
                   model.get("max_input_chars_per_word", 100), affixes[0], affixes[1], trunc["max_length"])

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """All token ids of ``texts`` (ASCII) end to end (int64), and each text's count."""
        n = len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        ends = np.cumsum(lengths)
        buf = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
        # each token takes at least one character: a text's room is the shorter of its
        # length and max_length (a long-context model does not get n x max_length slots)
        room = np.minimum(lengths + self.head.size + self.tail.size, self.max_length)
        out = np.empty(int(room.sum()), dtype=np.int64)
        counts = np.empty(n, dtype=np.int64)
        total = _tokenize(buf, ends - lengths, ends, self.table_keys, self.table_children, self.terminal,
                          self.cont_node, self.space, self.punct, self.unk_id, self.max_word, self.head,
                          self.tail, out, room, counts)
        return out[:total], counts


def _template_ids(post: dict | None) -> tuple[list, list] | None:
    """(ids before, ids after) the text of a single-sequence post-processor, or None."""
    if post is None:
        return [], []
    if post.get("type") == "BertProcessing":
        return [int(post["cls"][1])], [int(post["sep"][1])]
    if post.get("type") != "TemplateProcessing":
        return None
    specials = post.get("special_tokens") or {}
    head, tail, seen = [], [], False
    for item in post.get("single") or []:
        if "Sequence" in item:
            if seen or item["Sequence"].get("id") != "A":
                return None
            seen = True
        elif "SpecialToken" in item:
            ids = (specials.get(item["SpecialToken"].get("id")) or {}).get("ids")
            if not ids:
                return None
            (tail if seen else head).extend(int(i) for i in ids)
        else:
            return None
    return (head, tail) if seen else None


def _trie(vocab: dict, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Edges ((node * 256 + byte) keys, child nodes), each node's token id (-1: none) and the
    node of ``prefix``, of a byte trie over the vocabulary's ASCII tokens (node 0: root)."""
    child: dict = {}
    terminal = [-1]
    for token, tid in vocab.items():
        if not token.isascii():
            continue  # never matched in ASCII text
        node = 0
        for b in token.encode("ascii"):
            nxt = child.get((node, b))
            if nxt is None:
                nxt = child[(node, b)] = len(terminal)
                terminal.append(-1)
            node = nxt
        terminal[node] = int(tid)
    cont = 0
    for b in prefix.encode("ascii"):
        cont = child.get((cont, b), -1)
        if cont < 0:
            break
    keys = np.fromiter((n * 256 + b for n, b in child), dtype=np.int64, count=len(child))
    children = np.fromiter(child.values(), dtype=np.int64, count=len(child))
    return keys, children, np.asarray(terminal, dtype=np.int64), cont


def _hash_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table (power-of-two size, at most half full) of ``keys`` -> ``values``."""
    size = 1 << max(4, int(np.ceil(np.log2(2 * max(1, keys.size)))))
    table_keys = np.full(size, -1, dtype=np.int64)
    table_values = np.full(size, -1, dtype=np.int64)
    _fill(keys, values, table_keys, table_values)
    return table_keys, table_values


if njit is not None:
    @njit(cache=True, inline="always")
    def _slot(key, mask):
        return (key * 2654435761) & mask

    @njit(cache=True)
    def _fill(keys, values, table_keys, table_values):
        mask = table_keys.size - 1
        for i in range(keys.size):
            h = _slot(keys[i], mask)
            while table_keys[h] != -1:
                h = (h + 1) & mask
            table_keys[h] = keys[i]
            table_values[h] = values[i]

    @njit(cache=True, inline="always")
    def _step(table_keys, table_children, node, byte):
        key = node * 256 + byte
        mask = table_keys.size - 1
        h = _slot(key, mask)
        while True:
            k = table_keys[h]
            if k == key:
                return table_children[h]
            if k == -1:
                return -1
            h = (h + 1) & mask

    @njit(cache=True, nogil=True)
    def _tokenize(buf, starts, ends, table_keys, table_children, terminal, cont, space, punct, unk,
                 max_word, head, tail, out, rooms, counts):
        at = 0  # texts are written end to end: the rooms before a text hold at least its start
        for d in range(starts.size):
            row = out[at:at + rooms[d]]
            room = rooms[d] - tail.size  # the text's tokens end here (right truncation)
            n = 0
            for t in head:
                row[n] = t
                n += 1
            i, e = starts[d], ends[d]
            while i < e and n < room:
                c = buf[i]
                if space[c]:
                    i += 1
                    continue
                j = i + 1  # a word: one punctuation character, or a run of neither kind
                if not punct[c]:
                    while j < e and not space[buf[j]] and not punct[buf[j]]:
                        j += 1
                first, pos, bad = n, i, j - i > max_word
                while pos < j and not bad:  # greedy: the longest piece in the vocabulary first
                    node = 0 if pos == i else cont
                    best, best_end, k = -1, pos, pos
                    while k < j and node >= 0:
                        node = _step(table_keys, table_children, node, buf[k])
                        if node >= 0 and terminal[node] >= 0:
                            best, best_end = terminal[node], k + 1
                        k += 1
                    if best < 0:
                        bad = True
                    else:
                        if n < room:
                            row[n] = best
                        n += 1
                        pos = best_end
                if bad:  # a word with no split into pieces is one unknown token
                    n = first
                    row[n] = unk
                    n += 1
                n = min(n, room)
                i = j
            for t in tail:
                row[n] = t
                n += 1
            counts[d] = n
            at += n
        return at

