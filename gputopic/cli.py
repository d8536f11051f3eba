"""The ``gputopic`` command line.

::

    gputopic fit corpus.jsonl --out model/ --assignments topics.csv   # fit, save, print the topics
    gputopic topics model/ --top 20 --format json   # the topics of a saved model (table, csv, json)
    gputopic transform model/ new.csv --out t.csv   # assign topics to new documents
    gputopic report model/ --out report.html        # an HTML page of the topics and figures
    gputopic demo                                   # fit the bundled 20 Newsgroups sample

One error boundary (:func:`main`): every :class:`~gputopic.exceptions.GPUTopicError` and every
``OSError`` (a file that cannot be read or written) is printed as one line,
``gputopic: error: <message>``, on stderr with exit status 2; ``--debug`` adds the traceback.
Output paths are checked before any work starts. Other exceptions are bugs and keep their
traceback.

The command owns the ``gputopic`` logger while it runs: warnings are printed as
``gputopic: warning: ...`` with the library's parameter names replaced by the command's flags
(``min_topic_size`` -> ``--min-topic-size``), stage timings only with ``--verbose``, and the
stage records drive the progress bar (on by default when stderr is a terminal, off with
``--quiet``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

import numpy as np

from .cli_console import STAGES, Session, cli_words
from .cli_parser import build_parser
from .device import to_numpy
from .exceptions import GPUTopicError, InputError

__all__ = ["main", "build_parser", "EXIT_ERROR"]

#: exit status of an error in the input, the options or a file (and of argparse's usage errors)
EXIT_ERROR = 2
#: exit status after Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130
#: exit status when the reader of stdout went away (``gputopic topics m | head``): 128 + SIGPIPE,
#: what a shell reports for a command that the broken pipe stopped
EXIT_BROKEN_PIPE = 141


# ---------------------------------------------------------------- output paths


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(folder: Path, what: str) -> None:
    """``folder`` exists as a writable folder, or can be created (its nearest existing
    ancestor is a writable folder)."""
    base = _nearest_existing(folder.absolute())
    if not base.is_dir():
        raise InputError(f"{what}: {base} is a file, not a folder. Choose another path.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{what}: the folder {base} is not writable. Choose another path or fix its permissions.")


def _check_output_file(path: str, flag: str, inputs: Sequence[str] = (), example: str = "out.csv",
                       table: bool = True) -> Path:
    """An output file that can be written, checked before any work: not a folder, a name
    whose suffix gives the format (``table``: a file of :func:`~gputopic.io.write_topics`),
    not one of the inputs, and in a folder that exists and is writable or can be created."""
    from .io import output_suffix

    out = Path(path)
    if out.is_dir():
        raise InputError(f"{flag} {path} is a folder; give a file name, e.g. {out / example}.")
    if table:
        output_suffix(out)
    for src in inputs:
        if out.exists() and Path(src).exists() and os.path.samefile(out, src):
            raise InputError(f"{flag} {path} is the input file; choose another name, so the input is kept.")
    if out.exists() and not os.access(out, os.W_OK):
        raise InputError(f"{flag} {path} exists and is not writable. Choose another path or fix its permissions.")
    _check_creatable(out.parent, f"{flag} {path}")
    return out


def _check_output_folder(path: str, flag: str) -> None:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {path} exists and is not a folder. Choose another path.")
    _check_creatable(out, f"{flag} {path}")


# ---------------------------------------------------------------- helpers


def _estimator_class():
    from .model import GPUTopic

    return GPUTopic


def _make_model(args: argparse.Namespace, session: Session):
    from .represent import KeyBERTInspired, MaximalMarginalRelevance

    GPUTopic = _estimator_class()
    representation = {None: None, "keybert": KeyBERTInspired(),
                      "mmr": MaximalMarginalRelevance(diversity=0.3)}[getattr(args, "representation", None)]
    return GPUTopic(
        embedding_model=args.embedding_model,
        top_n_words=args.top_n_words,
        min_topic_size=args.min_topic_size,
        nr_topics=args.nr_topics,
        device=args.device,
        batch_size=args.batch_size,
        random_state=args.random_state,
        # the library's per-document embedding bar shows with verbose=True; its stage records
        # go to the command's handler (Session), which prints them with --verbose only
        verbose=session.progress or session.verbose,
        embedding_cache_dir=args.embedding_cache,
        representation_model=representation,
        seed_topic_list=getattr(args, "seed_topics", None),
        zeroshot_topic_list=getattr(args, "zeroshot_topics", None),
        zeroshot_min_similarity=getattr(args, "zeroshot_min_similarity", 0.7),
    )


def _label_codes(values: list) -> np.ndarray:
    """Class labels from a column: integer codes in order of first appearance, -1 where a
    row has none (null or empty)."""
    codes, seen = np.full(len(values), -1, dtype=np.int64), {}
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            continue
        codes[i] = seen.setdefault(v, len(seen))
    return codes


def _topic_frame(model, top: int | None = None):
    """The topic table of ``model`` (pandas), outliers first, then the ``top`` largest topics."""
    import pandas as pd

    info = model.get_topic_info()
    if hasattr(info, "to_pandas"):  # cuDF
        info = info.to_pandas()
    if top is not None:
        outliers = info[info["Topic"] == -1]
        rest = info[info["Topic"] != -1].sort_values("Count", ascending=False, kind="stable")
        info = pd.concat([outliers, rest.head(top)])
    return info


def _topic_table(model, top: int | None = None) -> str:
    table = _topic_frame(model, top)[["Topic", "Count", "Name"]]
    if len(table) == 0:
        return "(no topics)"
    return table.to_string(index=False, max_colwidth=80)


def _topic_records(model, top: int | None = None) -> list[dict]:
    info = _topic_frame(model, top)
    names = info["CustomName"] if "CustomName" in info.columns else info["Name"]
    words = info["Representation"] if "Representation" in info.columns else [[] for _ in range(len(info))]
    return [{"topic": int(t), "count": int(c), "name": str(n), "words": [str(w) for w in ws]}
            for t, c, n, ws in zip(info["Topic"], info["Count"], names, words)]


def _n_topics(model) -> int:
    return int((_topic_frame(model)["Topic"] != -1).sum())


def _blank_notice(n_blank: int, n_rows: int, assignments: bool) -> str:
    where = "they get topic -1 in --assignments" if assignments else "they get no topic"
    return (f"left out {n_blank} of {n_rows} documents that are blank (empty, whitespace-only or null): "
            f"{where}")


def _spread(n_rows: int, kept_rows: np.ndarray, topics, probs) -> tuple[np.ndarray, np.ndarray | None]:
    """Topics (-1) and probabilities (NaN) for all ``n_rows`` input rows from those of the
    ``kept_rows`` that were fitted or transformed."""
    full_topics = np.full(n_rows, -1, dtype=np.int64)
    full_topics[kept_rows] = to_numpy(topics).reshape(-1)
    if probs is None:
        return full_topics, None
    probs = np.asarray(to_numpy(probs), dtype=np.float64)
    full_probs = np.full((n_rows,) + probs.shape[1:], np.nan)
    full_probs[kept_rows] = probs
    return full_topics, full_probs


def _id_values(corpus, id_column: str | None, flag: str) -> list | None:
    if id_column is None:
        return None
    if corpus.frame is None:
        raise InputError(f"--id-column {id_column}: {corpus.path} is a .txt file and has no columns; the "
                         f"row number in {flag} identifies each line (document = line number - 1).")
    if id_column not in corpus.frame.columns:
        raise InputError(f"--id-column {id_column}: {corpus.path} has no such column; its columns are "
                         f"{[str(c) for c in corpus.frame.columns]}.")
    return corpus.frame[id_column].tolist()


# ---------------------------------------------------------------- commands


def _cmd_fit(args: argparse.Namespace, session: Session) -> int:
    from .io import read_corpus

    sharded = bool(args.cluster or args.scheduler)
    if sharded:
        steering = [o for o, v in (("--label-column", args.label_column), ("--seed-topics", args.seed_topics),
                                   ("--zeroshot-topics", args.zeroshot_topics)) if v is not None]
        if steering:
            raise InputError(f"{', '.join(steering)} need an in-process fit: leave out --cluster / --scheduler.")
    if args.id_column is not None and args.assignments is None:
        raise InputError("--id-column names the column copied into --assignments: add --assignments FILE.")
    # every output is checked before the fit, so a bad path does not cost a fit
    _check_output_folder(args.out, "--out")
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    if args.assignments is not None:
        _check_output_file(args.assignments, "--assignments", inputs=[args.input])
        if Path(args.assignments).absolute() in (Path(args.out).absolute() / n for n in
                                                  ("gputopic.json", "gputopic.safetensors")):
            raise InputError(f"--assignments {args.assignments} would overwrite a file of the saved model.")
    if sharded and args.input.lower().endswith(".parquet"):
        return _cmd_fit_dask_parquet(args, session)

    corpus = read_corpus(args.input, text_column=args.text_column, label_column=args.label_column,
                         limit=args.limit)
    ids = _id_values(corpus, args.id_column, "--assignments")
    docs, rows = corpus.non_blank()
    if len(rows) < len(corpus):
        session.note(_blank_notice(len(corpus) - len(rows), len(corpus), args.assignments is not None))
    _check_enough_docs(len(docs), args.min_topic_size)
    y = None if corpus.labels is None else _label_codes([corpus.labels[i] for i in rows])
    model = _make_model(args, session)
    if sharded:
        from .distributed import open_client

        with open_client(cluster=args.cluster, scheduler=args.scheduler) as client:
            seconds = _fit(model, session, docs, client=client)
        how = " (dask)"
    else:
        seconds, how = _fit(model, session, docs, y=y), ""
    return _save_and_report(model, args, session, seconds, how, len(corpus), rows, ids)


def _fit(model, session: Session, docs, y=None, client=None) -> float:
    """Fit ``model`` with the stage bar running; the seconds it took."""
    start = time.perf_counter()
    stages = list(STAGES)
    if client is not None:
        model.set_params(client=client)
        stages = stages[1:]  # the sharded fit logs no setup stage
    session.start_stages(stages)
    try:
        if y is None:
            model.fit(docs)
        else:
            model.fit(docs, y=y)
    finally:
        session.stop_stages()
        if client is not None:
            model.set_params(client=None)
    return time.perf_counter() - start


def _save_and_report(model, args: argparse.Namespace, session: Session, seconds: float, how: str,
                     n_rows: int, rows: np.ndarray, ids: list | None) -> int:
    """Save a fitted model to --out, write --assignments (the fit's own topics_ and
    probabilities_, spread over all input rows), print the topic table, note what was done."""
    from .io import write_topics

    model.save(args.out)
    wrote = ""
    if args.assignments is not None:
        topics, probs = _spread(n_rows, rows, model.topics_, model.probabilities_)
        write_topics(args.assignments, topics, probs, ids=ids, id_column=args.id_column or "id")
        wrote = f"; assignments written to {args.assignments}"
    print(_topic_table(model))
    session.note(f"fitted {_n_topics(model)} topics on {len(rows)} documents in {seconds:.1f} s"
                 f"{how}; model saved to {args.out}{wrote}")
    return 0


def _blank_mask(part):
    """Per row of a pandas partition of documents: False where it is blank (null, or a string
    of whitespace), True otherwise (other values stay, for the library to refuse by name)."""
    import pandas as pd

    def has_text(d) -> bool:
        if isinstance(d, str):
            return bool(d.strip())
        return not (d is None or (np.ndim(d) == 0 and bool(pd.isna(d))))  # None, NaN, pd.NA

    return part.map(has_text).astype(bool)


def _cmd_fit_dask_parquet(args: argparse.Namespace, session: Session) -> int:
    """A .parquet INPUT (a glob) read by the Dask workers; blank documents are dropped there,
    and their rows kept track of on the client (one byte a row) for --assignments."""
    from .distributed import open_client, read_documents

    with open_client(cluster=args.cluster, scheduler=args.scheduler) as client:
        series = read_documents(args.input, text_column=args.text_column, limit=args.limit)
        keep = series.map_partitions(_blank_mask, meta=(series.name, bool))
        mask = np.asarray(client.compute(keep).result(), dtype=bool)
        ids = None
        if args.id_column is not None:
            id_series = read_documents(args.input, text_column=args.id_column, limit=args.limit)
            ids = list(client.compute(id_series).result())
            if len(ids) != len(mask):  # pragma: no cover - both columns come from the same files
                raise InputError(f"--id-column {args.id_column} has {len(ids)} values for {len(mask)} documents.")
        rows = np.flatnonzero(mask)
        if len(rows) < len(mask):
            session.note(_blank_notice(len(mask) - len(rows), len(mask), args.assignments is not None))
            series = series[keep]
        _check_enough_docs(len(rows), args.min_topic_size)
        model = _make_model(args, session)
        seconds = _fit(model, session, series, client=client)
    return _save_and_report(model, args, session, seconds, " (dask)", len(mask), rows, ids)


def _cmd_topics(args: argparse.Namespace, session: Session) -> int:
    model = _estimator_class().load(args.model)
    if args.format == "table":
        print(_topic_table(model, top=args.top))
    elif args.format == "json":
        import json

        print(json.dumps(_topic_records(model, top=args.top), ensure_ascii=False, indent=1))
    else:
        import pandas as pd

        records = _topic_records(model, top=args.top)
        frame = pd.DataFrame(records, columns=["topic", "count", "name", "words"])
        frame["words"] = [";".join(r["words"]) for r in records]
        sys.stdout.write(frame.to_csv(index=False))
    return 0


def _cmd_report(args: argparse.Namespace, session: Session) -> int:
    from .plotting import report

    out = _check_output_file(args.out, "--out", example="report.html", table=False)
    model = _estimator_class().load(args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    report(model, args.out, title=args.title, top_n_topics=args.top_n_topics,
           include_plotlyjs="cdn" if args.cdn else True)
    session.note(f"wrote {args.out} ({_n_topics(model)} topics)")
    return 0


def _cmd_transform(args: argparse.Namespace, session: Session) -> int:
    from .io import read_corpus, write_topics

    _check_output_file(args.out, "--out", inputs=[args.input])  # fail before the expensive part
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    corpus = read_corpus(args.input, text_column=args.text_column, limit=args.limit)
    ids = _id_values(corpus, args.id_column, "--out")
    model = _estimator_class().load(args.model, embedding_model=args.embedding_model)
    overrides = {"device": args.device, "batch_size": args.batch_size,
                 "embedding_cache_dir": args.embedding_cache}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if session.progress or session.verbose:
        overrides["verbose"] = True
    if overrides:
        model.set_params(**overrides)
    start = time.perf_counter()
    docs, rows = corpus.non_blank()
    if len(rows) < len(corpus):
        n_blank = len(corpus) - len(rows)
        session.note(f"{n_blank} of {len(corpus)} documents are blank (empty, whitespace-only or null): "
                     f"they get topic -1 in {args.out}")
    topics, probs = model.transform(docs) if docs else (np.zeros(0, dtype=np.int64), None)
    topics, probs = _spread(len(corpus), rows, topics, probs)
    seconds = time.perf_counter() - start
    write_topics(args.out, topics, probs, ids=ids, id_column=args.id_column or "id")
    session.note(f"assigned topics to {len(corpus)} documents in {seconds:.1f} s; wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace, session: Session) -> int:
    from .io import demo_corpus

    if args.out:
        _check_output_folder(args.out, "--out")
    if args.embedding_cache is not None:
        _check_output_folder(args.embedding_cache, "--embedding-cache")
    corpus = demo_corpus()
    model = _make_model(args, session)
    session.note(f"fitting {len(corpus)} documents from 20 Newsgroups ({len(set(corpus.labels))} "
                 f"newsgroups) on device={args.device} ...")
    seconds = _fit(model, session, corpus.docs)
    if args.out:
        model.save(args.out)
    print(_topic_table(model))
    from sklearn.metrics import normalized_mutual_info_score

    topics = to_numpy(model.topics_).reshape(-1)
    nmi = normalized_mutual_info_score(corpus.labels, topics)
    outliers = float((topics == -1).mean())
    print(f"\nNMI vs newsgroups: {nmi:.3f}   topics: {_n_topics(model)}   "
          f"outliers: {outliers:.1%}   time: {seconds:.1f} s")
    if args.out:
        session.note(f"model saved to {args.out}")
    return 0


def _check_enough_docs(n_docs: int, min_topic_size: int) -> None:
    if n_docs < 2 * min_topic_size:
        raise InputError(
            f"Only {n_docs} documents for --min-topic-size {min_topic_size}: a topic model needs "
            f"at least {2 * min_topic_size} (two topics' worth). Add documents or lower "
            "--min-topic-size."
        )


# ---------------------------------------------------------------- entry point

_COMMANDS = {"fit": _cmd_fit, "topics": _cmd_topics, "transform": _cmd_transform, "report": _cmd_report,
             "demo": _cmd_demo}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{what}: {' -> '.join(names)}" if names else what


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush does
    not report the same broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gputopic`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    debug = bool(getattr(args, "debug", False))
    try:
        with Session(args) as session:
            code = _COMMANDS[args.command](args, session)
            sys.stdout.flush()  # a broken pipe shows here, inside the boundary
            return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (GPUTopicError, OSError) as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        if isinstance(exc, GPUTopicError):
            message = cli_words(_one_line(str(exc)) or type(exc).__name__)
        else:
            message = _os_error_message(exc)
        print(f"gputopic: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gputopic: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

