"""The defaults a BERTopic user reaches through the estimator: sub-model slots that build
their default on first access, and the BERTopic parameters that pick a default
(``language``, ``n_gram_range``, ``low_memory``).

BERTopic builds its default UMAP, HDBSCAN and vectorizer in ``__init__``, so users tune them
before fit (``model.umap_model.random_state = 42``) and read them after
(``model.hdbscan_model.labels_``). scikit-learn's ``__init__`` only stores parameters, so
here each sub-model slot is a :class:`SubModelSlot`:

* reading a slot that holds None builds the default then (for the device, ``random_state``,
  ``min_topic_size``, ``n_gram_range``, ``language`` and ``low_memory`` of that moment),
  stores it in the slot and returns it: from then on it is the slot's value, which
  ``get_params`` and ``clone`` carry. Only reading builds it: ``get_params``, ``repr`` and
  ``clone`` see the stored value (:func:`gputopic._params.param_value`), None until read;
* a fit works on an unfitted copy of what the slot holds (:func:`slot_model`). A default
  built on read follows the estimator's parameters as they are at fit: what the user
  changed on the object is applied to a default built then (so changing ``random_state`` or
  ``device`` after reading the slot still counts), and a change that the fit's default has no
  parameter for (e.g. a default read on the CPU, fitted on CUDA, where the default is
  another library) is refused with an error that says so;
* after a fit (or a topic operation), reading a slot gives the fitted sub-model, the object
  in ``umap_model_`` (``hdbscan_model_``, ...), until the slot is set again; the object the
  user passed is never fitted in place (``get_params`` still returns it, unfitted).
"""

from __future__ import annotations

from typing import Any

from . import cluster as _cluster
from . import reduce as _reduce
from ._params import param_value
from .ctfidf import ClassTfidfTransformer
from .device import resolve_device
from .exceptions import InputError
from .vectorize import DEFAULT_TOKEN_PATTERN, default_vectorizer

ENGLISH = ("english", "en")
MULTILINGUAL_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"
# BERTopic 0.17's list: the languages its multilingual default model covers
LANGUAGES = (
    "arabic", "bulgarian", "catalan", "czech", "danish", "german", "greek", "english", "spanish", "estonian",
    "persian", "finnish", "french", "canadian french", "galician", "gujarati", "hebrew", "hindi", "croatian",
    "hungarian", "armenian", "indonesian", "italian", "japanese", "georgian", "korean", "kurdish", "lithuanian",
    "latvian", "macedonian", "mongolian", "marathi", "malay", "burmese", "norwegian bokmal", "dutch", "polish",
    "portuguese", "brazilian portuguese", "romanian", "russian", "slovak", "slovenian", "albanian", "serbian",
    "swedish", "thai", "turkish", "ukrainian", "urdu", "vietnamese", "chinese (simplified)",
    "chinese (traditional)", "multilingual",
)
SLOTS = ("umap_model", "hdbscan_model", "vectorizer_model", "ctfidf_model")


def check_language(language: Any) -> bool:
    """Whether ``language`` is English (else one BERTopic's multilingual model covers)."""
    if not isinstance(language, str) or language.lower() not in LANGUAGES + ENGLISH:
        raise InputError(f"language must be 'english', 'multilingual' or one of the languages of BERTopic's "
                         f"multilingual model ({', '.join(LANGUAGES[:-1])}); got {language!r}. For another "
                         "language pass an embedding_model for it, or embeddings= to fit.")
    return language.lower() in ENGLISH


def check_n_gram_range(n_gram_range: Any) -> tuple[int, int]:
    """``n_gram_range`` as ``(low, high)`` with ``1 <= low <= high``."""
    ok = (isinstance(n_gram_range, (tuple, list)) and len(n_gram_range) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) for n in n_gram_range)
          and 1 <= n_gram_range[0] <= n_gram_range[1])
    if not ok:
        raise InputError(f"n_gram_range must be a pair (low, high) of integers with 1 <= low <= high, e.g. (1, 2); "
                         f"got {n_gram_range!r}.")
    return int(n_gram_range[0]), int(n_gram_range[1])


def embedding_spec(model: Any) -> Any:
    """What the embedding model is loaded from: the ``embedding_model`` parameter, or for
    None the language's default (BERTopic's rule: all-MiniLM-L6-v2 for English, its
    multilingual MiniLM for any other language)."""
    spec = param_value(model, "embedding_model")
    if spec is None and not check_language(model.language):
        return MULTILINGUAL_MODEL
    return spec


