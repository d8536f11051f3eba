import numpy as np
import scipy.sparse as sp

from gputopic.device import get_backend
from gputopic.vectorize import (class_means, class_term_matrix, clean, default_vectorizer, doc_term_matrix,
                                labels_to_index, vocabulary)

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

    want = CountVectorizer(vocabulary=vec.vocabulary_, stop_words="english").transform(joined).toarray()
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
