"""gputopic.datasets: the bundled demo corpus."""

from collections import Counter

from gputopic.datasets import Demo, load_demo
from gputopic.io import demo_corpus


def test_load_demo_is_the_bundled_sample_as_docs_and_labels():
    demo = load_demo()
    assert isinstance(demo, Demo)
    docs, labels = demo  # unpacks as (docs, labels)
    assert len(docs) == len(labels) == 2000
    assert all(isinstance(d, str) and len(d.split()) >= 20 for d in docs)  # the sampling rule: >= 20 words
    assert set(Counter(labels).values()) == {100} and len(set(labels)) == 20  # 100 posts from each newsgroup
    assert "sci.space" in labels
    corpus = demo_corpus()
    assert docs == list(corpus.docs) and labels == [str(x) for x in corpus.labels]  # what `gputopic demo` fits
    assert len(set(labels[:100])) > 10  # shuffled: any prefix mixes the newsgroups