def vectorizer_for(n_gram_range: Any, language: Any):
    """The default vectorizer for ``n_gram_range`` and ``language``: English stop words are
    dropped only for English (BERTopic's default drops none)."""
    low, high = check_n_gram_range(n_gram_range)
    if check_language(language):
        return default_vectorizer().set_params(ngram_range=(low, high))
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(ngram_range=(low, high), token_pattern=DEFAULT_TOKEN_PATTERN)


def build(model: Any, name: str, device: str, spec: Any = None) -> Any:
    """The model of slot ``name`` for ``spec`` (None or a backend name) on ``device``, from
    the estimator's parameters as they are now."""
    if name == "umap_model":
        reducer = _reduce.make_reducer(spec, device=device, random_state=model.random_state)
        if hasattr(reducer, "low_memory") and hasattr(reducer, "set_params"):  # umap-learn's
            reducer.set_params(low_memory=bool(model.low_memory))
        return reducer
    if name == "hdbscan_model":
        return _cluster.make_clusterer(spec, device=device, min_cluster_size=model.min_topic_size)
    if name == "vectorizer_model":
        return vectorizer_for(model.n_gram_range, model.language)
    return ClassTfidfTransformer()


def _params_of(obj: Any) -> dict:
    return dict(obj.get_params(deep=False)) if hasattr(obj, "get_params") else {}


def _same(a: Any, b: Any) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects compare oddly
        return False


class SubModelSlot:
    """A sub-model parameter of the estimator (see the module docstring). The value set is
    kept in the instance's ``__dict__`` under the parameter's name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = vars(obj)
        state = d.get("_state")
        if state is not None and self.name not in d.get("_slots_set_since_fit", ()):
            fitted = getattr(state, self.name, None)
            if fitted is not None:
                return fitted
        value = d.get(self.name)
        return self.materialize(obj) if value is None else value

    def __set__(self, obj: Any, value: Any) -> None:
        d = vars(obj)
        d[self.name] = value
        d.get("_slot_defaults", {}).pop(self.name, None)
        if "_state" in d:
            d.setdefault("_slots_set_since_fit", set()).add(self.name)

    def materialize(self, obj: Any) -> Any:
        """The slot's value, the default built now and stored when it holds None."""
        d = vars(obj)
        if d.get(self.name) is not None:
            return d[self.name]
        device = resolve_device(obj.device)
        value = build(obj, self.name, device)
        d[self.name] = value
        d.setdefault("_slot_defaults", {})[self.name] = (value, device, _params_of(value))
        return value


def fitted_slots_follow(obj: Any, old: Any, new: Any) -> None:
    """When state ``new`` replaces ``old`` (None before the first), reading a slot whose
    fitted sub-model changed gives the new one, even if the slot was set since."""
    marks = vars(obj).get("_slots_set_since_fit")
    if marks and old is not None:
        marks.difference_update({name for name in SLOTS if getattr(new, name) is not getattr(old, name)})
    elif marks:
        marks.clear()


def is_untouched_default(model: Any, name: str) -> bool:
    """Whether slot ``name`` holds a default built on read and not changed since: it means
    what None means (``save`` writes None for it, so a loaded model needs nothing set again)."""
    value = param_value(model, name)
    built = vars(model).get("_slot_defaults", {}).get(name)
    return (built is not None and built[0] is value
            and all(_same(v, built[2].get(k)) for k, v in _params_of(value).items()))


def slot_model(model: Any, name: str, device: str) -> Any:
    """The sub-model a fit on ``device`` starts from for slot ``name`` (the caller copies it):
    the object set, the default (for None or a backend name), or a default built on read
    (see the module docstring) rebuilt from the parameters now with the user's changes."""
    value = param_value(model, name)
    if value is None or isinstance(value, str):
        return build(model, name, device, value)
    built = vars(model).get("_slot_defaults", {}).get(name)
    if built is None or built[0] is not value:
        return value
    _, built_device, built_params = built
    changed = {k: v for k, v in _params_of(value).items() if not _same(v, built_params.get(k))}
    fresh_default = build(model, name, device)
    unknown = sorted(set(changed) - set(_params_of(fresh_default)))
    if unknown:
        raise InputError(
            f"model.{name} was built as the default for device {built_device!r} when first read, and this fit runs "
            f"on {device!r}, whose default ({type(fresh_default).__name__}) has no parameter {unknown[0]!r} set on "
            f"it. Set device before reading model.{name}, or pass {name}= a model of your choice."
        )
    return fresh_default.set_params(**changed) if changed else fresh_default
