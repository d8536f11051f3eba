"""scikit-learn's parameter protocol, once, for every estimator of the package.

:class:`GPUTopic`, the native UMAP and HDBSCAN and :class:`ClassTfidfTransformer` inherit
:class:`ParamsMixin`: ``get_params`` / ``set_params`` (with ``sub__param`` keys) read the
``__init__`` signature, so a parameter is declared once, in ``__init__``; ``repr`` shows the
parameters that differ from their defaults; :func:`fresh` gives the unfitted copy that a fit
works on, so fitting never changes the user's sub-model objects.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from .exceptions import InputError


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``__repr__`` from the ``__init__`` signature
    (scikit-learn's contract, without importing scikit-learn)."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p, v in sig.parameters.items() if p != "self" and v.kind is not v.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict:
        out = {name: param_value(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(out.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    out.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return out

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise InputError(f"{type(self).__name__} has no parameter {name!r}; valid parameters: {valid}.")
            if sub:
                target = param_value(self, name)
                if target is None and hasattr(getattr(type(self), name, None), "materialize"):
                    target = getattr(type(self), name).materialize(self)  # a default slot: built now
                if not hasattr(target, "set_params"):
                    raise InputError(f"{type(self).__name__}.{name} is {type(target).__name__}, which has no "
                                     f"parameters to set: {key!r} cannot be set.")
                target.set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (scikit-learn >= 1.6 asks for them, e.g. in
        ``check_is_fitted``): an estimator that needs ``fit`` and takes no target."""
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False))

    def __repr__(self) -> str:
        defaults = {k: v.default for k, v in inspect.signature(type(self).__init__).parameters.items()}
        changed = []
        for k, v in self.get_params(deep=False).items():
            default = defaults.get(k)
            try:
                same = v is default or bool(v == default)
            except Exception:  # noqa: BLE001 - arrays and odd objects compare oddly
                same = False
            if not same:
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


def param_value(obj: Any, name: str) -> Any:
    """The value set for parameter ``name`` (what ``get_params`` returns): for a sub-model
    slot (:class:`gputopic.defaults.SubModelSlot`) the stored value, never a default built
    or a fitted sub-model shown by reading the attribute."""
    stored = vars(obj) if hasattr(obj, "__dict__") else {}
    return stored[name] if name in stored else getattr(obj, name)


def fresh(model: Any) -> Any:
    """An unfitted copy of a user's sub-model, so fitting never mutates the parameters.

    scikit-learn's ``clone`` where it keeps every setting; a class whose ``__init__`` passes
    ``**kwargs`` on to its parent loses them in ``clone`` (BERTopic's
    ``OnlineCountVectorizer(stop_words="english")`` would count stop words), so a model of
    such a class whose clone differs is deep-copied instead and its fitted attributes
    (``name_``) dropped."""
    if hasattr(model, "get_params"):
        from sklearn.base import clone

        copied = clone(model)
        if not _takes_kwargs(type(model)) or _settings(copied) == _settings(model):
            return copied
        copied = copy.deepcopy(model)
        for name in [k for k in vars(copied) if k.endswith("_") and not k.startswith("_")]:
            delattr(copied, name)
        return copied
    return copy.deepcopy(model)


def _takes_kwargs(cls: type) -> bool:
    """Whether ``cls.__init__`` has a ``**kwargs`` parameter (which ``clone`` does not copy)."""
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _settings(model: Any) -> dict[str, str]:
    """A model's public settings (attributes that are neither private nor fitted), as text."""
    return {k: repr(v) for k, v in getattr(model, "__dict__", {}).items()
            if not k.startswith("_") and not k.endswith("_")}
