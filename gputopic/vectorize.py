"""Term counting: one document-term matrix, aggregated per topic by a sparse product.

BERTopic joins all documents of a topic into one string and counts the joined strings.
Here each document is counted once (the vectorizer's CSR output) and the per-topic
counts are ``onehot(topics).T @ X``: the same numbers for unigrams, no giant strings, and
no n-grams that straddle two documents. ``X`` stays available for representative
documents and for counting documents per topic without recounting.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Sequence

import numpy as np

from .device import Backend, to_numpy
from .exceptions import InputError

logger = logging.getLogger("gputopic")

_NON_ALNUM = re.compile(r"[^A-Za-z0-9 ]+")
_SPACE = re.compile(r"[\n\t\r]")
# clean() + lowercase as one byte table for the Arrow path: ASCII letters (lowered), digits
# and spaces stay, \n \t \r become spaces, every other byte is dropped (0). In UTF-8 every
# byte of a non-ASCII character is >= 0x80, so dropping bytes drops exactly the characters
# that clean()'s [^A-Za-z0-9 ] drops.
_CLEAN_LOWER = np.zeros(256, dtype=np.uint8)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789 ":
    _CLEAN_LOWER[_c] = _c
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _CLEAN_LOWER[_c] = _c + 32
for _c in b"\n\t\r":
    _CLEAN_LOWER[_c] = 32
del _c


# The default counter's tokens: words of 2 to 20 letters. Digits and words longer than 20
# letters are not topic words: in 20 Newsgroups they are uuencoded attachments
# ("maxaxaxax..." over 31 letters), e-mail addresses run together by the cleaning, numbers
# and years. A piece of text that holds a digit or runs past 20 letters is dropped whole,
# not cut. Quality before and after: bench/vectorizer_quality.py, bench/RESULTS.md.
DEFAULT_TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,20}\b"
# scikit-learn's own token pattern (BERTopic's default): any 2+ letters or digits
SKLEARN_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

# token pattern -> the same rule as a full match on one cleaned, lower-cased, space-free
# piece of text (only [a-z0-9] remain there), for the Arrow counter (RE2 syntax)
_ARROW_TERMS = {DEFAULT_TOKEN_PATTERN: "^[a-z]{2,20}$", SKLEARN_TOKEN_PATTERN: "^[a-z0-9]{2,}$"}


def default_vectorizer():
    """The default counter: ``CountVectorizer(stop_words="english",
    token_pattern=DEFAULT_TOKEN_PATTERN)``, unigrams of 2 to 20 letters (BERTopic's default
    counter keeps any 2+ letters or digits, so uuencoded junk and numbers reach its topic
    words; pass ``CountVectorizer(stop_words="english")`` as ``vectorizer_model`` for that)."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(stop_words="english", token_pattern=DEFAULT_TOKEN_PATTERN)


def clean(docs: Sequence[str]) -> list[str]:
    """The cleaning BERTopic applies before counting English text: whitespace, punctuation."""
    return [_NON_ALNUM.sub("", _SPACE.sub(" ", d)) for d in docs]


def doc_term_matrix(vectorizer: Any, docs: Sequence[str], backend: Backend, fit: bool = True,
                    n_jobs: int | None = None):
    """Count terms of every document once: a CSR matrix (n_docs x n_terms) on ``backend``.

    The default vectorizer (:func:`default_vectorizer`), or scikit-learn's defaults with
    English stop words, is fitted with pyarrow.compute kernels when pyarrow is installed
    (``_arrow_fit_transform``): the same matrix as scikit-learn, several times faster.
    Other large corpora counted by a plain scikit-learn ``CountVectorizer`` (no min_df,
    max_df, max_features or fixed vocabulary) are cleaned and counted in parallel chunks
    whose vocabularies are merged afterwards: the same matrix as one ``fit_transform``.
    """
    try:
        X = _arrow_fit_transform(vectorizer, docs, n_jobs) if fit and _arrow_ok(vectorizer, docs) else None
        if X is None and fit and _parallel_ok(vectorizer, len(docs), n_jobs):
            X = _parallel_fit_transform(vectorizer, docs, n_jobs)
        elif X is None:
            cleaned = clean(docs)
            X = vectorizer.fit_transform(cleaned) if fit else vectorizer.transform(cleaned)
    except ValueError as exc:
        if "empty vocabulary" in str(exc):
            raise InputError(
                "No terms left to count: every document is empty or made of stop words only "
                f"({exc}). Pass documents with real words, or a vectorizer_model with other "
                "stop_words / min_df settings."
            ) from exc
        raise
    return backend.assparse(X)


