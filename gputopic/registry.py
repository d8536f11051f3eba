"""Backend registries for the ``umap_model`` and ``hdbscan_model`` slots.

A slot takes ``None``/``"auto"``, a backend name, or a model object used as given. Each
backend is one :class:`Implementation` in its stage's :class:`Registry` (see
:data:`gputopic.reduce.REDUCERS` and :data:`gputopic.cluster.CLUSTERERS`): its names, the
devices it runs on, how to build it with BERTopic's defaults, whether it takes device
(CuPy) arrays, and how to recognise a fitted model of it. To add a backend, add one entry.

``"auto"`` picks the measured default: gputopic's native backend on CUDA (cuML is used when
named, or passed as an object, until it has run on a GPU in this project), the entry marked
``cpu_default`` on the CPU.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .device import Backend, to_numpy
from .exceptions import InputError


@dataclass(frozen=True)
class Implementation:
    """One backend of a slot."""

    name: str
    aliases: tuple[str, ...]
    devices: tuple[str, ...]
    build: Callable[..., Any]  # build(device=..., **slot parameters) -> unfitted model
    device_arrays: bool = False  # takes CuPy input as is on the GPU
    owns: Callable[[Any], bool] = lambda model: False  # is ``model`` one of this backend's
    cpu_default: bool = False
    gpu_default: bool = False


class Registry:
    """The backends of one slot, by name; ``resolve`` turns a slot value into a backend."""

    def __init__(self, slot: str, entries: list[Implementation]):
        self.slot = slot
        self.entries = {e.name: e for e in entries}
        self.names = {alias: e.name for e in entries for alias in (e.name, *e.aliases)}

    def known(self) -> list[str]:
        return ["auto", *sorted(self.names)]

    def resolve(self, spec: Any, device: str) -> Implementation:
        """The backend a ``None``/string slot value selects on ``device``."""
        key = "auto" if spec is None else str(spec).lower()
        if key == "auto":
            flag = "gpu_default" if device == "cuda" else "cpu_default"
            return next(e for e in self.entries.values() if getattr(e, flag))
        if key not in self.names:
            raise InputError(f"Unknown {self.slot} {spec!r}: use one of {self.known()} or pass a model object.")
        entry = self.entries[self.names[key]]
        if device not in entry.devices:
            raise InputError(f"{self.slot}={spec!r} runs on {' or '.join(entry.devices)} only; this fit runs on "
                             f"{device}: use device='cuda' (or 'auto' on a GPU machine), or another backend.")
        return entry

    def build(self, spec: Any, device: str, **params) -> Any:
        return self.resolve(spec, device).build(device=device, **params)

    def entry_of(self, model: Any) -> Implementation | None:
        """The backend a model object belongs to, or None for any other object."""
        return next((e for e in self.entries.values() if e.owns(model)), None)


def accepts_device_arrays(model: Any, *registries: Registry) -> bool:
    """True for models that take CuPy input: gputopic's native estimators (which declare it)
    and the backends registered as taking device arrays."""
    if getattr(model, "_gputopic_device_arrays", False):
        return True
    return any(e is not None and e.device_arrays for e in (r.entry_of(model) for r in registries))


def feed(model: Any, X, backend: Backend, registries: tuple[Registry, ...]):
    """``X`` as ``model`` takes it: device arrays for models that accept them, else NumPy."""
    return X if (backend.is_gpu and accepts_device_arrays(model, *registries)) else to_numpy(X)


def takes(method: Any, name: str) -> bool:
    """Whether ``method`` declares a parameter ``name`` (e.g. scikit-learn's ``fit(X, y=None)``)."""
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def needs(method: Any, name: str) -> bool:
    """Whether ``method`` has a parameter ``name`` without a default (a classifier's ``fit(X, y)``)."""
    if not takes(method, name):
        return False
    return inspect.signature(method).parameters[name].default is inspect.Parameter.empty
