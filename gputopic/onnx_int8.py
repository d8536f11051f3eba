"""int8 ONNX Runtime copy of a SentenceTransformer's transformer, for CPU embeddings.

The CPU embedding path (:mod:`gputopic.embed`) keeps the model's tokenizer, pooling and
normalisation and replaces only its first module, the transformer, by an ONNX Runtime
session of an int8 copy, made once per model:

1. ``torch.onnx.export`` of the transformer (ids -> token embeddings);
2. ONNX Runtime's BERT graph fusions (attention, layer norm, GELU), so the attention
   block runs as one fp32 operator;
3. ``onnxruntime.quantization.quantize_dynamic``: the remaining MatMul weights (attention
   output, feed-forward) to int8 per output channel, activations quantised per batch.

Before a copy is kept, it embeds a sample of the documents of that run and is compared
with the fp32 model: below :data:`MIN_COSINE` (any row) it is recorded as rejected and the
model keeps the torch path. Copies live in ``$GPUTOPIC_ONNX_CACHE`` (default
``~/.cache/gputopic/onnx``) in a folder named by a hash of the model's weights; they are
written to a temporary folder and renamed into place, and their SHA-256 is checked on
every load (a corrupt copy is rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .device import optional_import
from .persist import file_sha256

logger = logging.getLogger("gputopic")

FORMAT = 2  # 2: exported with eager attention, which ORT's fusions recognise
# Smallest cosine, on the probe documents, between int8 and fp32 embeddings for a copy to
# be used (all-MiniLM-L6-v2's copy stays above it: bench/cpu_embed_bench.py).
MIN_COSINE = 0.97
ONNX_FILE = "transformer_int8.onnx"
MANIFEST = "manifest.json"
INSTALL_HINT = "pip install 'gputopic[onnx]'"


def available() -> bool:
    """Whether onnxruntime and onnx import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_root() -> Path:
    env = os.environ.get("GPUTOPIC_ONNX_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gputopic" / "onnx"


def fingerprint(model: Any) -> str:
    """Hash of the transformer's class, weights, maximum length and this file's format."""
    torch = optional_import("torch", "document embeddings")
    auto = model[0].auto_model
    h = hashlib.sha256(f"gputopic-onnx-int8/{FORMAT}/{type(auto).__name__}/{model.max_seq_length}".encode())
    for name, t in auto.state_dict().items():
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


class OnnxTransformer:
    """The int8 session standing in for ``model[0]``; pooling etc. stay the model's own."""

    def __init__(self, session: Any, folder: Path, info: dict):
        self.session = session
        self.folder = folder
        self.info = info
        self.inputs = [i.name for i in session.get_inputs()]

    def sentence_embedding(self, model: Any, features: dict):
        torch = optional_import("torch", "document embeddings")
        out = self.session.run(None, {k: features[k].numpy() for k in self.inputs})[0]
        feats = dict(features)
        feats["token_embeddings"] = torch.from_numpy(out)
        for module in list(model)[1:]:
            feats = module(feats)
        return feats["sentence_embedding"]

    def release_memory(self) -> None:
        """Hand ONNX Runtime's arena back to the system (its largest batch left it at
        ~430 MB for all-MiniLM-L6-v2 at 32 x 256 tokens, held until the process ends): one
        one-token run with the arena-shrinkage run option. Called after each encode, so
        the fit's later steps do not run on top of it."""
        ort = optional_import("onnxruntime", "int8 CPU embeddings")
        opts = ort.RunOptions()
        opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        feed = {name: np.zeros((1, 1), dtype=np.int64) for name in self.inputs}
        if "attention_mask" in feed:
            feed["attention_mask"][:] = 1
        self.session.run(None, feed, opts)


def supported(model: Any) -> bool:
    """A SentenceTransformer whose first module wraps a Hugging Face transformer."""
    try:
        return hasattr(model[0], "auto_model") and callable(getattr(model[0].auto_model, "forward", None))
    except Exception:  # noqa: BLE001 - not indexable: not a module pipeline
        return False


def load_or_build(model: Any, probe: dict, root: Path | None = None) -> OnnxTransformer | None:
    """The cached int8 copy of ``model``'s transformer, made (and checked on ``probe``, the
    model's features for a sample of documents) when missing or corrupt; None when the
    check rejected it. Errors of ONNX export or ONNX Runtime propagate."""
    root = Path(root) if root is not None else cache_root()
    key = fingerprint(model)
    folder = root / key
    if folder.exists():
        try:
            got = _open(folder)
            if got is None:
                logger.info("int8 ONNX copy of this model was rejected earlier (%s): using torch fp32",
                            folder / MANIFEST)
            return got
        except Exception as exc:  # noqa: BLE001 - any damage: rebuild
            logger.warning("int8 ONNX cache %s is unreadable (%s: %s): rebuilding it", folder,
                           type(exc).__name__, exc)
            shutil.rmtree(folder, ignore_errors=True)
    return _build(model, probe, folder)


def _open(folder: Path) -> OnnxTransformer | None:
    info = json.loads((folder / MANIFEST).read_text())
    if info.get("format") != FORMAT:
        raise ValueError(f"format {info.get('format')} is not {FORMAT}")
    if info["status"] == "rejected":
        return None
    path = folder / ONNX_FILE
    if file_sha256(path) != info["sha256"]:
        raise ValueError(f"{path.name} does not match its SHA-256 in {MANIFEST}")
    return OnnxTransformer(_session(path), folder, info)


def _session(path: Path):
    ort = optional_import("onnxruntime", "int8 CPU embeddings")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    # the memory pattern plans buffers for repeated input shapes; length-sorted batches
    # change shape every batch, so it only held ~140 MB more (32 x 256 tokens)
    so.enable_mem_pattern = False
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _build(model: Any, probe: dict, folder: Path) -> OnnxTransformer | None:
    torch = optional_import("torch", "document embeddings")
    onnx = optional_import("onnx", "int8 CPU embeddings")
    ort = optional_import("onnxruntime", "int8 CPU embeddings")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    logger.info("making an int8 ONNX copy of the embedding model for the CPU (once; cached in %s)",
                folder.parent)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if isinstance(probe.get(k), torch.Tensor)]
        auto = model[0].auto_model

        class Transformer(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.auto = auto

            def forward(self, *args):
                return self.auto(**dict(zip(keys, args)), return_dict=True).last_hidden_state

        raw = tmp / "raw.onnx"
        dummy = tuple(probe[k][:2, :16] for k in keys)
        # transformers' SDPA attention exports to a graph ORT does not fuse: its Q/K/V
        # projections would then be quantised too (slower and less accurate); export eager
        cfg = auto.config
        attn = getattr(cfg, "_attn_implementation", None)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            if attn is not None:
                cfg._attn_implementation = "eager"
            try:
                torch.onnx.export(Transformer().eval(), dummy, str(raw), dynamo=False, opset_version=17,
                                  input_names=keys, output_names=["token_embeddings"],
                                  dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in keys},
                                                "token_embeddings": {0: "batch", 1: "seq"}})
            finally:
                if attn is not None:
                    cfg._attn_implementation = attn
        fused = tmp / "fused.onnx"
        try:
            from onnxruntime.transformers.optimizer import optimize_model

            opt = optimize_model(str(raw), model_type="bert", num_heads=int(cfg.num_attention_heads),
                                 hidden_size=int(cfg.hidden_size), opt_level=1)
            opt.save_model_to_file(str(fused))
            logger.info("ONNX Runtime fused %s", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})
        except Exception as exc:  # noqa: BLE001 - unusual architecture: quantise the plain graph
            logger.info("ONNX Runtime's graph fusions did not apply (%s): quantising the plain graph", exc)
            fused = raw
        out = tmp / ONNX_FILE
        # the fused graph has com.microsoft operators whose outputs ONNX shape inference cannot type
        root = logging.getLogger()  # the quantiser logs every tensor on the root logger
        level = root.level
        root.setLevel(max(level, logging.WARNING))
        try:
            quantize_dynamic(str(fused), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.setLevel(level)
        for f in {raw, fused}:
            f.unlink(missing_ok=True)
        candidate = OnnxTransformer(_session(out), folder, {})
        with torch.inference_mode():
            ref = model(dict(probe))["sentence_embedding"].float().numpy()
            got = candidate.sentence_embedding(model, probe).float().numpy()
        cos = (ref * got).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
        ok = bool(cos.min() >= MIN_COSINE)
        info = {"format": FORMAT, "status": "ok" if ok else "rejected", "min_cosine_required": MIN_COSINE,
                "probe_docs": int(len(cos)), "cos_min": round(float(cos.min()), 5),
                "cos_mean": round(float(cos.mean()), 6), "seconds": round(time.perf_counter() - t0, 1),
                "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}}
        if ok:
            info["sha256"] = file_sha256(out)
        else:
            out.unlink()
        (tmp / MANIFEST).write_text(json.dumps(info, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
            return _open(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not ok:
        logger.warning("int8 ONNX embeddings differ too much from fp32 on this model (min cosine %.4f < %.2f "
                       "on %d documents): using torch fp32", info["cos_min"], MIN_COSINE, info["probe_docs"])
        return None
    logger.info("int8 ONNX copy ready in %.0f s (cosine to fp32 on %d documents: min %.4f, mean %.4f)",
                info["seconds"], info["probe_docs"], info["cos_min"], info["cos_mean"])
    return OnnxTransformer(candidate.session, folder, info)
