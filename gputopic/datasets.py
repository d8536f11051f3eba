"""Small corpora that ship inside the package, for examples and quick starts.

>>> from gputopic.datasets import load_demo
>>> docs, labels = load_demo()
>>> len(docs), len(set(labels))
(2000, 20)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Demo", "load_demo"]


class Demo(NamedTuple):
    """The bundled demo corpus: ``docs`` (list of str) and their ``labels`` (newsgroup names)."""

    docs: list[str]
    labels: list[str]


def load_demo() -> Demo:
    """The bundled sample of 20 Newsgroups: 2,000 posts, 100 from each of the 20 newsgroups,
    in a shuffled order, with headers, signatures and quoted replies removed.

    Returns a :class:`Demo` named tuple, so ``docs, labels = load_demo()`` works. It reads
    ``gputopic/data/demo_20newsgroups.jsonl.gz`` from the installed package: nothing is
    downloaded. ``gputopic demo`` fits the same documents. Its sampling rule and source are in
    ``gputopic/data/README.md``.
    """
    from .io import demo_corpus

    corpus = demo_corpus()
    return Demo(list(corpus.docs), [str(label) for label in corpus.labels])
