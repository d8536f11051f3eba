import numpy as np
import scipy.sparse as sp

from gputopic.device import get_backend
import pytest

from gputopic.vectorize import (DEFAULT_TOKEN_PATTERN, SKLEARN_TOKEN_PATTERN, class_means, class_term_matrix, clean,
                                default_vectorizer, doc_term_matrix, labels_to_index, vocabulary)

DOCS = ["Apples and pears, apples!", "Pears are green.\nApples are red", "Cars drive fast",
        "fast cars; red cars", "green apples\tand red cars", "pears"]
TOPICS = np.array([0, 0, 1, 1, -1, 0])


def test_per_topic_counts_equal_counting_joined_strings():
    cpu = get_backend("cpu")
    ids, index = labels_to_index(TOPICS)
    vec = default_vectorizer()
    X = doc_term_matrix(vec, DOCS, cpu)
    per_topic = class_term_matrix(X, index, len(ids), cpu).toarray()

    # BERTopic's way: one giant string per topic, counted with the same vocabulary
    joined = [" ".join(clean([d for d, t in zip(DOCS, TOPICS) if t == topic])) for topic in ids]
    from sklearn.feature_extraction.text import CountVectorizer

    want = CountVectorizer(vocabulary=vec.vocabulary_, stop_words="english",
                           token_pattern=DEFAULT_TOKEN_PATTERN).transform(joined).toarray()
    np.testing.assert_array_equal(per_topic, want)
    assert per_topic.sum() > 0


def test_labels_to_index_puts_outliers_first():
    ids, index = labels_to_index(np.array([2, -1, 0, 2]))
    assert ids.tolist() == [-1, 0, 2] and index.tolist() == [2, 0, 1, 2]


def test_class_means_are_means_of_member_rows():
    cpu = get_backend("cpu")
    E = np.arange(12, dtype=np.float32).reshape(4, 3)
    got = class_means(E, np.array([0, 1, 0, 1]), 2, cpu)
    np.testing.assert_allclose(got, [E[[0, 2]].mean(0), E[[1, 3]].mean(0)])


def test_doc_term_matrix_is_csr():
    X = doc_term_matrix(default_vectorizer(), DOCS, get_backend("cpu"))
    assert sp.isspmatrix_csr(X) and X.shape[0] == len(DOCS)


def test_parallel_counting_equals_one_fit_transform(monkeypatch):
    import gputopic.vectorize as vz

    docs = [f"{d} extra{i % 7}" for i, d in enumerate(DOCS * 40)]
    cpu = get_backend("cpu")
    one = default_vectorizer()
    X1 = doc_term_matrix(one, docs, cpu)
    monkeypatch.setattr(vz, "PARALLEL_MIN_DOCS", 10)
    monkeypatch.setattr(vz, "_arrow_ok", lambda vectorizer, docs: False)  # test the joblib path itself
    par = default_vectorizer()
    assert vz._parallel_ok(par, len(docs), 2)
    X2 = doc_term_matrix(par, docs, cpu, n_jobs=2)
    assert vocabulary(par) == vocabulary(one)
    assert (X1 != X2).nnz == 0 and X1.dtype == X2.dtype


def test_representative_docs_match_a_per_class_loop():
    from gputopic import ClassTfidfTransformer
    from gputopic.represent import representative_docs

    rng = np.random.default_rng(1)
    X = sp.csr_matrix(rng.poisson(0.4, size=(40, 30)).astype(np.int64))
    classes = rng.integers(0, 4, size=40)
    cpu = get_backend("cpu")
    M = ClassTfidfTransformer().fit_transform(class_term_matrix(X, classes, 4, cpu))
    got = representative_docs(X, M, classes, n=3)
    dense, Md = X.toarray().astype(float), M.toarray()
    for c in range(4):
        members = np.flatnonzero(classes == c)
        norms = np.linalg.norm(dense[members], axis=1) * np.linalg.norm(Md[c])
        scores = np.where(norms > 0, dense[members] @ Md[c] / np.maximum(norms, 1e-300), -1.0)
        want = members[np.lexsort((members, -scores))][:3]
        assert got[c] == want.tolist()


