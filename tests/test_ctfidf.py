import math

import numpy as np
import pytest
import scipy.sparse as sp

from gputopic import ClassTfidfTransformer
from gputopic.exceptions import InputError, NotFittedError
from gputopic.represent import top_n_per_row

# two classes, three terms; row sums 3 and 4 -> A = int(3.5) = 3; term totals f = [2, 2, 3]
COUNTS = sp.csr_matrix(np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0]]))


def test_ctfidf_matches_hand_computed_values():
    got = ClassTfidfTransformer().fit_transform(COUNTS).toarray()
    l25, l2 = math.log(1 + 3 / 2), math.log(1 + 3 / 3)
    want = np.array([[2 / 3 * l25, 1 / 3 * l25, 0.0], [0.0, 1 / 4 * l25, 3 / 4 * l2]])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bm25_weighting_matches_hand_computed_values():
    got = ClassTfidfTransformer(bm25_weighting=True).fit_transform(COUNTS).toarray()
    i2, i3 = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)), math.log(1 + (3 - 3 + 0.5) / (3 + 0.5))
    want = np.array([[2 / 3 * i2, 1 / 3 * i2, 0.0], [0.0, 1 / 4 * i2, 3 / 4 * i3]])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_reduce_frequent_words_takes_square_root_of_tf():
    got = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(COUNTS).toarray()
    l25, l2 = math.log(2.5), math.log(2.0)
    want = np.array([[math.sqrt(2 / 3) * l25, math.sqrt(1 / 3) * l25, 0.0],
                     [0.0, math.sqrt(1 / 4) * l25, math.sqrt(3 / 4) * l2]])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_result_stays_sparse_with_the_same_pattern():
    out = ClassTfidfTransformer().fit_transform(COUNTS)
    assert sp.issparse(out) and out.nnz == COUNTS.nnz


def test_transform_before_fit_is_refused():
    with pytest.raises(NotFittedError, match="call fit"):
        ClassTfidfTransformer().transform(COUNTS)


def test_empty_matrix_is_refused():
    with pytest.raises(InputError, match="at least one class and one term"):
        ClassTfidfTransformer().fit(sp.csr_matrix((0, 3)))


def test_top_n_per_row_equals_dense_argsort():
    rng = np.random.default_rng(0)
    dense = rng.random((7, 50)) * (rng.random((7, 50)) < 0.3)
    M = sp.csr_matrix(dense)
    got = top_n_per_row(M, 5)
    for r in range(7):
        nz = np.flatnonzero(dense[r])
        want = nz[np.lexsort((nz, -dense[r, nz]))][:5]
        assert [c for c, _ in got[r]] == want.tolist()
        np.testing.assert_allclose([v for _, v in got[r]], dense[r, want])
