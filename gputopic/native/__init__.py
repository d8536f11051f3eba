"""gputopic's own GPU backend, written in torch: exact kNN, UMAP and HDBSCAN.

It runs wherever torch runs (CUDA GPUs without RAPIDS, and the CPU, where CI tests it).
The estimators follow umap-learn's and hdbscan's parameters and semantics; the module
docstrings of :mod:`.umap` and :mod:`.hdbscan` list where they differ.
"""

from .hdbscan import HDBSCAN
from .knn import knn
from .umap import UMAP

__all__ = ["HDBSCAN", "UMAP", "knn"]