def test_default_tokens_are_words_of_2_to_20_letters():
    docs = ["Windows 3.1 and OS/2 on a 486 with x11r5, mp3 files",
            "begin 644 file.uue MAXAXAXAXAXAXAXAXAXAXAXAXAXAXAX telecommunications internationalisation"]
    vec = default_vectorizer()
    doc_term_matrix(vec, docs, get_backend("cpu"))
    # the cleaning drops punctuation first ("OS/2" -> "os2", "file.uue" -> "fileuue"); then
    # numbers and pieces holding a digit go whole (not "x" + "r"); so do runs over 20 letters
    # (uuencoded lines, e-mail addresses run together); words of up to 20 letters stay
    assert vocabulary(vec) == ["begin", "files", "fileuue", "internationalisation", "telecommunications", "windows"]
    old = default_vectorizer().set_params(token_pattern=SKLEARN_TOKEN_PATTERN)
    doc_term_matrix(old, docs, get_backend("cpu"))
    assert {"486", "x11r5", "mp3", "644", "maxaxaxaxaxaxaxaxaxaxaxaxaxaxax"} <= set(vocabulary(old))


# ---- the Arrow counter: exactly vectorizer.fit_transform(clean(docs)) for the default vectorizer
# and for scikit-learn's token pattern

TRICKY = [
    "", "   ", "!!! ??? ...", "a b c d e", "I", "The THE the AND and Of", "THE Quick BROWN fox",
    "café naïve résumé Ångström Straße İstanbul", "東京 は 大きい 都市 tokyo2020", "emoji 🎉🎉 party🎉time 👍🏽ok",
    "digits 123 4567 ٣٤٥ ５６ x² ½", "tabs\tand\nnewlines\r\nand  many     spaces",
    "vertical\x0btab form\x0cfeed nbsp\xa0joins zero\u200bwidth", "don't e-mail U.S.A. C++ c# x86_64 foo_bar",
    "ﬁle ligature Kelvin \u212a sign", "RT @user: Check http://t.co/AbC123 #Health", "aa" * 50,
    "mixedCASE MixedCase MIXEDCASE mixedcase", "stop WORDS like ABOUT Above afterwards are dropped",
    "\u00a0", "ab\u0301c combining", "99 bottles of beer 99",
]


def _sklearn_counts(docs, **params):
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(**{"stop_words": "english", "token_pattern": DEFAULT_TOKEN_PATTERN, **params})
    return vec, vec.fit_transform(clean(docs)).tocsr()


def _assert_same_counts(docs, pattern=DEFAULT_TOKEN_PATTERN):
    import gputopic.vectorize as vz

    want_vec, want = _sklearn_counts(docs, token_pattern=pattern)
    vec = default_vectorizer().set_params(token_pattern=pattern)
    assert vz._arrow_ok(vec, docs)
    got = doc_term_matrix(vec, docs, get_backend("cpu"))
    assert sp.isspmatrix_csr(got) and got.has_sorted_indices
    for i in range(got.shape[0]):  # strictly increasing columns within each row
        row = got.indices[got.indptr[i]:got.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)
    assert got.shape == want.shape and got.dtype == want.dtype == np.int64
    assert got.indices.dtype == want.indices.dtype
    assert vec.vocabulary_ == want_vec.vocabulary_
    assert vocabulary(vec) == want_vec.get_feature_names_out().tolist()
    assert (got != want).nnz == 0
    return got


PATTERNS = pytest.mark.parametrize("pattern", [DEFAULT_TOKEN_PATTERN, SKLEARN_TOKEN_PATTERN],
                                   ids=["default", "sklearn"])


@PATTERNS
def test_arrow_counts_equal_sklearn_on_tricky_text(pattern):
    got = _assert_same_counts(TRICKY + ["abcdefghijklmnopqrst abcdefghijklmnopqrstu a1 1a"], pattern)
    assert got.sum() > 0


