"""The ``gputopic`` command's arguments: :func:`build_parser` (subcommands, options, help
texts and the exit codes they document). Each subcommand sets ``command``, the name
:mod:`gputopic.cli` runs."""

from __future__ import annotations

import argparse

from .io import OUTPUT_SUFFIXES, SUPPORTED_SUFFIXES

_FORMATS = ", ".join(SUPPORTED_SUFFIXES)
_OUT_FORMATS = ", ".join(OUTPUT_SUFFIXES)
_EXIT_CODES = """exit status:
  0    success
  1    an unexpected error (a bug): Python prints the traceback
  2    bad input, options or files: one line on stderr, "gputopic: error: ..."
       (--debug also prints the traceback); output paths are checked before any work starts
  130  interrupted (Ctrl-C)
  141  stdout was closed early, e.g. piped into head (nothing more is printed)
"""
_EPILOG = f"""input formats (by suffix): {_FORMATS}.
  .txt holds one document per line; the other formats read the documents from the column
  'text' (or --text-column NAME). Blank documents (empty or whitespace-only lines or cells,
  null cells) are left out of the fit with a notice; they get topic -1 in --assignments
  and transform output, so those files keep one row per input row.

output: folders in output paths are created as needed. A progress bar is shown while
  stderr is a terminal (--quiet turns it and the notices off); --verbose logs each stage.

examples:
  gputopic demo --device cpu
  gputopic fit corpus.jsonl.gz --out model/ --min-topic-size 15 --assignments topics.csv
  gputopic topics model/ --top 20 --format json
  gputopic fit 'shards/*.parquet' --out model/ --scheduler tcp://10.0.0.1:8786
  gputopic transform model/ new_docs.csv --out assignments.csv --id-column doc_id
  gputopic report model/ --out report.html

{_EXIT_CODES}"""


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
                   help="use only the first N rows of the input")


def _add_assignment_options(p: argparse.ArgumentParser, out_flag: str) -> None:
    p.add_argument("--id-column", metavar="C",
                   help=f"copy this input column (.jsonl/.csv/.parquet) into {out_flag} beside the row number")


def _add_run_options(p: argparse.ArgumentParser, progress: bool = True) -> None:
    """--verbose/--quiet (commands that compute) and --debug (every command)."""
    if progress:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--verbose", "-v", action="store_true", help="log each stage and its time")
        g.add_argument("--quiet", "-q", action="store_true",
                       help="no progress bar and no notices on stderr (warnings and errors still show)")
    # SUPPRESS: `gputopic --debug fit ...` is not reset by the subcommand's default
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print the traceback of an error")


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


