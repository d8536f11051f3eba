"""Topic distributions of documents (BERTopic's ``approximate_distribution``) and the
counting of new text in a fitted model's terms.

A document's token sets (windows of ``window`` tokens every ``stride`` tokens) are counted
and weighted like the topics, their cosine similarities with the topics' c-TF-IDF rows
below ``min_similarity`` dropped and the rest summed per document. For a plain unigram
``CountVectorizer`` the windows are summed from term ids by array arithmetic instead of
joining and tokenising every window again.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from ._params import fresh, param_value
from ._validation import check_int, check_number
from .ctfidf import ClassTfidfTransformer
from .device import get_backend, host_sparse, to_numpy
from .exceptions import InputError
from .represent import unit_rows
from .state import FittedState
from .vectorize import DEFAULT_TOKEN_PATTERN, SKLEARN_TOKEN_PATTERN, default_vectorizer, one_hot


def sub_model(model: Any, state: FittedState, name: str, explicit: Any = None, copy: bool = True):
    """The sub-model for slot ``name``: the one passed, else the fitted one, else the
    parameter, as an unfitted copy when ``copy`` (vectorizer and c-TF-IDF models are fitted
    again; a representation model is used as it is). A loaded model whose custom object was
    not saved needs the user to set it again."""
    value = explicit if explicit is not None else getattr(state, name, None)
    if value is None:
        value = param_value(model, name)
        if value is None and name in state.unsaved_slots:
            raise InputError(
                f"This model was saved with a custom {name}, which save() does not store: set "
                f"model.{name} to an equal object (or pass {name}= where the method takes it) first."
            )
    return fresh(value) if copy and value is not None else value


def fitted_counting(model: Any, state: FittedState, what: str):
    """The fitted vectorizer and a host copy of the c-TF-IDF model (its idf as NumPy), which
    count and weight new text in the topics' terms on the host, where the similarities are
    taken (no trip to the device and back per batch).

    A loaded or merged model has neither: it counts with its vectorizer's settings restricted
    to the saved vocabulary and weights with the saved idf (a topic operation such as
    ``update_topics(docs)`` fits both again)."""
    vectorizer, ctfidf = state.vectorizer_model, state.ctfidf_model
    if vectorizer is not None and ctfidf is not None:
        host = copy.copy(ctfidf)
        host.idf_ = to_numpy(ctfidf.idf_)
        return vectorizer, host
    idf = state.saved_idf
    if idf is None:
        raise InputError(
            f"{what} needs the fitted vectorizer and c-TF-IDF weights, which this loaded model lacks (it was "
            "saved without the idf): call update_topics(docs) with the training documents first, or use "
            "reduce_outliers(..., strategy='embeddings')."
        )
    vectorizer = sub_model(model, state, "vectorizer_model") or default_vectorizer()
    ctfidf = sub_model(model, state, "ctfidf_model") or ClassTfidfTransformer()
    try:
        vectorizer.set_params(vocabulary=list(state.vocabulary))
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{what} on a loaded model restricts the vectorizer to the saved vocabulary, which "
                         f"{type(vectorizer).__name__} does not allow ({exc}): call update_topics(docs) first.") from exc
    ctfidf.idf_ = np.asarray(idf)
    return vectorizer, ctfidf


def topic_rows(sizes: dict, M, ids):
    """The rows of ``M`` (one per topic of ``sizes``, in increasing id order: a c-TF-IDF
    matrix or topic embeddings) of the topics ``ids``, on the host (SciPy CSR or NumPy)."""
    rows = np.searchsorted(np.asarray(sorted(sizes)), np.asarray(ids, dtype=np.int64))
    return host_sparse(M)[rows] if hasattr(M, "tocsr") else to_numpy(M)[rows]


def real_topic_rows(state: FittedState):
    """The c-TF-IDF rows of the real topics (no -1), on the host, in topic id order."""
    return topic_rows(state.topic_sizes, state.c_tf_idf, [t for t in state.ids if t >= 0])


def window_ranges(n: int, window: int, stride: int, padding: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, lengths)`` of the token sets of a text of ``n`` tokens (BERTopic's): windows
    of ``window`` consecutive tokens, one every ``stride`` tokens; a text shorter than the
    window is one set; without ``padding`` shorter windows at the end are dropped, with it
    the end's and the start's partial windows are kept."""
    if n < window:
        return np.zeros(1, dtype=np.int64), np.asarray([n], dtype=np.int64)
    starts = np.arange(0, n, stride, dtype=np.int64)
    lengths = np.minimum(window, n - starts)
    if not padding:
        return starts[lengths == window], lengths[lengths == window]
    lead = -(-window // stride) - 1  # ceil(window / stride) - 1 partial windows before the first
    return (np.concatenate([np.zeros(lead, dtype=np.int64), starts]),
            np.concatenate([window - (lead - np.arange(lead, dtype=np.int64)) * stride, lengths]))


def token_sets(tokens: list[str], window: int, stride: int, padding: bool) -> list[list[str]]:
    """The token sets of :func:`window_ranges` as lists of tokens."""
    return [tokens[s:s + ln] for s, ln in zip(*window_ranges(len(tokens), window, stride, padding))]


def approximate_distribution(model: Any, state: FittedState, docs: list[str], window: int = 4, stride: int = 1,
                             min_similarity: float = 0.1, batch_size: int | None = 1000,
                             padding: bool = False, calculate_tokens: bool = False):
    """Topic distributions of ``docs`` (documents x real topics, rows summing to 1, or 0 for
    a document similar to no topic), BERTopic's approximation: each document's token sets
    (:func:`token_sets` of the fitted vectorizer's tokenizer on the text as given, as
    BERTopic) are counted and weighted like the topics (fitted vectorizer and c-TF-IDF model); the
    cosine similarities of a set's row with the topics' c-TF-IDF rows below
    ``min_similarity`` are zeroed, the rest summed over the document's sets and L1-normalised.
    Returns ``(distributions, token distributions or None)``. With ``calculate_tokens``,
    each token gets the summed similarities of the sets that hold it (a tokens x topics
    array per document; one zero row for a document without tokens), and, as in BERTopic,
    a document's distribution is then the L1-normalised sum of its tokens' rows.
    """
    check_int("window", window, 1)
    check_int("stride", stride, 1)
    check_int("batch_size", batch_size, 1, none_ok=True)
    min_similarity = check_number("min_similarity", min_similarity)
    vectorizer, ctfidf = fitted_counting(model, state, "approximate_distribution")
    topics = real_topic_rows(state)
    if not callable(getattr(vectorizer, "build_tokenizer", None)):
        raise InputError(f"approximate_distribution splits documents with the vectorizer's build_tokenizer(), "
                         f"which {type(vectorizer).__name__} does not have: use a scikit-learn text vectorizer.")
    host = get_backend("cpu")
    topics_n = unit_rows(topics).T.tocsr()
    out = np.zeros((len(docs), topics.shape[0]), dtype=np.float64)
    per_token: list[np.ndarray] | None = [] if calculate_tokens else None
    step = batch_size or max(len(docs), 1)
    for start in range(0, len(docs), step):
        X, owner, ranges = window_counts(vectorizer, docs[start:start + step], int(window), int(stride),
                                         bool(padding))
        # cosine similarities, windows x topics, kept sparse
        sims = (unit_rows(ctfidf.transform(X.tocsr())) @ topics_n).tocsr()
        sims.data[sims.data < min_similarity] = 0.0
        sims.eliminate_zeros()
        if per_token is None:
            out[start:start + step] = (one_hot(owner, min(step, len(docs) - start), host).T.tocsr() @ sims).toarray()
            continue
        first = 0
        for i, (starts, lengths, n) in enumerate(ranges):
            rows = sims[first:first + starts.size].toarray()
            first += starts.size
            # each set adds its similarities to the tokens it holds (a token in no set keeps a
            # zero row): a difference array, summed up
            diff = np.zeros((n + 1, rows.shape[1]))
            np.add.at(diff, starts, rows)
            np.add.at(diff, starts + lengths, -rows)
            tokens = np.cumsum(diff, axis=0)[:n] if n else np.zeros((1, rows.shape[1]))
            per_token.append(tokens)
            out[start + i] = tokens.sum(axis=0)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-300), per_token


