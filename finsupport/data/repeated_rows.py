"""Repeated rows found by hashing: exact duplicates and repeated keys of a table, compared in
full only where a 64-bit hash of a few columns repeats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .arrow_text import TextCodes, text_array

__all__ = ["duplicated_key", "duplicated_rows", "repeats", "row_hash", "rows_at"]


def row_hash(df: pd.DataFrame, codes: dict[str, TextCodes] | None = None) -> np.ndarray:
    """A 64-bit hash of each row over every column; equal rows (as ``duplicated`` compares them) hash alike.

    Each column's values as 64-bit words times an odd constant of its own, summed. A product carries
    every bit of a word into the leading bits that :func:`repeats` sorts by. Unequal rows collide
    only by chance or by a relation between their words that real columns do not hold; a collision
    only adds a row to the exact comparison.

    ``codes``: :class:`TextCodes` of text columns, by name, used instead of encoding them again."""
    h = np.zeros(len(df), dtype=np.uint64)
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        given = (codes or {}).get(df.columns[j])
        if given is None or len(given.index) != len(s):
            given = TextCodes.of(s)   # pyarrow text: its hash table, one dictionary for every chunk
        if given is not None:
            x = given.index.view(np.uint64)   # -1 for missing wraps to one value
        elif pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
            v = s.to_numpy(dtype=float) + 0.0  # -0.0 equals 0.0
            v[np.isnan(v)] = np.nan  # one NaN
            x = v.view(np.uint64)
        elif isinstance(s.dtype, (pd.Int64Dtype, pd.Int32Dtype, pd.BooleanDtype)) or (
                pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.ArrowDtype)):
            # whole numbers as they are, missing as one sentinel (a value equal to it only adds a row)
            x = s.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min).view(np.uint64)
        else:
            x = pd.factorize(s)[0].astype(np.int64).view(np.uint64)
        h += x * _COLUMN_WORDS[j % len(_COLUMN_WORDS)]
    return h


def _splitmix64(n: int) -> list[int]:
    """The first ``n`` outputs of splitmix64 seeded with 0 (Steele, Lea & Flood 2014)."""
    out, state, m = [], 0, (1 << 64) - 1
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & m
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(z ^ (z >> 31))
    return out


#: one odd 64-bit constant per column position (the low bit set: multiplying by it loses no bit)
_COLUMN_WORDS = [np.uint64(c | 1) for c in _splitmix64(16)]


def rows_at(df: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """The rows at the increasing positions ``at`` for comparing them (``df.iloc[at]``; Arrow text as
    Python strings, taken chunk by chunk: pyarrow joins a chunked array's chunks to take from it,
    about 30 ms a column of two million cells however few rows are taken)."""
    if len(at) > 10_000:
        return df.iloc[at]
    cols = {}
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        arr = text_array(s)
        if arr is not None and getattr(arr, "num_chunks", 1) > 1:
            import pyarrow as pa

            bounds = np.cumsum([0] + [len(c) for c in arr.chunks])
            which = np.searchsorted(bounds, at, side="right") - 1
            vals: list = []
            for k in np.unique(which):
                vals += arr.chunk(int(k)).take(pa.array(at[which == k] - bounds[k])).to_pylist()
            cols[j] = pd.Series(vals, dtype=object)
        else:
            cols[j] = s.iloc[at].reset_index(drop=True)
    out = pd.DataFrame(cols)
    out.index = df.index[at]
    return out


def duplicated_rows(df: pd.DataFrame, *, keep, within: list[str] | None = None,
                codes: dict[str, TextCodes] | None = None) -> pd.Series:
    """``df.duplicated(keep=keep)`` over every column, comparing whole rows only where a few columns agree.

    Identical rows agree on any columns and hash alike, so the rows whose hash over the
    ``within`` columns (the table's key; by default the firm, the year and the float columns)
    repeats hold every identical row: the whole-row comparison runs on those few rows
    instead of on the whole table.
    """
    if not within:   # the firm, the year and the amounts tell rows apart nearly always: hash those
        within = [c for c in df.columns if c in ("firm_id", "year")
                  or (pd.api.types.is_float_dtype(df[c].dtype) and not isinstance(df[c].dtype, pd.ArrowDtype))]
    # rows whose hash repeats (equal rows hash alike; a collision only adds a row to compare)
    h = row_hash(df[within] if within else df, codes)
    cand = repeats(h)
    out = np.zeros(len(df), dtype=bool)
    if cand.any():   # by position: a mask would be converted for every column of the whole table
        at = np.flatnonzero(cand)
        out[at] = rows_at(df, at).duplicated(keep=keep).to_numpy()
    return pd.Series(out, index=df.index)


def repeats(v: np.ndarray, n_values: int | None = None) -> np.ndarray:
    """Rows whose value occurs more than once (``duplicated(keep=False)``).

    Values from 0 to ``n_values`` (not many more than rows) are counted directly. For 64-bit
    hashes (``n_values=None``) the leading 32 bits are sorted (half the bytes of the hashes): no
    two equal neighbours, the common case, means no repeat. Otherwise a few repeated leading halves
    mark their buckets in a table small enough to stay in cache, and only the rows in a marked
    bucket (every row of a repeated value among them) are compared exactly; many (more than one
    row in 64) go to pandas' hash table."""
    n = len(v)
    if n_values is not None and n_values <= 8 * n + 1024:
        return np.bincount(v, minlength=n_values)[v] > 1 if n else np.zeros(0, dtype=bool)
    if n_values is not None or n < 1 << 16:   # sparse values, or few rows: pandas' hash table
        return pd.Series(v).duplicated(keep=False).to_numpy()
    top = (v.astype(np.uint64, copy=False) >> np.uint64(32)).astype(np.uint32)
    s = np.sort(top)
    same = s[1:] == s[:-1]
    if not same.any():
        return np.zeros(n, dtype=bool)
    rep = s[1:][same]
    rep = rep[np.append(True, rep[1:] != rep[:-1])]   # each repeated leading half once
    if len(rep) > n >> 6:   # many repeats (a file appended twice): pandas' hash table, in linear memory
        return pd.Series(v).duplicated(keep=False).to_numpy()
    bits = min(max(len(rep).bit_length() + 10, 12), 26)   # about one bucket in a thousand marked; ≤ 64 MiB
    shift = np.uint32(32 - bits)
    marked = np.zeros(1 << bits, dtype=bool)
    marked[(rep >> shift).astype(np.intp)] = True
    cand = np.flatnonzero(marked[top >> shift])
    out = np.zeros(n, dtype=bool)
    out[cand] = pd.Series(v[cand]).duplicated(keep=False).to_numpy()
    return out


def duplicated_key(df: pd.DataFrame, key: list[str], ids: TextCodes | None) -> pd.Series:
    """``df.duplicated(key, keep=False)``; for the firm, or the firm and a whole-number year, from the firm codes."""
    if ids is not None and key == ["firm_id"] and len(ids.index) == len(df):
        return pd.Series(repeats(ids.index + 1, len(ids.values) + 1), index=df.index)
    if ids is not None and key == ["firm_id", "year"] and len(ids.index) == len(df):
        year = df["year"]
        if pd.api.types.is_integer_dtype(year.dtype) and not year.isna().any() and len(df):
            y = year.to_numpy(dtype=np.int64)
            # one int64 per (firm, year): the firm's code (missing: -1) times the span of years, plus the year
            span = int(y.max() - y.min()) + 1
            both = (ids.index + 1) * span + (y - y.min())
            return pd.Series(repeats(both, (len(ids.values) + 1) * span), index=df.index)
    return df.duplicated(key, keep=False)