@PATTERNS
def test_arrow_counts_equal_sklearn_in_many_chunks(monkeypatch, pattern):
    import gputopic.vectorize as vz

    docs = [f"{d} w{i % 13} Word{i % 5}" for i, d in enumerate(TRICKY * 150)]
    monkeypatch.setattr(vz, "ARROW_CHUNK_DOCS", 1024)
    _assert_same_counts(docs, pattern)


@PATTERNS
def test_arrow_counts_equal_sklearn_on_real_corpora(pattern):
    from conftest import load_corpus

    for name in ("20newsgroups", "health_news_tweets"):
        docs, _ = load_corpus(name, n=3000)
        _assert_same_counts(docs, pattern)


@pytest.mark.parametrize("chunk,jobs", [(1024, 1), (1024, 3), (4096, 2), (65_536, 2)])
def test_chunked_counts_equal_serial_counts_on_real_text(monkeypatch, chunk, jobs):
    """Chunks counted on their own in threads, their vocabularies merged and columns remapped:
    the same CSR and vocabulary as one scikit-learn fit_transform, whatever the chunking."""
    import gputopic.vectorize as vz
    from conftest import load_corpus

    monkeypatch.setattr(vz, "ARROW_CHUNK_DOCS", chunk)
    docs = load_corpus("20newsgroups", n=2500)[0] + load_corpus("health_news_tweets", n=6000)[0]
    want_vec, want = _sklearn_counts(docs)
    vec = default_vectorizer()
    got = vz._arrow_fit_transform(vec, docs, jobs)
    assert got.has_sorted_indices and got.indices.dtype == want.indices.dtype
    assert got.shape == want.shape and got.dtype == want.dtype and (got != want).nnz == 0
    want.sort_indices()  # scikit-learn leaves columns unsorted within rows: compare canonical forms
    assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.data, want.data)
    assert vec.vocabulary_ == want_vec.vocabulary_


def test_arrow_counter_only_for_the_default_vectorizer():
    import gputopic.vectorize as vz
    from sklearn.feature_extraction.text import CountVectorizer

    docs = TRICKY * 3
    for params in ({"ngram_range": (1, 2)}, {"min_df": 2}, {"lowercase": False}, {"binary": True},
                   {"token_pattern": r"(?u)\b\w+\b"}, {"stop_words": None}, {"dtype": np.int32}):
        vec = CountVectorizer(**{"stop_words": "english", "token_pattern": DEFAULT_TOKEN_PATTERN, **params})
        assert not vz._arrow_ok(vec, docs), params
        want_vec, want = _sklearn_counts(docs, **params)
        got = doc_term_matrix(vec, docs, get_backend("cpu"))
        assert vocabulary(vec) == want_vec.get_feature_names_out().tolist()
        assert got.dtype == want.dtype and (got != want).nnz == 0, params
    assert not vz._arrow_ok(default_vectorizer(), [b"bytes are not str"])
    assert not vz._arrow_ok(default_vectorizer(), "one string")


def test_arrow_counter_falls_back_without_pyarrow_or_utf8(monkeypatch):
    import gputopic.vectorize as vz

    docs = ["lone \ud800surrogate cannot be utf8", "second document here"]
    want_vec, want = _sklearn_counts(docs)
    vec = default_vectorizer()
    got = doc_term_matrix(vec, docs, get_backend("cpu"))  # Arrow refuses the surrogate: sklearn path
    assert vocabulary(vec) == want_vec.get_feature_names_out().tolist() and (got != want).nnz == 0
    monkeypatch.setattr(vz, "_pyarrow", lambda: None)
    assert not vz._arrow_ok(default_vectorizer(), TRICKY)
    vec = default_vectorizer()
    got = doc_term_matrix(vec, TRICKY, get_backend("cpu"))
    assert (got != _sklearn_counts(TRICKY)[1]).nnz == 0


def test_arrow_counter_empty_vocabulary_is_an_input_error():
    import pytest

    import gputopic.vectorize as vz
    from gputopic.exceptions import InputError

    for docs in (["the and of", "a I é !!"], [""], []):
        vec = default_vectorizer()
        assert vz._arrow_ok(vec, docs)
        with pytest.raises(InputError, match="No terms left to count"):
            doc_term_matrix(vec, docs, get_backend("cpu"))
