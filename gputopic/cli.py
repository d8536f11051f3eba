"""The ``gputopic`` command line.

::

    gputopic fit corpus.jsonl --out model/          # fit, save, print the topics
    gputopic topics model/ --top 20                 # print the topics of a saved model
    gputopic transform model/ new.csv --out t.csv   # assign topics to new documents
    gputopic report model/ --out report.html        # an HTML page of the topics and figures
    gputopic demo                                   # fit the bundled 20 Newsgroups sample

Errors the library raises on purpose (:class:`~gputopic.exceptions.GPUTopicError`) are printed
as ``error: <message>`` on stderr with exit status 2; ``main`` never prints a traceback for them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Sequence

import numpy as np

from .device import to_numpy
from .exceptions import GPUTopicError, InputError
from .io import OUTPUT_SUFFIXES, SUPPORTED_SUFFIXES

__all__ = ["main", "build_parser"]

EXIT_ERROR = 2

_FORMATS = ", ".join(SUPPORTED_SUFFIXES)
_EPILOG = f"""\
input formats (by suffix): {_FORMATS}.
  .txt holds one document per line; the other formats read the documents from the column
  'text' (or --text-column NAME).

examples:
  gputopic demo --device cpu
  gputopic fit corpus.jsonl.gz --out model/ --min-topic-size 15
  gputopic topics model/ --top 20
  gputopic fit 'shards/*.parquet' --out model/ --scheduler tcp://10.0.0.1:8786
  gputopic transform model/ new_docs.csv --out assignments.csv
  gputopic report model/ --out report.html