PARALLEL_MIN_DOCS = 50_000


def _parallel_ok(vectorizer: Any, n_docs: int, n_jobs: int | None) -> bool:
    from sklearn.feature_extraction.text import CountVectorizer

    jobs = _jobs(n_jobs)
    return (
        type(vectorizer) is CountVectorizer
        and jobs > 1
        and n_docs >= PARALLEL_MIN_DOCS
        and vectorizer.min_df in (1, 1.0) and vectorizer.max_df in (1, 1.0)
        and vectorizer.max_features is None and vectorizer.vocabulary is None
    )


def _jobs(n_jobs: int | None) -> int:
    import os

    if n_jobs is None or n_jobs < 1:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return n_jobs


def fit_count(vectorizer: Any, docs: Sequence[str]):
    """``(sorted terms, CSR counts)`` of ``docs`` from a fresh copy of ``vectorizer`` (host
    arrays; no terms: an empty vocabulary), with the Arrow counter where it gives the same
    matrix (the default vectorizer), on one thread. Used per partition by the Dask path."""
    from sklearn.base import clone

    docs = docs if isinstance(docs, list) else list(docs)
    vec = clone(vectorizer)
    if _arrow_ok(vec, docs):
        try:
            X = _arrow_fit_transform(vec, docs, 1)
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            X = None  # stop words only: the scikit-learn path below returns no terms
        if X is not None:
            return np.asarray(vocabulary(vec), dtype=object), X
    return _count_chunk(vectorizer, docs)


def _count_chunk(vectorizer: Any, docs: Sequence[str]):
    from sklearn.base import clone

    vec = clone(vectorizer)
    try:
        X = vec.fit_transform(clean(docs))
    except ValueError as exc:  # a chunk of stop words only: no terms here
        if "empty vocabulary" not in str(exc):
            raise
        import scipy.sparse

        return np.array([], dtype=object), scipy.sparse.csr_matrix((len(docs), 0), dtype=np.int64)
    return vec.get_feature_names_out(), X.tocsr()


def _parallel_fit_transform(vectorizer: Any, docs: Sequence[str], n_jobs: int | None):
    import scipy.sparse
    from joblib import Parallel, delayed

    jobs = _jobs(n_jobs)
    size = -(-len(docs) // (jobs * 2))
    chunks = [docs[i:i + size] for i in range(0, len(docs), size)]
    parts = Parallel(n_jobs=jobs)(delayed(_count_chunk)(vectorizer, c) for c in chunks)
    vocab = np.unique(np.concatenate([terms for terms, _ in parts]))
    if vocab.size == 0:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    blocks = []
    for terms, X in parts:
        cols = np.searchsorted(vocab, terms)
        blocks.append(scipy.sparse.csr_matrix((X.data, cols[X.indices], X.indptr), shape=(X.shape[0], vocab.size)))
    X = scipy.sparse.vstack(blocks, format="csr")
    X.sort_indices()
    vectorizer.vocabulary_ = {str(t): i for i, t in enumerate(vocab.tolist())}
    vectorizer.fixed_vocabulary_ = False
    return X


def _pyarrow():
    """``pyarrow`` with its compute module, or None: it is optional (extra ``io``)."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
    except ImportError:
        return None
    return pyarrow


def _arrow_ok(vectorizer: Any, docs: Sequence[str]) -> bool:
    """True when the Arrow counter gives exactly ``vectorizer.fit_transform(clean(docs))``.

    That holds for a plain ``CountVectorizer`` whose parameters all equal
    ``CountVectorizer(stop_words="english", token_pattern=p).get_params()`` (lowercase,
    unigrams, no min_df/max_df/max_features/vocabulary, int64 counts ...) for a token pattern
    ``p`` of ``_ARROW_TERMS`` (the default's, or scikit-learn's own), on a sequence of ``str``.
    After ``clean`` a text holds only ASCII letters, digits and spaces, so ``\\b`` falls only
    at the ends of each space-separated piece, and such a pattern keeps a piece whole when
    the piece fully matches the pattern's rule (e.g. ``^[a-z]{2,20}$``), else nothing of it.
    Anything else (other settings, non-str items, no pyarrow) keeps the scikit-learn path
    and its behaviour, errors included.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if type(vectorizer) is not CountVectorizer or isinstance(docs, (str, bytes)):
        return False
    params = vectorizer.get_params()
    if params.get("token_pattern") not in _ARROW_TERMS:
        return False
    if params != CountVectorizer(stop_words="english", token_pattern=params["token_pattern"]).get_params():
        return False
    if not all(issubclass(t, str) for t in set(map(type, docs))):
        return False
    if _pyarrow() is None:
        logger.debug("pyarrow is not installed: counting terms with scikit-learn "
                     "(reinstall gputopic, which depends on pyarrow, for the faster Arrow counter)")
        return False
    return True


#: documents per chunk of the Arrow counter: its tokens and temporaries (~40 bytes per token)
#: are held only while it runs, one chunk per thread
ARROW_CHUNK_DOCS = 16_384


def _arrow_clean_lower(pa, texts):
    """``clean`` + lowercase on a large_string chunk, as NumPy byte operations on its buffers."""
    n = len(texts)
    buffers = texts.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[texts.offset:texts.offset + n + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(buffers[2], dtype=np.uint8)[start:stop] if stop > start else np.zeros(0, np.uint8)
    mapped = _CLEAN_LOWER[raw]
    dropped = np.flatnonzero(mapped == 0)
    offsets = offsets - start
    if dropped.size:
        mapped = mapped[mapped != 0]
        offsets = offsets - np.searchsorted(dropped, offsets)  # bytes dropped before each offset
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mapped))