# token patterns under which a window's joined tokens split back into the same tokens
_WORD_PATTERNS = (SKLEARN_TOKEN_PATTERN, DEFAULT_TOKEN_PATTERN)


def _plain_unigram_counter(vectorizer: Any) -> bool:
    """A scikit-learn CountVectorizer whose count of a window's joined tokens is the count of
    the tokens themselves (lower-cased, stop words and unknown terms dropped): word unigrams,
    scikit-learn's or gputopic's default token pattern, no custom tokenizer, preprocessor or
    accent stripping."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return (type(vectorizer) is CountVectorizer and vectorizer.analyzer == "word"
            and tuple(vectorizer.ngram_range) == (1, 1) and vectorizer.tokenizer is None
            and vectorizer.preprocessor is None and vectorizer.strip_accents is None and not vectorizer.binary
            and vectorizer.token_pattern in _WORD_PATTERNS and hasattr(vectorizer, "vocabulary_"))


def window_counts(vectorizer: Any, docs: Sequence[str], window: int, stride: int, padding: bool):
    """The term counts of every token set of ``docs`` (:func:`window_ranges` of the
    vectorizer's tokenizer), the document of each, and each document's sets and number of
    tokens: ``(X, owner, [(starts, lengths, n_tokens), ...])``.

    In general each set is joined with spaces and counted by ``vectorizer.transform`` (as
    BERTopic does); for a plain unigram ``CountVectorizer`` each token is looked up once and
    the windows are summed from the term ids by array arithmetic (the same matrix, without
    joining and tokenising every window again)."""
    import re

    tokenize = vectorizer.build_tokenizer()
    tokens = [tokenize(d) for d in docs]
    ranges = [window_ranges(len(toks), window, stride, padding) + (len(toks),) for toks in tokens]
    plain = _plain_unigram_counter(vectorizer)
    if plain and vectorizer.lowercase:
        # a lower-cased non-ASCII token may stop being one token ("İ" lower-cases to two code
        # points): then count the joined windows as the vectorizer does
        pattern = re.compile(vectorizer.token_pattern)
        plain = all(pattern.fullmatch(t.lower()) for toks in tokens for t in toks if not t.isascii())
    owner = np.repeat(np.arange(len(docs), dtype=np.int64), [r[0].size for r in ranges])
    if not plain:
        sentences = [" ".join(toks[s:s + ln]) for toks, (starts, lengths, _) in zip(tokens, ranges)
                     for s, ln in zip(starts, lengths)]
        return vectorizer.transform(sentences), owner, ranges
    import scipy.sparse as sp

    vocab, stop = vectorizer.vocabulary_, vectorizer.get_stop_words() or ()
    lower = vectorizer.lowercase
    ids = []
    for toks in tokens:
        words = [t.lower() for t in toks] if lower else toks
        ids.append([-1 if w in stop else vocab.get(w, -1) for w in words])
    offsets = np.cumsum([0] + [len(toks) for toks in tokens])[:-1]
    flat = np.asarray([t for doc in ids for t in doc], dtype=np.int64)
    starts = np.concatenate([s + off for (s, _, _), off in zip(ranges, offsets)])
    lengths = np.concatenate([ln for _, ln, _ in ranges])
    row = np.repeat(np.arange(lengths.size), lengths)
    pos = np.arange(row.size) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    col = flat[pos] if pos.size else np.zeros(0, dtype=np.int64)
    keep = col >= 0
    X = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.int64), (row[keep], col[keep])),
                      shape=(lengths.size, len(vocab)))
    X.sum_duplicates()
    return X, owner, ranges
