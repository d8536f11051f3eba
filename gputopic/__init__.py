"""gputopic: GPU-accelerated topic modelling in the BERTopic family.

documents -> sentence embeddings -> UMAP -> HDBSCAN -> class-based TF-IDF topic words,
on the GPU when there is one (cuML or gputopic's own torch backend) and on the CPU
otherwise, with the same API.

>>> from gputopic import GPUTopic
>>> model = GPUTopic()
>>> topics, probs = model.fit_transform(docs)          # doctest: +SKIP
>>> model.get_topic_info()                              # doctest: +SKIP
"""

from .ctfidf import ClassTfidfTransformer
from .exceptions import (
    DeviceError,
    GPUTopicError,
    InputError,
    MissingDependencyError,
    ModelFileError,
    ModelSaveError,
    NotFittedError,
)
from .model import GPUTopic
from .represent import KeyBERTInspired, MaximalMarginalRelevance

__version__ = "0.2.0"

__all__ = [
    "GPUTopic",
    "ClassTfidfTransformer",
    "MaximalMarginalRelevance",
    "KeyBERTInspired",
    "GPUTopicError",
    "InputError",
    "NotFittedError",
    "DeviceError",
    "MissingDependencyError",
    "ModelFileError",
    "ModelSaveError",
    "__version__",
]
