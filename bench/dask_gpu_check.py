"""Sharded fit on the library's own cluster (``--cluster local-cuda`` or ``local``) vs a single-process fit
of the same documents: wall time, per-stage timings, workers, peak memory, agreement, NMI. Always writes JSON.

    python bench/dask_gpu_check.py --model .gpu/model --data .gpu/data/20newsgroups.jsonl.gz \\
        --n 20000 --out "$OUT" --cluster local-cuda --timeout-s 300

The cluster is built by :func:`gputopic.distributed.open_client` (what ``gputopic fit --cluster``
uses), so ``local-cuda`` is dask-cuda's ``LocalCUDACluster()`` with its defaults (one worker per GPU)
and ``local`` is ``distributed.LocalCluster()``. The documents are ``--n`` synthetic documents
resampled from ``--data`` (bench/corpus.py), passed as an in-memory list as the CLI does
(``--partitions P``: as a dask Series of P partitions instead).

Each fit runs in its own child process (its own session), sharded first: peak RSS is the process's
own, and ``--timeout-s`` bounds the whole run. A child that overruns its share is sent SIGTERM (the
sharded one then closes its cluster), then SIGKILL to its whole process group, and the JSON records
the timeout. Any error is recorded with its traceback and the run goes on. Worker memory: peak RSS
(``ru_maxrss``, imports included; the idle baseline beside it), the peak of PyTorch's CUDA allocator
and CuPy's default pool after the fit.

Writes DIR/dask_gpu_check.json (and the children's logs DIR/sharded.log, DIR/single.log).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

GRACE_S = 15.0  # after SIGTERM, before SIGKILL of the child's process group


# ----------------------------------------------------------------- measurements (any process)


def _warm_up() -> None:
    """The imports a fit makes, out of the timings and of the idle baseline."""
    import gputopic.distributed  # noqa: F401
    import sentence_transformers  # noqa: F401


def memory_stats() -> dict:
    """This process's peak RSS and GPU allocator figures (MiB); GPU ones only where CUDA was used."""
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "pid": os.getpid(),
           "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            out["torch_cuda_peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
            out["torch_cuda_peak_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    except Exception as exc:  # noqa: BLE001 - a figure, never a failure
        out["torch_cuda_error"] = repr(exc)
    cupy = sys.modules.get("cupy")
    try:
        if cupy is not None:
            pool = cupy.get_default_memory_pool()
            out["cupy_pool_total_mib_after"] = pool.total_bytes() / 2**20
            out["cupy_pool_used_mib_after"] = pool.used_bytes() / 2**20
    except Exception as exc:  # noqa: BLE001
        out["cupy_error"] = repr(exc)
    return out


def _reset_gpu_peaks() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def _worker_env() -> dict:
    import platform

    return {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "python": platform.python_version()}


# ----------------------------------------------------------------------------- children


class _Progress:
    """The child's result dict, rewritten atomically after every step so a killed child leaves it."""

    def __init__(self, path: str):
        self.path, self.data = Path(path), {"steps": []}

    def step(self, name: str, **values) -> None:
        self.data["steps"].append(name)
        self.data.update(values)
        self.save()

    def error(self, where: str, exc: BaseException) -> None:
        self.data.setdefault("errors", []).append(
            {"where": where, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, default=str))
        tmp.replace(self.path)


_STOPPING = []


def _on_sigterm(signum, frame):  # noqa: ARG001
    """The parent's time is up: stop what runs (once; the cluster's close then goes on)."""
    if not _STOPPING:
        _STOPPING.append(True)
        raise TimeoutError("stopped by the parent (time budget spent)")


def _model(args, **extra):
    from gputopic import GPUTopic

    return GPUTopic(embedding_model=args.model, device=args.device, random_state=args.seed, **extra)


def _fitted_summary(model) -> dict:
    import numpy as np

    topics = np.asarray(getattr(model, "topics_", []))
    ids = sorted(int(t) for t in set(topics.tolist()) if int(t) != -1)
    return {"topics": topics.tolist(), "timings": dict(getattr(model, "timings_", {}) or {}),
            "words": {str(t): [w for w, _ in model.get_topic(t)] for t in ids}}


def child_single(args, docs: list[str], progress: _Progress) -> None:
    _warm_up()
    _reset_gpu_peaks()
    progress.step("imported", idle=memory_stats())
    start = time.perf_counter()
    model = _model(args)
    model.fit(docs)
    progress.step("fitted", seconds=time.perf_counter() - start, **_fitted_summary(model), memory=memory_stats())


def child_sharded(args, docs: list[str], progress: _Progress) -> None:
    from gputopic.distributed import open_client

    _warm_up()
    start = time.perf_counter()
    with open_client(cluster=args.cluster) as client:
        info = client.scheduler_info(n_workers=-1)
        workers = {a: {"nthreads": w.get("nthreads"), "memory_limit": w.get("memory_limit")}
                   for a, w in info["workers"].items()}
        progress.step("cluster", cluster_start_s=time.perf_counter() - start, n_workers=len(workers),
                      workers=workers, dashboard_link=getattr(client, "dashboard_link", None))
        try:
            progress.step("worker_env", worker_env=client.run(_worker_env))
            client.run(_warm_up)
            progress.step("warmed", worker_idle=client.run(memory_stats), client_idle=memory_stats())
        except Exception as exc:  # noqa: BLE001 - recorded; the fit may still say more
            progress.error("worker setup", exc)
        client.run(_reset_gpu_peaks)
        _reset_gpu_peaks()
        model = _model(args, client=client)
        data = docs
        if args.partitions:  # a dask Series, as a parquet input is; else the CLI's in-memory list
            import dask.dataframe as dd
            import pandas as pd

            data = dd.from_pandas(pd.Series(docs, dtype=object), npartitions=args.partitions)
        t = time.perf_counter()
        try:
            model.fit(data)
            seconds = time.perf_counter() - t
            progress.step("fitted", seconds=seconds, **_fitted_summary(model),
                          embeddings_sample_size=getattr(model, "embeddings_sample_size_", None))
        except Exception as exc:  # noqa: BLE001
            progress.error("sharded fit", exc)
        if not _STOPPING:  # workers may be busy with the aborted fit: no more calls to them then
            try:
                progress.step("measured", worker_memory=client.run(memory_stats),
                              client_memory=memory_stats())
            except Exception as exc:  # noqa: BLE001
                progress.error("worker memory", exc)
        model.set_params(client=None)
        t = time.perf_counter()
    progress.step("closed", cluster_close_s=time.perf_counter() - t)


def run_child(args) -> int:
    import logging

    signal.signal(signal.SIGTERM, _on_sigterm)
    # each stage's time in the child's log as it ends: a run stopped at its share still says where
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger("gputopic").addHandler(handler)
    logging.getLogger("gputopic").setLevel(logging.INFO)
    progress = _Progress(args.result)
    docs = json.loads(Path(args.docs).read_text())
    try:
        (child_sharded if args.role == "sharded" else child_single)(args, docs, progress)
    except BaseException as exc:  # noqa: BLE001 - the record is the point; TimeoutError from SIGTERM too
        progress.error(args.role, exc)
        return 1
    return 0


# ------------------------------------------------------------------------------- parent


def _launch(args, role: str, tmp: Path, budget_s: float) -> dict:
    """Run one child within ``budget_s``; its result dict, with timeout / exit facts added."""
    result_path = tmp / f"{role}.json"
    log_path = Path(args.out) / f"{role}.log"
    cmd = [sys.executable, __file__, "--role", role, "--docs", str(tmp / "docs.json"), "--result",
           str(result_path), "--model", args.model, "--cluster", args.cluster, "--device", args.device,
           "--seed", str(args.seed), "--data", args.data, "--n", str(args.n), "--out", args.out]
    if args.partitions:
        cmd += ["--partitions", str(args.partitions)]
    rec: dict = {"budget_s": round(budget_s, 1)}
    if budget_s < GRACE_S + 5:
        rec["errors"] = [{"where": role, "error": "skipped: no time left in --timeout-s"}]
        return rec
    start = time.perf_counter()
    with open(log_path, "w") as log:
        # its own session: the cluster's processes are in its process group, killed with it
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rec["returncode"] = proc.wait(timeout=budget_s - GRACE_S)
        except subprocess.TimeoutExpired:
            rec["timed_out"] = True
            proc.send_signal(signal.SIGTERM)  # the child alone: it stops the fit and closes its cluster
            try:
                proc.wait(timeout=GRACE_S - 1)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, the cluster's workers too
            except ProcessLookupError:
                pass
            rec["returncode"] = proc.wait()
        try:  # a worker process that outlived its cluster's close
            os.killpg(proc.pid, signal.SIGKILL)
            rec["killed_leftovers"] = True
        except ProcessLookupError:
            pass
    rec["child_wall_s"] = time.perf_counter() - start
    if result_path.exists():
        rec.update(json.loads(result_path.read_text()))
    if rec.get("timed_out"):
        rec.setdefault("errors", []).append(
            {"where": role, "error": f"timed out: over its {budget_s:.0f} s share of --timeout-s"})
    if rec.get("returncode") or rec.get("errors"):
        rec["log_tail"] = log_path.read_text(errors="replace")[-4000:]
    return rec


def _agreement(a: dict, b: dict) -> dict:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    ta, tb = np.asarray(a["topics"]), np.asarray(b["topics"])
    out = {"topics_identical": bool(ta.shape == tb.shape and (ta == tb).all()),
           "ari": float(adjusted_rand_score(ta, tb)),
           "n_topics": {"sharded": len(a["words"]), "single": len(b["words"])},
           "outliers": {"sharded": int((ta == -1).sum()), "single": int((tb == -1).sum())}}
    wa, wb = a["words"], b["words"]

    def jac(x, y):
        return len(set(x) & set(y)) / max(1, len(set(x) | set(y)))

    same = [t for t in wa if t in wb]
    out["words_identical"] = bool(wa == wb)
    out["same_id_words_jaccard_mean"] = float(np.mean([jac(wa[t], wb[t]) for t in same])) if same else None
    out["best_match_words_jaccard_mean"] = (
        float(np.mean([max(jac(wa[t], w) for w in wb.values()) for t in wa])) if wa and wb else None)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="embedding model folder (or name)")
    p.add_argument("--data", required=True, help="labelled .jsonl(.gz) to resample, e.g. 20newsgroups.jsonl.gz")
    p.add_argument("--n", type=int, default=20000, help="resampled documents to fit")
    p.add_argument("--out", required=True, help="folder for dask_gpu_check.json and the logs")
    p.add_argument("--cluster", choices=("local-cuda", "local"), default="local-cuda")
    p.add_argument("--device", default="auto", help="GPUTopic(device=...) in every process")
    p.add_argument("--seed", type=int, default=0, help="resampling seed and GPUTopic random_state")
    p.add_argument("--partitions", type=int,
                   help="pass a dask Series of this many partitions (default: the in-memory list, as the CLI)")
    p.add_argument("--timeout-s", type=float, default=300.0, help="bound on the whole run")
    p.add_argument("--sharded-share", type=float, default=0.6,
                   help="fraction of the time left that the sharded fit may take (the single fit gets the rest)")
    p.add_argument("--role", choices=("sharded", "single"), help=argparse.SUPPRESS)
    p.add_argument("--docs", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role:
        return run_child(args)

    t0 = time.perf_counter()
    deadline = t0 + args.timeout_s - 3.0  # what the parent needs to write the JSON
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"cluster": args.cluster, "partitions": args.partitions, "n_requested": args.n, "model": args.model, "data": args.data,
                    "device": args.device, "seed": args.seed, "timeout_s": args.timeout_s, "errors": []}
    json_path = out_dir / "dask_gpu_check.json"

    def write() -> None:
        result["wall_s"] = time.perf_counter() - t0
        json_path.write_text(json.dumps(result, indent=2, default=str))

    try:
        from corpus import provenance
        from gputopic.device import versions

        result["provenance"] = provenance()
        result["versions"] = versions()
        from importlib import metadata

        for dist in ("dask", "distributed", "dask-cuda", "cuda-core", "nvidia-ml-py"):
            try:
                result["versions"][dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                result["versions"][dist] = None
    except Exception as exc:  # noqa: BLE001
        result["errors"].append({"where": "versions", "error": repr(exc), "traceback": traceback.format_exc()})

    with tempfile.TemporaryDirectory(prefix="dask_gpu_check_") as tmp_name:
        tmp = Path(tmp_name)
        try:
            from corpus import load, resample

            t = time.perf_counter()
            docs, labels = resample(*load(args.data), args.n, args.seed)
            keep = [i for i, d in enumerate(docs) if d.strip()]
            docs, labels = [docs[i] for i in keep], [labels[i] for i in keep]
            (tmp / "docs.json").write_text(json.dumps(docs))
            result.update(n_docs=len(docs), corpus_s=time.perf_counter() - t)
            print(f"{len(docs)} documents resampled from {args.data}", flush=True)
        except Exception as exc:  # noqa: BLE001 - nothing to fit without documents
            result["errors"].append({"where": "corpus", "error": repr(exc), "traceback": traceback.format_exc()})
            write()
            return 1
        write()

        left = deadline - time.perf_counter()
        sharded = _launch(args, "sharded", tmp, left * args.sharded_share)
        print(f"sharded ({args.cluster}): {sharded.get('seconds', 'no fit')} s, "
              f"{sharded.get('n_workers')} workers, errors: {len(sharded.get('errors', []))}", flush=True)
        result["sharded"] = {k: v for k, v in sharded.items() if k not in ("topics", "words")}
        write()
        single = _launch(args, "single", tmp, deadline - time.perf_counter())
        print(f"single process: {single.get('seconds', 'no fit')} s, errors: {len(single.get('errors', []))}",
              flush=True)
        result["single"] = {k: v for k, v in single.items() if k not in ("topics", "words")}

    for name, rec in (("sharded", sharded), ("single", single)):
        for e in rec.get("errors", []):
            result["errors"].append({**e, "where": f"{name}: {e['where']}"})
    try:
        from sklearn.metrics import normalized_mutual_info_score

        result["nmi_vs_labels"] = {name: float(normalized_mutual_info_score(labels, rec["topics"]))
                                   for name, rec in (("sharded", sharded), ("single", single)) if "topics" in rec}
        if "topics" in sharded and "topics" in single:
            result["agreement"] = _agreement(sharded, single)
            result["speedup_single_over_sharded"] = single["seconds"] / sharded["seconds"]
        result["words"] = {name: rec["words"] for name, rec in (("sharded", sharded), ("single", single))
                           if "words" in rec}
    except Exception as exc:  # noqa: BLE001
        result["errors"].append({"where": "compare", "error": repr(exc), "traceback": traceback.format_exc()})
    write()
    summary = {k: result.get(k) for k in ("cluster", "n_docs", "wall_s", "nmi_vs_labels", "agreement",
                                          "speedup_single_over_sharded")}
    summary["sharded_s"], summary["single_s"] = sharded.get("seconds"), single.get("seconds")
    summary["n_workers"] = sharded.get("n_workers")
    summary["sharded_timings"], summary["single_timings"] = sharded.get("timings"), single.get("timings")
    summary["errors"] = [f"{e['where']}: {e['error']}" for e in result["errors"]]
    print(json.dumps(summary, indent=2, default=str))
    print(f"wrote {json_path}")
    return 0 if not result["errors"] else 2


if __name__ == "__main__":
    sys.exit(main())
