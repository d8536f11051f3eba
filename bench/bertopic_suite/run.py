"""Run BERTopic 0.17.4's own test suite against BERTopic and/or gputopic's GPUTopic, offline.

    nice -n 15 /work/main/.venv/bin/python bench/bertopic_suite/run.py --target both
    python bench/bertopic_suite/run.py --target gputopic -k test_full_model      # a subset
    python bench/bertopic_suite/run.py --report bench/results/bertopic_suite_<stamp>.json  # re-classify

The vendored test files (tests/, unchanged, MIT: see NOTICE) run under pytest with a replaced
conftest (tests/conftest.py): data and embedding model are local, and for ``--target gputopic``
``bertopic.BERTopic`` is GPUTopic. Each target runs in its own pytest process in a scratch folder
(the tests write model folders to the working directory). Every test's outcome is classified
(classify.py) and written to ``bench/results/bertopic_suite_<stamp>.json`` and ``.md``.
The gputopic imported is the one of this checkout, or of ``--src PATH`` (its root goes first on
PYTHONPATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import classify  # noqa: E402


def git_state(src: Path) -> dict:
    def run(*args):
        return subprocess.run(["git", *args], cwd=src, capture_output=True, text=True).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("gputopic", "bertopic", "numpy", "scipy", "scikit-learn", "pandas", "torch",
                 "sentence-transformers", "umap-learn", "hdbscan", "plotly", "pytest"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_target(target: str, pytest_args: list[str], keep: Path | None, docs: str, src: Path,
               unmask: bool = False) -> dict:
    """One pytest process over the vendored suite; returns the per-test rows and timings."""
    work = Path(tempfile.mkdtemp(prefix=f"bertopic_suite_{target}_"))
    results = work / "results.jsonl"
    env = dict(os.environ)
    env.update({
        "BERTOPIC_SUITE_TARGET": target,
        "BERTOPIC_SUITE_RESULTS": str(results),
        "BERTOPIC_SUITE_DOCS": docs,
        "BERTOPIC_SUITE_UNMASK": "1" if unmask else "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(src)] + [p for p in [env.get("PYTHONPATH")] if p]),
        "MPLBACKEND": "Agg",
    })
    cmd = [sys.executable, "-m", "pytest", "-c", str(HERE / "pytest.ini"), "--rootdir", str(HERE),
           str(HERE / "tests"), "-q", "-p", "no:randomly", *pytest_args]
    print(f"[{target}] {' '.join(cmd)}  (cwd {work})", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    tail = (proc.stdout + proc.stderr)[-3000:]
    print(tail, flush=True)
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(results, keep / f"raw_{target}.jsonl") if results.exists() else None
        (keep / f"pytest_{target}.log").write_text(proc.stdout + proc.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows, "wall_s": round(wall, 1), "pytest_exit": proc.returncode, "pytest_tail": tail[-1500:]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=["bertopic", "gputopic", "both"], default="both")
    ap.add_argument("--docs", choices=["nonblank", "upstream"], default="nonblank",
                    help="the suite's 1,000 posts: the first 1,000 non-blank ones (default; gputopic refuses blank "
                         "documents, which would fail every fixture on that one difference) or upstream's exact "
                         "first 1,000 (27 blank)")
    ap.add_argument("--unmask", action="store_true",
                    help="diagnostic, gputopic only: build the fixture models that fail at one gate (sub-model "
                         "attributes set after construction, PCA in partial_fit, BaseDimensionalityReduction, "
                         "BERTopic representation models) so that they pass it; not the measure")
    ap.add_argument("--src", default=str(ROOT),
                    help="the checkout whose gputopic is tested (default: this one); its git state is recorded")
    ap.add_argument("-k", default=None, help="pytest -k expression (a subset of the tests)")
    ap.add_argument("--out", default=None, help="output JSON path (default bench/results/bertopic_suite_<stamp>.json)")
    ap.add_argument("--report", default=None, help="re-classify an earlier JSON's raw rows and rewrite it and its .md")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="combine the runs of earlier JSON files (e.g. one per target, run side by side) into --out")
    ap.add_argument("--partial", nargs="+", default=None, metavar="TARGET=RAW.jsonl",
                    help="with --merge: add a target's raw rows from a run still in progress (its scratch folder's "
                         "results.jsonl); the run is marked partial")
    ap.add_argument("--keep-logs", action="store_true", help="keep the pytest logs next to the JSON")
    args = ap.parse_args(argv)

    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        data = {k: v for k, v in parts[0].items() if k not in ("runs", "summary")}
        data["runs"] = {}
        for part in parts:
            for target, run in part["runs"].items():
                run.pop("tests", None)
                run.setdefault("git", part["git"])
                run.setdefault("started_utc", part.get("started_utc"))
                data["runs"][target] = run
        for spec in args.partial or []:
            target, _, raw = spec.partition("=")
            rows = [json.loads(line) for line in Path(raw).read_text().splitlines() if line.strip()]
            data["runs"][target] = {"rows": rows, "partial": True, "wall_s": None, "git": git_state(ROOT),
                                    "note": f"run still in progress: {len(rows)} rows read from {raw}"}
        data["merged_from"] = [str(p) for p in args.merge] + list(args.partial or [])
        data["git"] = data["runs"].get("gputopic", parts[0])["git"]
        if not args.out:
            ap.error("--merge needs --out")
        out = Path(args.out)
    elif args.report:
        out = Path(args.report)
        data = json.loads(out.read_text())
        for target, run in data["runs"].items():
            run.pop("tests", None)
        data["rules_version"] = classify.RULES_VERSION
    else:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"bertopic_suite_{stamp}.json"
        targets = ["bertopic", "gputopic"] if args.target == "both" else [args.target]
        pytest_args = ["-k", args.k] if args.k else []
        keep = out.with_suffix("") if args.keep_logs else None
        data = {
            "what": "BERTopic 0.17.4's own test suite (tests/ at tag v0.17.4), offline, against each target",
            "started_utc": stamp,
            "gputopic_src": str(Path(args.src).resolve()),
            "git": git_state(Path(args.src)),
            "versions": versions(),
            "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count(), "shared": "yes (several agents on 2 cores)"},
            "pytest_k": args.k,
            "documents": args.docs,
            "unmask": args.unmask,
            "rules_version": classify.RULES_VERSION,
            "runs": {t: run_target(t, pytest_args, keep, args.docs, Path(args.src).resolve(), args.unmask)
                     for t in targets},
        }
        for run in data["runs"].values():
            run["git"], run["started_utc"] = data["git"], stamp
    data["summary"] = classify.summarise(data["runs"], HERE / "tests")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    md = classify.markdown(data)
    out.with_suffix(".md").write_text(md)
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
