"""Work that several estimations of one panel share, done once: :func:`shared_work`.

A run estimates several outcomes on the same firm-years with the same estimators. Much
of the work depends only on the panel and the treatment timing, not on the outcome: the
integer codes of the firm ids and periods, the design matrix demeaned by unit and time
effects (and its Gram matrix), the propensity scores of Callaway–Sant'Anna's cells, the
influence function of the aggregation weights, the bootstrap draws of the cohort
columns. Inside ``with shared_work():`` each of these is computed once and found again
by later estimations; outside it nothing is kept and every call computes everything.

A stored result is used again only when its inputs are *equal* to the new ones (every
value compared, not a fingerprint or the identity of the object), so a result can never
be taken for different data; the inputs are kept as private copies, so that changing an
array after an estimation cannot make a stale result match. The numbers are the same
bit for bit with and without sharing: each stored result is the output of the same
computation on the same inputs (tests compare the two paths).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["shared_work", "recall", "lookup", "keep", "active", "ids", "factorize_ids"]

_STORE: ContextVar[dict | None] = ContextVar("finsupport_estimate_shared_work", default=None)

#: results kept per kind (the oldest go first): a run has a handful of outcomes and designs
_KEEP = 4
#: kinds that store many results per estimation (one per cell of att_gt): their own limit
_KEEP_KIND: dict[str, int] = {}


@contextmanager
def shared_work() -> Iterator[None]:
    """Within the block, estimations share work that does not depend on the outcome (see the module).

    Nested blocks share the outer block's store. Leaving the outermost block frees
    everything kept.
    """
    if _STORE.get() is not None:
        yield
        return
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def active() -> bool:
    """True inside :func:`shared_work`."""
    return _STORE.get() is not None


def _own(v):
    """A private copy of an input (arrays), or the value itself (scalars, strings, tuples of them)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, pd.api.extensions.ExtensionArray):
        return v.copy()
    if isinstance(v, tuple):
        return tuple(_own(x) for x in v)
    return v


def _equal(a, b) -> bool:
    """Every value equal (arrays: same type, dtype, shape and values; a missing value never matches)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            try:
                return bool((a == b).all())
            except (TypeError, ValueError):
                return False
        return bool(np.array_equal(a, b))
    if isinstance(a, pd.api.extensions.ExtensionArray) or isinstance(b, pd.api.extensions.ExtensionArray):
        if type(a) is not type(b) or a.dtype != b.dtype or len(a) != len(b) or a.isna().any() or b.isna().any():
            return False
        return bool(a.equals(b))
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(_equal(x, y) for x, y in zip(a, b, strict=True)))
    return type(a) is type(b) and a == b


def _sketch(v):
    """A few values of an input, compared before all of them (most stored results differ in these)."""
    if isinstance(v, np.ndarray):
        flat = v.reshape(-1)
        step = max(1, len(flat) // 16)
        return (v.dtype.str, v.shape, flat[::step][:17].tobytes() if v.dtype != object else tuple(flat[::step][:17]))
    if isinstance(v, pd.api.extensions.ExtensionArray):
        return (str(v.dtype), len(v))
    if isinstance(v, tuple):
        return tuple(_sketch(x) for x in v)
    return v


def lookup(kind: str, inputs: tuple) -> Any:
    """The result stored by :func:`keep` (or :func:`recall`) for equal ``inputs`` of ``kind``; None if none
    (and always None outside :func:`shared_work`)."""
    store = _STORE.get()
    if store is None or kind not in store:
        return None
    sketch = _sketch(inputs)
    for saved_sketch, saved, value in store[kind]:
        if _sketch_equal(saved_sketch, sketch) and _equal(saved, inputs):
            return value
    return None


def _sketch_equal(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # values that do not compare to one truth value: compare them all
        return True


def keep(kind: str, inputs: tuple, value: Any, *, copy: bool = True) -> None:
    """Store ``value`` as the result of ``kind`` for ``inputs`` (nothing outside :func:`shared_work`).

    ``copy=False`` keeps the input arrays themselves, for arrays the caller made for this call
    and never changes (no second copy of a large design).
    """
    store = _STORE.get()
    if store is not None:
        kept = store.setdefault(kind, [])
        kept.append((_sketch(inputs), _own(inputs) if copy else inputs, value))
        del kept[:-_KEEP_KIND.get(kind, _KEEP)]


def recall(kind: str, inputs: tuple, compute: Callable[[], Any], *, copy: bool = True) -> Any:
    """``compute()``, or inside :func:`shared_work` the result stored for equal ``inputs`` of ``kind``.

    ``inputs`` must hold everything the result depends on (arrays, options); the result is
    stored for later calls and must not be changed by the caller. ``copy``: see :func:`keep`.
    """
    if _STORE.get() is None:
        return compute()
    value = lookup(kind, inputs)
    if value is None:
        value = compute()
        keep(kind, inputs, value, copy=copy)
    return value


class _Ids:
    """One column of ids or periods: its missing values and factorisations, each computed when first asked."""

    def __init__(self, column: pd.Series):
        self._column = column
        self._hasnans: bool | None = None
        self._codes: dict[bool, tuple] = {}
        self._with: dict[tuple, tuple] = {}

    @property
    def hasnans(self) -> bool:
        if self._hasnans is None:
            self._hasnans = bool(self._column.isna().any())
        return self._hasnans

    def factorize(self, sort: bool) -> tuple:
        if sort not in self._codes:
            self._codes[sort] = pd.factorize(self._column, sort=sort)
        return self._codes[sort]

    def with_other(self, what: str, other: _Ids, compute: Callable[[], Any]) -> Any:
        """``compute()`` for this column and ``other`` (e.g. the rows repeating a (unit, period) pair),
        done once per pair of found columns: both are stored and never changed, so equal values."""
        key = (what, id(other))
        if key not in self._with or self._with[key][0] is not other:
            self._with[key] = (other, compute())   # other kept: its id cannot be reused
        return self._with[key][1]

    def sorted_from_unsorted(self):
        """``twfe._sorted_codes`` of the ``sort=False`` factorisation (sorted codes from the unsorted ones)."""
        if "sorted" not in self._codes:
            from .twfe import _sorted_codes

            self._codes["sorted"] = _sorted_codes(*self.factorize(False))
        return self._codes["sorted"]


def _values(column: pd.Series):
    """The values of a column to compare: the numpy array itself (no copy), or the extension array."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def ids(column: pd.Series) -> _Ids:
    """The column's missing values and factorisations (``.hasnans``, ``.factorize(sort)`` as
    ``pandas.factorize(column, sort=sort)``), shared within :func:`shared_work` among columns of
    equal values: factorising a million text ids is the costly part of preparing a panel."""
    if not active():
        return _Ids(column)
    found = lookup("ids", (_values(column), str(column.dtype)))
    if found is None:
        own = column.copy()  # the stored ids and the key are this one private copy
        found = _Ids(own)
        keep("ids", (_values(own), str(own.dtype)), found, copy=False)
    return found


def factorize_ids(column: pd.Series, *, sort: bool = False) -> tuple:
    """``pandas.factorize(column, sort=sort)``, shared within :func:`shared_work` (see :func:`ids`)."""
    return ids(column).factorize(sort)