"""


# ---------------------------------------------------------------- argument parsing


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``, with a message naming the rule."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")
_nr_topics_int = _int_at_least(2, "'auto' or an integer >= 2")


def _nr_topics(text: str):
    return "auto" if text == "auto" else _nr_topics_int(text)


def _names(text: str) -> list[str]:
    """'a;b' -> ['a', 'b']: names separated by semicolons, none empty."""
    names = [n.strip() for n in text.split(";")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by ';' (none empty), got {text!r}")
    return names


def _word_lists(text: str) -> list[list[str]]:
    """'a,b;c' -> [['a', 'b'], ['c']]: topics separated by ';', their words by ','."""
    topics = [[w.strip() for w in t.split(",")] for t in text.split(";")]
    if not all(t and all(t) for t in topics):
        raise argparse.ArgumentTypeError(f"expected words separated by ',' and topics by ';' (none empty), "
                                         f"got {text!r}")
    return topics


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", metavar="C",
                   help="column holding the documents in .jsonl/.csv/.parquet input (default: text)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="use only the first N documents of the input")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model options")
    g.add_argument("--min-topic-size", type=_positive_int, default=10, metavar="N",
                   help="smallest number of documents a topic may have (default: 10)")
    g.add_argument("--top-n-words", type=_positive_int, default=10, metavar="N",
                   help="number of words kept per topic (default: 10)")
    g.add_argument("--nr-topics", type=_nr_topics, metavar="N|auto",
                   help="merge similar topics until N remain, counting the outliers (-1), or 'auto' "
                        "(default: keep the topics HDBSCAN finds)")
    g.add_argument("--random-state", type=_non_negative_int, metavar="N",
                   help="seed for UMAP, for reproducible topics (default: not seeded, faster)")
    _add_embedding_options(g)


def _add_embedding_options(g) -> None:
    g.add_argument("--embedding-model", metavar="NAME_OR_PATH",
                   help="sentence-transformers model name or local folder (default: the bundled "
                        "all-MiniLM-L6-v2, which needs no download)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where to compute: 'auto' uses a CUDA GPU when one is visible (default: auto)")
    g.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="embedding batch size (default: chosen for the device)")
    g.add_argument("--embedding-cache", metavar="DIR",
                   help="folder caching document embeddings, so refitting the same documents "
                        "skips the embedding step")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gputopic",
        description="Topic modelling of text documents (BERTopic-style: embed, UMAP, HDBSCAN, "
                    "c-TF-IDF), on a GPU when one is available.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # fit
    p = sub.add_parser(
        "fit", help="fit a topic model on a corpus file and save it",
        description="Fit a topic model on the documents of INPUT, save it to --out and print "
                    "the topics (Topic, Count, Name). Topic -1 collects the outlier documents.",
        epilog=f"input formats (by suffix): {_FORMATS}.",
    )
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to save the fitted model to")
    _add_input_options(p)
    _add_model_options(p)
    g = p.add_argument_group("steering the topics (in-process fits; --representation also sharded)")
    g.add_argument("--label-column", metavar="C",
                   help="column of class labels (.jsonl/.csv/.parquet): UMAP fits semi-supervised; rows "
                        "without a label (empty or null) are unknown")
    g.add_argument("--seed-topics", type=_word_lists, metavar="'w1,w2;w3,w4'",
                   help="seed topics for guided topic modelling: topics separated by ';', their words by ','")
    g.add_argument("--zeroshot-topics", type=_names, metavar="'name 1;name 2'",
                   help="zero-shot topic names separated by ';': documents similar enough to a name join it")
    g.add_argument("--zeroshot-min-similarity", type=float, default=0.7, metavar="F",
                   help="cosine similarity a document needs to join a zero-shot topic (default: 0.7)")
    g.add_argument("--representation", choices=("keybert", "mmr"),
                   help="re-rank the topic words: 'keybert' (KeyBERTInspired) or 'mmr' (maximal marginal "
                        "relevance, diversity 0.3) (default: c-TF-IDF order)")
    g = p.add_argument_group("dask (shard the corpus over several processes or GPUs)")
    g = g.add_mutually_exclusive_group()
    g.add_argument("--cluster", choices=("local", "local-cuda"),
                   help="start a local Dask cluster: 'local' (CPU worker processes) or 'local-cuda' "
                        "(one worker per GPU, needs gputopic[dask-cuda])")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="use a running Dask scheduler, e.g. tcp://10.0.0.1:8786; a .parquet INPUT "
                        "may then be a glob read by the workers")
    p.add_argument("--verbose", "-v", action="store_true", help="log the progress of each stage")
    p.set_defaults(func=_cmd_fit)

    # topics
    p = sub.add_parser(
        "topics", help="print the topics of a saved model",
        description="Print the topic table (Topic, Count, Name) of a model saved by "
                    "'gputopic fit'. The outlier topic -1 is listed first when there is one.",
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--top", type=_positive_int, metavar="N",
                   help="show only the N largest topics (plus the outlier topic -1)")
    p.set_defaults(func=_cmd_topics)

    # transform
    p = sub.add_parser(
        "transform", help="assign the topics of a saved model to new documents",
        description="Load a model saved by 'gputopic fit', assign a topic to each document of "
                    "INPUT and write one row per document (document, topic, probability) to "
                    "--out. 'document' is the 0-based position of the document in INPUT.",
        epilog=f"input formats (by suffix): {_FORMATS}. "
               f"output formats (by suffix): {', '.join(OUTPUT_SUFFIXES)}.",
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="FILE",
                   help=f"file to write ({', '.join(OUTPUT_SUFFIXES)})")
    _add_input_options(p)
    g = p.add_argument_group("model options (default: as saved with the model)")
    g.add_argument("--embedding-model", metavar="NAME_OR_PATH",
                   help="embedding model to use instead of the one saved with the model "
                        "(must be the model it was fitted with, e.g. when moved to another folder)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="where to compute, e.g. 'cpu' for a model fitted with --device cuda")
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="embedding batch size")
    g.add_argument("--embedding-cache", metavar="DIR", help="folder caching document embeddings")
    p.add_argument("--verbose", "-v", action="store_true", help="log the progress of each stage")
    p.set_defaults(func=_cmd_transform)

    # report
    p = sub.add_parser(
        "report", help="write an HTML page of a saved model's topics and figures",
        description="Write an HTML page describing a model saved by 'gputopic fit': a summary, "
                    "the topic table and interactive figures (intertopic map, word bar charts, "
                    "hierarchy, similarity matrix). Needs plotly (pip install 'gputopic[plot]').",
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    p.add_argument("--title", default="gputopic report", help="the page's title")
    p.add_argument("--top-n-topics", type=_positive_int, default=50, metavar="N",
                   help="figures of many topics show the N largest (default 50)")
    p.add_argument("--cdn", action="store_true",
                   help="link plotly.js from its CDN instead of putting it in the page (about 4.9 MB; "
                        "the page then needs internet access to draw)")
    p.set_defaults(func=_cmd_report)

    # demo
    p = sub.add_parser(
        "demo", help="fit the bundled 20 Newsgroups sample and score it against its labels",
        description="Fit a topic model on the bundled sample of 20 Newsgroups (2,000 documents, "
                    "100 from each of 20 newsgroups), print the topics and the normalized mutual "
                    "information (NMI) between topics and newsgroups (outliers counted as one "
                    "cluster). Needs no download. UMAP is seeded (--random-state 1 unless given) "
                    "so the demo prints the same topics every time.",
    )
    _add_model_options(p)
    p.add_argument("--out", metavar="DIR", help="also save the fitted model to DIR")
    p.add_argument("--verbose", "-v", action="store_true", help="log the progress of each stage")
    # seed 1: 21 topics, NMI 0.54 on the CPU; seed 0 is one of the seeds that fall into
    # HDBSCAN's two-giant-topics case on this sample (README, "Few giant topics")
    p.set_defaults(func=_cmd_demo, random_state=1)
    return parser


def _version() -> str:
    import gputopic  # already imported: this module lives in the package

    return getattr(gputopic, "__version__", "(unknown version)")


# ---------------------------------------------------------------- helpers


def _estimator_class():
    from .model import GPUTopic

    return GPUTopic


def _make_model(args: argparse.Namespace):
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
        verbose=args.verbose,
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


def _topic_table(model, top: int | None = None) -> str:
    info = model.get_topic_info()
    columns = [c for c in ("Topic", "Count", "Name") if c in info.columns]
    table = info[columns]
    if top is not None and "Topic" in table.columns:
        outliers = table[table["Topic"] == -1]
        rest = table[table["Topic"] != -1]
        if "Count" in rest.columns:
            rest = rest.sort_values("Count", ascending=False, kind="stable")
        import pandas as pd

        table = pd.concat([outliers, rest.head(top)])
    if len(table) == 0:
        return "(no topics)"
    return table.to_string(index=False, max_colwidth=80)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _setup_logging(verbose: bool) -> None:
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                            stream=sys.stderr)
        logging.getLogger("gputopic").setLevel(logging.INFO)


def _n_topics(model) -> int:
    info = model.get_topic_info()
    return int((info["Topic"] != -1).sum())


# ---------------------------------------------------------------- commands


def _non_blank(docs: list) -> tuple[list, np.ndarray]:
    """The documents with text, and their row numbers; says on stderr how many were blank.

    The library refuses empty documents; on the command line, where corpora come from files
    that often hold a few (20 Newsgroups has 515), they are left out of fitting and get
    topic -1 in ``transform`` output instead.
    """
    keep = np.fromiter((isinstance(d, str) and bool(d.strip()) for d in docs), dtype=bool, count=len(docs))
    if not keep.all():
        _note(f"left out {int((~keep).sum())} empty or whitespace-only documents")
    idx = np.flatnonzero(keep)
    return [docs[i] for i in idx], idx


def _cmd_fit(args: argparse.Namespace) -> int:
    from .io import read_corpus

    if getattr(args, "cluster", None) or getattr(args, "scheduler", None):
        steering = [o for o, v in (("--label-column", args.label_column), ("--seed-topics", args.seed_topics),
                                   ("--zeroshot-topics", args.zeroshot_topics)) if v is not None]
        if steering:
            raise InputError(f"{', '.join(steering)} need an in-process fit: leave out --cluster / --scheduler.")
        return _cmd_fit_dask(args)
    corpus = read_corpus(args.input, text_column=args.text_column, label_column=args.label_column,
                         limit=args.limit)
    docs, rows = _non_blank(corpus.docs)
    _check_enough_docs(len(docs), args.min_topic_size)
    y = None if corpus.labels is None else _label_codes([corpus.labels[i] for i in rows])
    model = _make_model(args)
    start = time.perf_counter()
    model.fit(docs, y=y)
    return _save_and_report(model, args, time.perf_counter() - start)


def _save_and_report(model, args: argparse.Namespace, seconds: float, how: str = "") -> int:
    """Save a fitted model to --out, print its topic table, say what was done on stderr."""
    model.save(args.out)
    print(_topic_table(model))
    _note(f"fitted {_n_topics(model)} topics on {len(model.topics_)} documents in {seconds:.1f} s"
          f"{how}; model saved to {args.out}")
    return 0


def _cmd_fit_dask(args: argparse.Namespace) -> int:
    from .distributed import open_client, read_documents
    from .io import read_corpus

    with open_client(cluster=args.cluster, scheduler=args.scheduler) as client:
        if args.input.lower().endswith(".parquet"):  # read by the workers, globs allowed
            docs = read_documents(args.input, text_column=args.text_column, limit=args.limit)
        else:
            docs, _ = _non_blank(read_corpus(args.input, text_column=args.text_column, limit=args.limit).docs)
        model = _make_model(args)
        model.set_params(client=client)
        start = time.perf_counter()
        model.fit(docs)
        seconds = time.perf_counter() - start
        model.set_params(client=None)
    return _save_and_report(model, args, seconds, how=" (dask)")


def _cmd_topics(args: argparse.Namespace) -> int:
    model = _estimator_class().load(args.model)
    print(_topic_table(model, top=args.top))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .plotting import report

    model = _estimator_class().load(args.model)
    report(model, args.out, title=args.title, top_n_topics=args.top_n_topics,
           include_plotlyjs="cdn" if args.cdn else True)
    _note(f"wrote {args.out} ({_n_topics(model)} topics)")
    return 0


def _cmd_transform(args: argparse.Namespace) -> int:
    from .io import read_corpus, write_topics

    name = args.out.lower()
    if not any(name.endswith(s) for s in OUTPUT_SUFFIXES):  # fail before the expensive part
        raise InputError(f"Cannot tell the output format of {args.out}: use a name ending in "
                         f"{', '.join(OUTPUT_SUFFIXES)}.")
    corpus = read_corpus(args.input, text_column=args.text_column, limit=args.limit)
    model = _estimator_class().load(args.model, embedding_model=args.embedding_model)
    overrides = {"device": args.device, "batch_size": args.batch_size,
                 "embedding_cache_dir": args.embedding_cache}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.verbose:
        overrides["verbose"] = True
    if overrides:
        model.set_params(**overrides)
    start = time.perf_counter()
    docs, keep = _non_blank(corpus.docs)
    topics = np.full(len(corpus.docs), -1, dtype=np.int64)  # blank documents: outliers
    probs = None
    if docs:
        kept_topics, kept_probs = model.transform(docs)
        topics[keep] = to_numpy(kept_topics)
        if kept_probs is not None:
            kept_probs = to_numpy(kept_probs)
            probs = np.full((len(corpus.docs),) + kept_probs.shape[1:], np.nan)
            probs[keep] = kept_probs
    seconds = time.perf_counter() - start
    write_topics(args.out, topics, probs)
    _note(f"assigned topics to {len(corpus)} documents in {seconds:.1f} s; wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .io import demo_corpus

    corpus = demo_corpus()
    model = _make_model(args)
    _note(f"fitting {len(corpus)} documents from 20 Newsgroups ({len(set(corpus.labels))} "
          f"newsgroups) on device={args.device} ...")
    start = time.perf_counter()
    topics, _ = model.fit_transform(corpus.docs)
    seconds = time.perf_counter() - start
    if args.out:
        model.save(args.out)
    print(_topic_table(model))
    from sklearn.metrics import normalized_mutual_info_score

    topics = to_numpy(topics).reshape(-1)
    nmi = normalized_mutual_info_score(corpus.labels, topics)
    outliers = float((topics == -1).mean())
    print(f"\nNMI vs newsgroups: {nmi:.3f}   topics: {_n_topics(model)}   "
          f"outliers: {outliers:.1%}   time: {seconds:.1f} s")
    if args.out:
        _note(f"model saved to {args.out}")
    return 0


def _check_enough_docs(n_docs: int, min_topic_size: int) -> None:
    if n_docs < 2 * min_topic_size:
        raise InputError(
            f"Only {n_docs} documents for --min-topic-size {min_topic_size}: a topic model needs "
            f"at least {2 * min_topic_size} (two topics' worth). Add documents or lower "
            "--min-topic-size."
        )


# ---------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gputopic`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    _setup_logging(getattr(args, "verbose", False))
    try:
        return args.func(args)
    except GPUTopicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
