"""Small, fast stand-ins for the heavy stages, so contract and error tests run in seconds."""

from __future__ import annotations

import numpy as np


class HashingEncoder:
    """An embedding model with ``encode()``: hashed bag of words, L2-normalised, 64 dims."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, docs):
        from sklearn.feature_extraction.text import HashingVectorizer

        X = HashingVectorizer(n_features=self.dim, alternate_sign=False, norm="l2", stop_words="english").transform(docs)
        return X.toarray().astype(np.float32)


def fast_model(**kwargs):
    """A GPUTopic on the CPU with PCA + KMeans instead of UMAP + HDBSCAN."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from gputopic import GPUTopic

    params = dict(
        embedding_model=HashingEncoder(),
        umap_model=PCA(n_components=5, random_state=0),
        hdbscan_model=KMeans(n_clusters=3, n_init=3, random_state=0),
        device="cpu",
        min_topic_size=2,
    )
    params.update(kwargs)
    return GPUTopic(**params)


TOY_DOCS = (
    ["the cat sat on the mat and the cat purred", "a cat and a kitten purred on the mat",
     "my cat chased the kitten off the mat", "the kitten and the cat purred softly"] * 5
    + ["stocks fell as the market closed and shares slid", "the market rallied and stocks and shares rose",
       "investors sold shares as the stock market fell", "stocks and shares lifted the market today"] * 5
    + ["the football team won the match with a late goal", "a goal won the football match for the team",
       "the team scored a goal and won the football match", "fans cheered the football team after the match"] * 5
)