def _arrow_tokens(pa, texts):
    """One chunk: cleaned, lowercased tokens as (dictionary, codes, row of each token)."""
    import pyarrow.compute as pc

    words = pc.ascii_split_whitespace(_arrow_clean_lower(pa, texts))
    rows = pc.list_parent_indices(words).to_numpy()
    tokens = pc.dictionary_encode(pc.list_flatten(words))
    return tokens.dictionary, tokens.indices.to_numpy(), rows


def _arrow_csr(codes, rows, lut, n_rows: int, n_terms: int):
    """Sorted-index CSR counts of one chunk from per-token codes and their dictionary->column map."""
    cols = lut[codes]
    keep = cols >= 0
    doc = rows[keep].astype(np.int64)  # non-decreasing: tokens come in document order
    key = doc * n_terms + cols[keep]
    key.sort()  # sorts columns within each row; the rows stay where they are
    if key.size:
        first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        counts = np.diff(np.append(first, key.size))
        doc = doc[first]
        col = key[first] - doc * n_terms
    else:
        counts, col = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        doc = col
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=n_rows), out=indptr[1:])
    return counts, col, indptr


def _arrow_chunk(pa, docs: Sequence[str], rule: str, stop):
    """One chunk of documents counted on its own: ``(terms, counts, cols, indptr)`` with the
    chunk's own sorted terms (those matching the token pattern's ``rule``, not in ``stop``)
    as columns. Only the chunk's text and tokens are held while it runs; what it returns is
    its part of the final matrix."""
    import pyarrow.compute as pc

    texts = pa.array(docs, type=pa.large_string())
    dictionary, codes, rows = _arrow_tokens(pa, texts)
    del texts
    terms = dictionary.filter(pc.and_(pc.match_substring_regex(dictionary, rule),
                                      pc.invert(pc.is_in(dictionary, value_set=stop))))
    terms = terms.take(pc.sort_indices(terms))  # byte order == str order: the text is ASCII
    lut = pc.index_in(dictionary, value_set=terms).fill_null(-1).to_numpy().astype(np.int64)
    counts, cols, indptr = _arrow_csr(codes, rows, lut, len(docs), len(terms))
    # held until the matrix is assembled: 8 bytes per stored count (a count or a chunk's
    # column past 2**31 - 1 cannot occur below 2**31 tokens per chunk)
    return terms, counts.astype(np.int32), cols.astype(np.int32), indptr


