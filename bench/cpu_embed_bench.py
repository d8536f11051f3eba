"""CPU embedding variants for all-MiniLM-L6-v2: speed and closeness to fp32 torch.

    python bench/cpu_embed_bench.py speed --n 1000 --rounds 2 --out cpu_embed_speed.json
    python bench/cpu_embed_bench.py quality --n 5000 --variants ort-int8,torch-qint8 --seeds 0,1

``speed`` embeds the same fixed random sample of 20 Newsgroups posts with every variant,
alternating the variants round by round in one process (other jobs share the cores), and
reports docs/s (best round) and the cosine of each row to the reference:
``SentenceTransformer.encode(batch_size=32)`` in fp32, which is what BERTopic does.
``quality`` embeds a larger sample with the reference and each variant, fits
``GPUTopic(random_state=seed)`` on both, and reports NMI (outliers as one cluster) and
NPMI beside each other.

Variants (those whose packages are missing are skipped with a note):
  st-32                  SentenceTransformer.encode, batch 32 (the reference)
  loop-32/64/128         gputopic's sorted token-budget loop (Embedder._encode_device) in fp32
  torch-qint8            torch.ao.quantization.quantize_dynamic (Linear -> int8) + the loop
  ort-fp32, ort-fp32-opt ONNX Runtime on our own torch.onnx.export (transformer + mean pooling
                         + normalize), without / with ORT's BERT graph fusions
  ort-int8, ort-int8-pc  + onnxruntime.quantization.quantize_dynamic (per-tensor / per-channel)
  st-onnx-qint8          sentence-transformers' export_dynamic_quantized_onnx_model (avx512_vnni)
  gputopic               the library's default CPU path (load_embedder(None, "cpu").encode)
  gputopic-plain         the same with embedding_backend="torch"
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

WORK = Path(os.environ.get("CPU_EMBED_WORK", tempfile.gettempdir())) / "gputopic_cpu_embed_bench"


def sample(n: int, seed: int = 0):
    docs, labels = corpus.load("20newsgroups", min_words=1)
    idx = np.random.default_rng(seed).choice(len(docs), size=n, replace=False)
    return [docs[i] for i in idx], [labels[i] for i in idx]


def versions() -> dict:
    out = {"python": platform.python_version(), "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count()}
    for name in ("torch", "sentence_transformers", "transformers", "onnxruntime", "onnx", "optimum",
                 "openvino", "numpy", "umap", "hdbscan", "gputopic"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            pass
    return out


# ------------------------------------------------------------------ variants


def st_model():
    from sentence_transformers import SentenceTransformer

    from gputopic.embed import default_model_path

    return SentenceTransformer(default_model_path(), device="cpu")


def loop_variant(bs: int, quantize: bool = False):
    from gputopic.embed import load_embedder

    emb = load_embedder(None, "cpu", "torch")
    if quantize:
        import torch

        emb._model = torch.ao.quantization.quantize_dynamic(emb.model, {torch.nn.Linear}, dtype=torch.qint8)
    emb.model  # load now, not inside the timing

    def run(docs):
        return emb._encode_device(docs, bs, False).numpy()

    return run


def export_onnx(path: Path) -> Path:
    """The bundled model as one ONNX graph: ids -> normalized mean-pooled embedding."""
    if path.exists():
        return path
    import torch

    model = st_model()
    hf = model[0].auto_model

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.hf(input_ids=input_ids, attention_mask=attention_mask,
                        token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    feats = model.tokenize(["hello world", "a longer sentence to pad the batch"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(Wrap().eval(), tuple(feats[k] for k in names), str(path), dynamo=False,
                      input_names=names, output_names=["sentence_embedding"], opset_version=17,
                      dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in names},
                                    "sentence_embedding": {0: "batch"}})
    return path


def ort_files() -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    base = export_onnx(WORK / "model.onnx")
    opt = WORK / "model_opt.onnx"
    if not opt.exists():
        m = optimize_model(str(base), model_type="bert", num_heads=12, hidden_size=384, opt_level=1)
        m.save_model_to_file(str(opt))
    files = {"ort-fp32": base, "ort-fp32-opt": opt}
    for name, pc in (("ort-int8", False), ("ort-int8-pc", True)):
        out = WORK / f"model_{name}.onnx"
        if not out.exists():
            # the fused graph has com.microsoft ops that ONNX shape inference cannot type
            quantize_dynamic(str(opt), str(out), weight_type=QuantType.QInt8, per_channel=pc,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        files[name] = out
    return files


def ort_variant(path: Path, bs: int = 32):
    import onnxruntime as ort
    import torch

    from gputopic.embed import load_embedder

    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    emb = load_embedder(None, "cpu", "torch")
    model = emb.model

    class Forward(torch.nn.Module):
        def forward(self, feats):
            out = sess.run(None, {k: v.numpy() for k, v in feats.items() if k in names})[0]
            return {"sentence_embedding": torch.from_numpy(out)}

    # the loop calls model(features): route that call to the ONNX session
    model.forward = Forward().forward

    def run(docs):
        return emb._encode_device(docs, bs, False).numpy()

    return run


def st_onnx_variant():
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    from gputopic.embed import default_model_path

    folder = WORK / "st_onnx"
    if not (folder / "onnx" / "model_qint8_avx512_vnni.onnx").exists():
        m = SentenceTransformer(default_model_path(), device="cpu", backend="onnx")
        m.save(str(folder))
        export_dynamic_quantized_onnx_model(m, "avx512_vnni", str(folder))
    m = SentenceTransformer(str(folder), device="cpu", backend="onnx",
                            model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"})
    return lambda docs: m.encode(docs, batch_size=32)


def openvino_variant(quant: bool):
    from sentence_transformers import SentenceTransformer

    from gputopic.embed import default_model_path

    folder = WORK / "st_ov"
    if quant:
        from sentence_transformers import export_static_quantized_openvino_model
        from optimum.intel import OVQuantizationConfig

        if not (folder / "openvino" / "openvino_model_qint8_quantized.xml").exists():
            m = SentenceTransformer(default_model_path(), device="cpu", backend="openvino")
            m.save(str(folder))
            export_static_quantized_openvino_model(m, OVQuantizationConfig(), str(folder))
        m = SentenceTransformer(str(folder), device="cpu", backend="openvino",
                                model_kwargs={"file_name": "openvino/openvino_model_qint8_quantized.xml"})
    else:
        m = SentenceTransformer(default_model_path(), device="cpu", backend="openvino")
    return lambda docs: m.encode(docs, batch_size=32)


def library_variant(fast: bool):
    from gputopic.device import get_backend
    from gputopic.embed import load_embedder

    emb = load_embedder(None, "cpu", "auto" if fast else "torch")
    cpu = get_backend("cpu")
    emb.encode(["warm up"], cpu)
    return lambda docs: np.asarray(emb.encode(docs, cpu))


def build(name: str):
    if name == "st-32":
        m = st_model()
        return lambda docs: m.encode(docs, batch_size=32)
    if name.startswith("loop-"):
        return loop_variant(int(name.split("-")[1]))
    if name == "torch-qint8":
        return loop_variant(32, quantize=True)
    if name.startswith("ort-q-"):  # a file made by a quantization experiment: WORK/q_<cfg>.onnx
        return ort_variant(WORK / f"q_{name[6:]}.onnx")
    if name.startswith("ort-"):
        base, _, bs = name.partition("@")
        return ort_variant(ort_files()[base], int(bs or 32))
    if name == "st-onnx-qint8":
        return st_onnx_variant()
    if name in ("ov-fp32", "ov-int8"):
        return openvino_variant(name == "ov-int8")
    if name in ("gputopic", "gputopic-plain"):
        return library_variant(name == "gputopic")
    raise SystemExit(f"unknown variant {name}")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


# ------------------------------------------------------------------ commands


def cmd_speed(args) -> dict:
    docs, _ = sample(args.n)
    names = ["st-32"] + [v for v in args.variants.split(",") if v and v != "st-32"]
    runners, notes = {}, {}
    for name in names:
        try:
            t = time.perf_counter()
            runners[name] = build(name)
            runners[name](docs[:8])  # warm-up (and lazy loads)
            notes[name] = f"setup {time.perf_counter() - t:.1f}s"
        except Exception as exc:  # noqa: BLE001 - a variant whose package is missing is skipped
            notes[name] = f"skipped: {type(exc).__name__}: {exc}"[:300]
        print(name, notes[name], flush=True)
    times = {k: [] for k in runners}
    embs = {}
    for r in range(args.rounds):
        order = list(runners) if r % 2 == 0 else list(runners)[::-1]
        for name in order:
            t = time.perf_counter()
            embs[name] = np.asarray(runners[name](docs), dtype=np.float32)
            times[name].append(time.perf_counter() - t)
            print(f"round {r} {name}: {len(docs) / times[name][-1]:.1f} docs/s", flush=True)
    ref = embs["st-32"]
    ref_rate = len(docs) / min(times["st-32"])
    rows = []
    for name in runners:
        c = cosines(embs[name], ref)
        rate = len(docs) / min(times[name])
        rows.append({"variant": name, "docs_per_s": round(rate, 1), "speedup": round(rate / ref_rate, 2),
                     "seconds": [round(t, 2) for t in times[name]],
                     "cos_min": round(float(c.min()), 5), "cos_mean": round(float(c.mean()), 6)})
    print(f"\n{'variant':16s} {'docs/s':>8s} {'speedup':>8s} {'cos min':>9s} {'cos mean':>9s}")
    for row in rows:
        print(f"{row['variant']:16s} {row['docs_per_s']:8.1f} {row['speedup']:8.2f} "
              f"{row['cos_min']:9.5f} {row['cos_mean']:9.6f}")
    return {"command": "speed", "n": len(docs), "rounds": args.rounds, "rows": rows, "notes": notes}


def cmd_quality(args) -> dict:
    from gputopic import GPUTopic
    from gputopic.metrics import clustering_scores, evaluate

    if args.tests_sample:
        # the tests' 5,000-post sample (tests/conftest.py: >= 5 words, permutation seed 0), whose
        # fp32 reference embeddings the tests cache as tests/.cache/minilm_5000_<hash>.npy
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import conftest

        docs, labels = conftest.load_corpus("20newsgroups", n=args.n)
    else:
        docs, labels = sample(args.n, seed=1)
    names = ["st-32"] + [v for v in args.variants.split(",") if v and v != "st-32"]
    embs = {}
    if args.reference_npy:
        embs["st-32"] = np.load(args.reference_npy)
        assert embs["st-32"].shape[0] == len(docs)
    for name in names:
        cache = WORK / f"emb_{name}_{args.n}{'_t' if args.tests_sample else ''}.npy"
        if name in embs:
            continue
        if cache.exists():
            embs[name] = np.load(cache)
        else:
            t = time.perf_counter()
            embs[name] = np.asarray(build(name)(docs), dtype=np.float32)
            print(f"{name}: embedded {len(docs)} docs in {time.perf_counter() - t:.0f}s", flush=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, embs[name])
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in names:
            model = GPUTopic(random_state=seed)
            topics, _ = model.fit_transform(docs, embeddings=embs[name])
            scores = clustering_scores(labels, topics)
            ev = evaluate(model, docs)
            c = cosines(embs[name], embs["st-32"])
            row = {"variant": name, "seed": seed, "nmi": round(float(scores["nmi"]), 4),
                   "npmi": round(float(ev["npmi"]), 4), "topics": int(len(set(topics)) - (-1 in set(topics))),
                   "outliers": round(float(np.mean(np.asarray(topics) == -1)), 3),
                   "cos_min": round(float(c.min()), 5), "cos_mean": round(float(c.mean()), 6)}
            rows.append(row)
            print(row, flush=True)
    ref = {r["seed"]: r for r in rows if r["variant"] == "st-32"}
    for r in rows:
        r["d_nmi"] = round(r["nmi"] - ref[r["seed"]]["nmi"], 4)
        r["d_npmi"] = round(r["npmi"] - ref[r["seed"]]["npmi"], 4)
    print(f"\n{'variant':16s} {'seed':>4s} {'NMI':>7s} {'dNMI':>7s} {'NPMI':>7s} {'dNPMI':>7s} {'topics':>6s}")
    for r in rows:
        print(f"{r['variant']:16s} {r['seed']:4d} {r['nmi']:7.4f} {r['d_nmi']:+7.4f} {r['npmi']:7.4f} "
              f"{r['d_npmi']:+7.4f} {r['topics']:6d}")
    return {"command": "quality", "n": len(docs), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--n", type=int, default=1000)
    sp.add_argument("--rounds", type=int, default=2)
    sp.add_argument("--variants", default="loop-32,loop-64,loop-128,torch-qint8,ort-fp32,ort-fp32-opt,"
                                            "ort-int8,ort-int8-pc,st-onnx-qint8,ov-fp32,ov-int8")
    sq = sub.add_parser("quality")
    sq.add_argument("--n", type=int, default=5000)
    sq.add_argument("--variants", required=True)
    sq.add_argument("--seeds", default="0,1")
    sq.add_argument("--tests-sample", action="store_true", help="use the tests' 20NG sample (conftest.ng5000)")
    sq.add_argument("--reference-npy", default=None,
                    help="fp32 reference embeddings of that sample (e.g. tests/.cache/minilm_5000_*.npy)")
    for p in (sp, sq):
        p.add_argument("--out", default=None, help="write the result as JSON here")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    result = {"cmd": args.cmd, "versions": versions(), "date": time.strftime("%Y-%m-%d")}
    result.update(cmd_speed(args) if args.cmd == "speed" else cmd_quality(args))
    corpus.emit(result, args.out)


if __name__ == "__main__":
    main()
