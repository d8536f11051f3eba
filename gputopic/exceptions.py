"""The exceptions gputopic raises.

Every error the library raises on purpose derives from :class:`GPUTopicError`, so
``except gputopic.GPUTopicError`` catches all of them. Each also derives from the
built-in exception a Python user would expect (``ValueError`` for bad input,
``ImportError`` for a missing optional dependency, ...), so code written against
scikit-learn or BERTopic keeps working.

Hierarchy::

    GPUTopicError
    ├── InputError(ValueError)              bad documents, embeddings or parameters
    ├── NotFittedError(ValueError, AttributeError)   a fitted attribute used before fit
    ├── DeviceError(RuntimeError)           unknown device, CUDA asked for but absent
    ├── MissingDependencyError(ImportError) an optional package is not installed
    └── ModelFileError(ValueError)          a saved model that is corrupt, altered or incompatible
        └── ModelSaveError(OSError)         a model folder that cannot be written
"""

from __future__ import annotations

__all__ = [
    "GPUTopicError",
    "InputError",
    "NotFittedError",
    "DeviceError",
    "MissingDependencyError",
    "ModelFileError",
    "ModelSaveError",
]


class GPUTopicError(Exception):
    """Base class of every error gputopic raises on purpose."""


class InputError(GPUTopicError, ValueError):
    """Documents, embeddings or parameters that cannot be used; the message says how to fix them."""


class NotFittedError(GPUTopicError, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit`` (or ``load``)."""


class DeviceError(GPUTopicError, RuntimeError):
    """The requested device is unknown or not available on this machine."""


class MissingDependencyError(GPUTopicError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class ModelFileError(GPUTopicError, ValueError):
    """A saved model directory is missing files, corrupted, truncated, altered, holds special
    files or links, or is from an incompatible version (see docs/security.md)."""


class ModelSaveError(ModelFileError, OSError):
    """``save`` could not write the model folder (permissions, a file in the way, disk full);
    the folder still holds what it held before. Also an ``OSError``, as the failure is."""
