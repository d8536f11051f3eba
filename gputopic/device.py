"""The one module that knows which array library is in use.

Everything else asks this module for a :class:`Backend` (the array namespace ``xp``
and the sparse namespace ``sp`` of one device) or for conversions between NumPy,
CuPy, torch and cuDF. CuPy, cuML, cuDF and torch are imported lazily, only here.

``device="auto"`` resolves to ``"cuda"`` when a CUDA GPU is visible to torch or CuPy,
and to ``"cpu"`` otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from .exceptions import DeviceError, InputError, MissingDependencyError

logger = logging.getLogger("gputopic")

DEVICES = ("auto", "cpu", "cuda")

# Which `pip install gputopic[...]` extra brings each optional module.
_EXTRAS = {
    "cupy": "gputopic[gpu]",
    "cupyx": "gputopic[gpu]",
    "cuml": "gputopic[rapids-cu12] (or rapids-cu13)",
    "cudf": "gputopic[rapids-cu12] (or rapids-cu13)",
    "dask": "gputopic[dask]",
    "distributed": "gputopic[dask]",
    "dask_cuda": "gputopic[dask-cuda]",
    "pyarrow": "gputopic[io]",
    "onnxruntime": "gputopic[onnx]",
    "onnx": "gputopic[onnx]",
    "plotly": "gputopic[plot]",
}


def optional_import(name: str, purpose: str = "") -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependencyError` naming its extra."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        extra = _EXTRAS.get(top)
        how = f"pip install '{extra}'" if extra else f"pip install {top.replace('_', '-')}"
        why = f" (needed for {purpose})" if purpose else ""
        if _installed(top) and getattr(exc, "name", None) != name:
            # the package is there but one of its own imports failed (dask_cuda without cuda-core
            # or cuda-bindings, say): name that module rather than claim the package is missing
            raise MissingDependencyError(
                f"The optional package {top!r} is installed but importing {name!r} failed{why}: "
                f"{type(exc).__name__}: {exc}. Install what it needs (for instance with: {how})."
            ) from exc
        raise MissingDependencyError(
            f"The optional package {top!r} is not installed{why}. Install it with: {how}"
        ) from exc


def _installed(top: str) -> bool:
    """Whether a top-level package can be found, without importing it."""
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[top] is None (import blocked)
        return False


_BROKEN: set[str] = set()


def try_import(name: str) -> ModuleType | None:
    """``name`` imported, or None when it is not installed. An installed package whose import
    fails (a broken CUDA install raises more than ImportError) is also None, and logged once:
    otherwise ``device="auto"`` would fall back to the CPU without a word."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name.split(".")[0] or exc.name == name:
            return None
        error = exc
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install raises more than ImportError
        error = exc
    if name not in _BROKEN:
        _BROKEN.add(name)
        logger.warning("%s is installed but could not be imported (%s: %s): gputopic goes on without it.",
                       name, type(error).__name__, error)
    return None


@lru_cache(maxsize=None)
def cuda_available() -> bool:
    """True when a CUDA GPU is usable through torch or CuPy."""
    torch = try_import("torch")
    if torch is not None and torch.cuda.is_available():
        return True
    cupy = try_import("cupy")
    if cupy is not None:
        try:
            return cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # noqa: BLE001 - no driver, no device
            return False
    return False


@lru_cache(maxsize=None)
def cuml_available() -> bool:
    """True when RAPIDS cuML can be imported (its GPU UMAP/HDBSCAN are then preferred)."""
    return try_import("cuml") is not None


def resolve_device(device: str | None) -> str:
    """Map ``"auto" | "cpu" | "cuda"`` to the device that will be used, checking it exists."""
    if device is None:
        device = "auto"
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise DeviceError(
            f"Unknown device {device!r}. Use one of 'auto' (GPU when available), 'cuda' or 'cpu'."
        )
    device = device.lower()
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise DeviceError(
            "device='cuda' was requested but no CUDA GPU is visible (torch.cuda.is_available() "
            "and CuPy both say no). Use device='cpu' or device='auto', or check the NVIDIA "
            "driver and CUDA_VISIBLE_DEVICES."
        )
    return device