def _arrow_fit_transform(vectorizer: Any, docs: Sequence[str], n_jobs: int | None):
    """``vectorizer.fit_transform(clean(docs))`` with pyarrow.compute for the vectorizers
    :func:`_arrow_ok` admits, or None when Arrow cannot hold the documents (the caller then
    counts with scikit-learn).

    Chunks of at most ``ARROW_CHUNK_DOCS`` documents are counted on their own in a thread
    pool (NumPy and Arrow's C++ kernels release the GIL): each is turned into Arrow text,
    cleaned and lowercased by one byte table on its UTF-8 buffer, split on spaces,
    dictionary-encoded, and counted into CSR rows against the chunk's own sorted terms
    (the pieces that match the token pattern's rule and are not English stop words). The
    sorted union of the chunk terms is the vocabulary; each chunk's columns are remapped to
    it by a monotone map (a chunk's sorted terms keep their order in the union), so its
    rows stay sorted. Memory: the chunks in flight plus the final matrix, never the tokens
    or the Arrow text of the whole corpus. No Python code touches a single token.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.compute as pc
    import scipy.sparse
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    pa = _pyarrow()
    docs = docs if isinstance(docs, (list, tuple)) else list(docs)
    n = len(docs)
    jobs = min(_jobs(n_jobs), 32)
    size = max(1024, min(ARROW_CHUNK_DOCS, -(-n // (jobs * 4)) if n else 1))
    rule = _ARROW_TERMS[vectorizer.token_pattern]
    stop = pa.array(sorted(ENGLISH_STOP_WORDS), pa.large_string())
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            parts = list(pool.map(lambda i: _arrow_chunk(pa, docs[i:i + size], rule, stop), range(0, n, size)))
        except (UnicodeError, pa.ArrowException) as exc:  # e.g. lone surrogates, which UTF-8 cannot hold
            logger.debug("Arrow cannot hold these documents (%s): counting terms with scikit-learn", exc)
            return None
        vocab = pc.unique(pa.chunked_array([p[0] for p in parts], type=pa.large_string()))
        vocab = vocab.take(pc.sort_indices(vocab))
        n_terms = len(vocab)
        if n_terms == 0:
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        remaps = list(pool.map(lambda p: pc.index_in(p[0], value_set=vocab).to_numpy(zero_copy_only=False),
                               parts))

    nnz = sum(p[1].size for p in parts)
    index_dtype = np.int32 if max(n_terms, nnz) < np.iinfo(np.int32).max else np.int64
    data = np.empty(nnz, dtype=np.int64)
    indices = np.empty(nnz, dtype=index_dtype)
    indptr = np.zeros(n + 1, dtype=index_dtype)
    at = row = 0
    for k in range(len(parts)):  # filled part by part, each part dropped once copied
        _, counts, cols, ptr = parts[k]
        parts[k] = None
        m, rows = counts.size, ptr.size - 1
        data[at:at + m] = counts
        indices[at:at + m] = remaps[k].astype(np.int64)[cols]
        indptr[row + 1:row + rows + 1] = ptr[1:] + at
        at, row = at + m, row + rows
    X = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n, n_terms))
    X.has_sorted_indices = True
    vectorizer.vocabulary_ = {str(t): i for i, t in enumerate(vocab.to_pylist())}
    vectorizer.fixed_vocabulary_ = False
    return X


def vocabulary(vectorizer: Any) -> list[str]:
    """The vectorizer's terms in column order."""
    if hasattr(vectorizer, "get_feature_names_out"):
        return [str(t) for t in to_numpy(vectorizer.get_feature_names_out()).tolist()]
    return [str(t) for t in vectorizer.get_feature_names()]


def one_hot(labels, n_classes: int, backend: Backend):
    """Sparse (n_docs x n_classes) indicator matrix of integer class indices ``labels``."""
    xp, sp = backend.xp, backend.sp
    labels = xp.asarray(labels)
    n = labels.shape[0]
    if n and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError("class indices must lie in [0, n_classes)")
    ones = xp.ones(n, dtype=xp.float32)
    return sp.csr_matrix((ones, (xp.arange(n), labels)), shape=(n, n_classes))


def class_term_matrix(X, class_index, n_classes: int, backend: Backend):
    """Per-class term counts ``onehot(class_index).T @ X`` (n_classes x n_terms, CSR float)."""
    H = one_hot(class_index, n_classes, backend)
    return (H.T.tocsr() @ X.astype(backend.xp.float32)).tocsr()


def class_means(E, class_index, n_classes: int, backend: Backend):
    """Mean of the rows of dense ``E`` per class (n_classes x dim); empty classes give zeros."""
    xp = backend.xp
    H = one_hot(class_index, n_classes, backend)
    sums = H.T.tocsr() @ E
    counts = xp.asarray(H.sum(axis=0)).ravel()
    return sums / xp.maximum(counts, 1)[:, None]


def labels_to_index(topics) -> tuple[np.ndarray, np.ndarray]:
    """Map topic ids (``-1`` first, then ``0..K-1``) to dense row indices ``0..n-1``."""
    topics = np.asarray(topics)
    ids = np.unique(topics)
    return ids, np.searchsorted(ids, topics)
