"""gputopic's own GPU backend, written in torch: exact kNN, UMAP and HDBSCAN.

It runs wherever torch runs (CUDA GPUs without RAPIDS, and the CPU, where CI tests it).
The estimators here follow umap-learn's and hdbscan's parameters and semantics.
"""

from .knn import knn

__all__ = ["knn"]