@dataclass(frozen=True)
class Backend:
    """The array and sparse namespaces of one device.

    Numerical code takes a backend and uses ``backend.xp`` (``numpy`` or ``cupy``) and
    ``backend.sp`` (``scipy.sparse`` or ``cupyx.scipy.sparse``) instead of branching.
    """

    name: str
    xp: ModuleType
    sp: ModuleType

    @property
    def is_gpu(self) -> bool:
        return self.name == "cuda"

    def asarray(self, x: Any, dtype: Any = None):
        """Move ``x`` (NumPy, CuPy, torch, list) onto this backend's device, once."""
        if self.is_gpu:
            if is_torch(x):
                x = self.xp.from_dlpack(x.detach().contiguous())
            return self.xp.asarray(x, dtype=dtype)
        return np.asarray(to_numpy(x), dtype=dtype)

    def assparse(self, m: Any):
        """Move a SciPy/CuPy sparse matrix onto this backend as CSR."""
        on_gpu = _module_of(m) == "cupyx"
        if self.is_gpu:
            # cupyx sparse holds floats only: counts travel as float32 (exact below 2**24)
            return m.tocsr() if on_gpu else self.sp.csr_matrix(m.tocsr().astype(np.float32))
        return m.get().tocsr() if on_gpu else m.tocsr()


@lru_cache(maxsize=None)
def get_backend(device: str) -> Backend:
    """The :class:`Backend` of a resolved device name (``"cpu"`` or ``"cuda"``)."""
    if device == "cpu":
        return Backend("cpu", np, importlib.import_module("scipy.sparse"))
    if device == "cuda":
        cupy = optional_import("cupy", "device='cuda'")
        cusparse = optional_import("cupyx.scipy.sparse", "device='cuda'")
        return Backend("cuda", cupy, cusparse)
    raise DeviceError(f"get_backend() takes a resolved device 'cpu' or 'cuda', got {device!r}.")


# ---------------------------------------------------------------- type tests