def _para(text: str) -> str:
    """A paragraph wrapped to the terminal (the help uses a raw formatter to keep the epilogs' layout)."""
    import shutil
    import textwrap

    return textwrap.fill(text, width=max(40, min(100, shutil.get_terminal_size().columns - 2)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gputopic",
        description="Topic modelling of text documents (BERTopic-style: embed, UMAP, HDBSCAN, "
                    "c-TF-IDF), on a GPU when one is available.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    raw = argparse.RawDescriptionHelpFormatter

    # fit
    p = sub.add_parser(
        "fit", help="fit a topic model on a corpus file and save it", formatter_class=raw,
        description=_para("Fit a topic model on the documents of INPUT, save it to --out and print "
                          "the topics (Topic, Count, Name). Topic -1 collects the outlier documents. "
                          "Blank documents (empty or whitespace-only, or null cells) are left out of the "
                          "fit with a notice."),
        epilog=f"input formats (by suffix): {_FORMATS}.\n\n"
               + _para(f"--assignments FILE ({_OUT_FORMATS}) has one row per input row: document (the 0-based "
                       "row number in INPUT; for .txt the line number - 1), the --id-column if given, topic "
                       "and probability, from the fit itself. Blank documents get topic -1 and an empty "
                       "probability.") + "\n\n" + _EXIT_CODES,
    )
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to save the fitted model to")
    p.add_argument("--assignments", metavar="FILE",
                   help=f"also write each input row's topic and probability from the fit ({_OUT_FORMATS}): "
                        "one row per input row")
    _add_assignment_options(p, "--assignments")
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
    _add_run_options(p)
    p.set_defaults(command="fit")

    # topics
    p = sub.add_parser(
        "topics", help="print the topics of a saved model", formatter_class=raw,
        description=_para("Print the topics of a model saved by 'gputopic fit'. The outlier topic -1 is "
                          "listed first when there is one. --format table prints Topic, Count, Name; csv "
                          "prints the columns topic, count, name, words (words separated by ';'); json "
                          "prints a list of objects {topic, count, name, words}."),
        epilog=_EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--top", type=_positive_int, metavar="N",
                   help="show only the N largest topics (plus the outlier topic -1)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default: table)")
    _add_run_options(p, progress=False)
    p.set_defaults(command="topics")

    # transform
    p = sub.add_parser(
        "transform", help="assign the topics of a saved model to new documents", formatter_class=raw,
        description=_para("Load a model saved by 'gputopic fit', assign a topic to each document of "
                          "INPUT and write one row per input row (document, the --id-column if given, "
                          "topic, probability) to --out. 'document' is the 0-based row number in INPUT "
                          "(for .txt the line number - 1); blank documents get topic -1 and an empty "
                          "probability."),
        epilog=f"input formats (by suffix): {_FORMATS}.\noutput formats (by suffix): {_OUT_FORMATS}.\n\n"
               + _EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("input", metavar="INPUT", help=f"corpus file ({_FORMATS})")
    p.add_argument("--out", required=True, metavar="FILE", help=f"file to write ({_OUT_FORMATS})")
    _add_assignment_options(p, "--out")
    _add_input_options(p)
    g = p.add_argument_group("model options (default: as saved with the model)")
    g.add_argument("--embedding-model", metavar="NAME_OR_PATH",
                   help="embedding model to use instead of the one saved with the model "
                        "(must be the model it was fitted with, e.g. when moved to another folder)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="where to compute, e.g. 'cpu' for a model fitted with --device cuda")
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="embedding batch size")
    g.add_argument("--embedding-cache", metavar="DIR", help="folder caching document embeddings")
    _add_run_options(p)
    p.set_defaults(command="transform")

    # report
    p = sub.add_parser(
        "report", help="write an HTML page of a saved model's topics and figures", formatter_class=raw,
        description=_para("Write an HTML page describing a model saved by 'gputopic fit': a summary, "
                          "the topic table and interactive figures (intertopic map, word bar charts, "
                          "hierarchy, similarity matrix). Needs plotly (pip install 'gputopic[plot]')."),
        epilog=_EXIT_CODES,
    )
    p.add_argument("model", metavar="DIR", help="folder of a saved model")
    p.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    p.add_argument("--title", default="gputopic report", help="the page's title")
    p.add_argument("--top-n-topics", type=_positive_int, default=50, metavar="N",
                   help="figures of many topics show the N largest (default 50)")
    p.add_argument("--cdn", action="store_true",
                   help="link plotly.js from its CDN instead of putting it in the page (about 4.9 MB; "
                        "the page then needs internet access to draw)")
    _add_run_options(p, progress=False)
    p.set_defaults(command="report")

    # demo
    p = sub.add_parser(
        "demo", help="fit the bundled 20 Newsgroups sample and score it against its labels",
        formatter_class=raw,
        description=_para("Fit a topic model on the bundled sample of 20 Newsgroups (2,000 documents, "
                          "100 from each of 20 newsgroups), print the topics and the normalized mutual "
                          "information (NMI) between topics and newsgroups (outliers counted as one "
                          "cluster). Needs no download. UMAP is seeded (--random-state 1 unless given) "
                          "so the demo prints the same topics every time."),
        epilog=_EXIT_CODES,
    )
    _add_model_options(p)
    p.add_argument("--out", metavar="DIR", help="also save the fitted model to DIR")
    _add_run_options(p)
    # seed 0 is one of the seeds that fall into HDBSCAN's two-giant-topics case on this sample
    # (docs/parameters.md, "Few giant topics"); what seed 1 gives is in the README's demo block
    p.set_defaults(command="demo", random_state=1)
    return parser


def _version() -> str:
    import gputopic  # already imported: this module lives in the package

    return getattr(gputopic, "__version__", "(unknown version)")