def _module_of(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def is_cupy(x: Any) -> bool:
    cupy = try_import("cupy") if _module_of(x) == "cupy" else None
    return cupy is not None and isinstance(x, cupy.ndarray)


def is_torch(x: Any) -> bool:
    torch = try_import("torch") if _module_of(x) == "torch" else None
    return torch is not None and isinstance(x, torch.Tensor)


def is_cudf(x: Any) -> bool:
    cudf = try_import("cudf") if _module_of(x) == "cudf" else None
    return cudf is not None and isinstance(x, (cudf.Series, cudf.DataFrame, cudf.Index))


def is_on_gpu(x: Any) -> bool:
    """True for data that lives in GPU memory: CuPy arrays, cuDF objects, CUDA torch tensors."""
    if is_cupy(x) or is_cudf(x):
        return True
    return is_torch(x) and x.is_cuda


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy array from NumPy, CuPy, torch (CPU or CUDA) or cuDF data."""
    if isinstance(x, np.ndarray):
        return x
    if is_cupy(x):
        return x.get()
    if is_torch(x):
        return x.detach().cpu().numpy()
    if is_cudf(x):
        return x.to_numpy()
    return np.asarray(x)


@dataclass(frozen=True)
class Output:
    """Where results go: the one rule "outputs follow the input" (cuML's output-type
    mirroring, scikit-learn's "y follows X").

    ``kind`` is ``"numpy"`` (NumPy arrays, SciPy sparse, pandas frames), ``"cupy"`` (CuPy
    arrays and sparse matrices, cuDF frames when cuDF is installed) or ``"torch"`` (torch
    tensors on ``torch_device``; used by the native estimators, whose inputs may be torch).
    Stages compute on their backend; the estimator converts once, here, at the boundary.
    """

    kind: str = "numpy"
    torch_device: Any = None

    @property
    def on_gpu(self) -> bool:
        return self.kind == "cupy" or (self.kind == "torch" and getattr(self.torch_device, "type", "") == "cuda")

    def array(self, x: Any):
        """A result array (NumPy, CuPy or torch data) as this output's kind; None stays None."""
        if x is None:
            return None
        if self.kind == "cupy":
            cupy = optional_import("cupy", "GPU outputs")
            return cupy.from_dlpack(x.detach().contiguous()) if is_torch(x) else cupy.asarray(x)
        if self.kind == "torch":
            torch = optional_import("torch", "torch outputs")
            t = x if is_torch(x) else (torch.from_dlpack(x) if is_cupy(x) else torch.from_numpy(np.asarray(x)))
            return t.to(self.torch_device) if self.torch_device is not None else t
        return to_numpy(x)

    def sparse(self, m: Any):
        """A sparse result as CuPy CSR (GPU outputs) or SciPy CSR."""
        return get_backend("cuda" if self.on_gpu else "cpu").assparse(m)

    def frame(self, rows: dict):
        """A data frame of ``rows``: cuDF for GPU outputs when cuDF is installed, else pandas."""
        return frame_library(self.on_gpu).DataFrame(rows)


def output_like(*inputs: Any, keep_torch: bool = False) -> Output:
    """The :class:`Output` that follows ``inputs``: GPU data among them (CuPy, cuDF, CUDA
    torch) gives CuPy/cuDF outputs, anything else NumPy/pandas. With ``keep_torch`` a torch
    input gives torch outputs on its device instead (the native estimators' rule: torch in,
    torch out)."""
    if keep_torch:
        for x in inputs:
            if is_torch(x):
                return Output("torch", x.device)
    return Output("cupy" if any(is_on_gpu(x) for x in inputs) else "numpy")


HOST = Output("numpy")


def host_sparse(m: Any):
    """A SciPy CSR copy (or the matrix itself) of a SciPy or CuPy sparse matrix."""
    return get_backend("cpu").assparse(m)


def frame_library(gpu: bool) -> ModuleType:
    """``cudf`` when the caller works on the GPU with cuDF, ``pandas`` otherwise."""
    if gpu and try_import("cudf") is not None:
        return importlib.import_module("cudf")
    return importlib.import_module("pandas")


def text_list(docs: Any) -> list:
    """Documents as a Python list, whatever container they came in (cuDF is copied once)."""
    if is_cudf(docs):
        return docs.to_arrow().to_pylist()
    if isinstance(docs, str):
        raise InputError(
            "documents must be a sequence of strings, got a single str. Wrap it in a list: [doc]."
        )
    mod = _module_of(docs)
    if hasattr(docs, "columns") and hasattr(docs, "shape"):  # a pandas / cuDF / pyarrow table
        columns = [str(c) for c in docs.columns] if mod != "pyarrow" else list(docs.column_names)
        if "text" in columns or len(columns) == 1:
            name = "text" if "text" in columns else columns[0]
            column = docs[name] if mod != "pyarrow" else docs.column(name)
            return text_list(column)
        raise InputError(
            f"documents is a data frame with columns {columns[:8]}: pass its text column, e.g. "
            "df['text'] (a frame with one column, or a column named 'text', is read directly)."
        )
    if mod == "pyarrow" and hasattr(docs, "to_pylist"):  # pyarrow Array / ChunkedArray
        return docs.to_pylist()
    if mod == "pandas":
        return docs.tolist()
    if isinstance(docs, np.ndarray):
        if docs.ndim != 1:
            raise InputError(f"documents must be one-dimensional, got an array of shape {docs.shape}.")
        return docs.tolist()
    try:
        return list(docs)
    except TypeError as exc:
        raise InputError(
            f"documents must be a list/tuple of str, a NumPy array, a pandas or cuDF Series; "
            f"got {type(docs).__name__}."
        ) from exc


def versions() -> dict:
    """Installed versions of the libraries that shape results (read from metadata, nothing imported)."""
    from importlib import metadata

    out = {}
    for dist in ("gputopic", "numpy", "scipy", "scikit-learn", "torch", "sentence-transformers",
                 "umap-learn", "hdbscan", "cupy-cuda12x", "cupy-cuda13x", "cuml-cu12", "cuml-cu13",
                 "cudf-cu12", "cudf-cu13"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def backend_of(x: Any) -> Backend:
    """The backend that holds ``x`` (a dense or sparse NumPy/SciPy or CuPy array)."""
    if is_cupy(x) or _module_of(x) == "cupyx":
        return get_backend("cuda")
    return get_backend("cpu")


# ------------------------------------------------------- torch <-> caller's arrays


def array_kind(x: Any) -> str:
    """``"torch"``, ``"cupy"`` or ``"numpy"`` (anything else is read as NumPy)."""
    if is_torch(x):
        return "torch"
    if is_cupy(x):
        return "cupy"
    return "numpy"


def as_tensor(x: Any, device: Any = None, dtype: Any = None):
    """A torch tensor of NumPy / CuPy (zero-copy through DLPack) / torch data, moved to
    ``device`` and cast to ``dtype`` when given."""
    torch = optional_import("torch", "the native backend")
    kind = array_kind(x)
    if kind == "torch":
        t = x.detach()
    elif kind == "cupy":
        t = torch.from_dlpack(x)
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise InputError("expected a numeric array, got an array of Python objects")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.to(device=device, dtype=dtype) if (device is not None or dtype is not None) else t


def from_tensor(t: Any, kind: str, torch_device: Any = None):
    """Hand a result tensor back as the caller's kind: NumPy, torch (on ``torch_device``
    when given) or CuPy (through DLPack, on the GPU)."""
    if kind == "torch":
        return t.to(torch_device) if torch_device is not None else t
    if kind == "cupy":
        cupy = optional_import("cupy", "CuPy outputs")
        return cupy.from_dlpack(t.contiguous() if t.is_cuda else t.contiguous().cuda())
    return t.detach().cpu().numpy()
