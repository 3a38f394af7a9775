"""Specifications of a sensitivity grid: which options vary, their canonical form and seed.

A specification is a pair of option dictionaries, one for measurement (the keyword
options of :func:`finsupport.support_flows`, validated by the run configuration's
``[measure]`` rules) and one for estimation (estimator, outcome and the estimator's
options, validated by the ``[analysis]`` rules). Options that an estimator does not
use are removed before specifications are compared, so a full grid over
``estimator × method`` does not fit TWFE once per ``method``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import SCHEMA
from ..errors import ConfigError

__all__ = ["Spec", "build_specs", "validate_grid", "MEASURE_OPTIONS", "ESTIMATE_OPTIONS", "ESTIMATORS", "derive_seed",
           "base_measure", "base_estimate"]

#: measurement options a grid may vary (the ``[measure]`` keys of the run configuration)
MEASURE_OPTIONS: tuple[str, ...] = tuple(SCHEMA["measure"])

ESTIMATORS = ("twfe", "event_study", "att_gt", "sun_abraham", "imputation")

#: estimation options a grid may vary, and the estimators that use each one
ESTIMATE_OPTIONS: dict[str, tuple[str, ...]] = {
    "estimator": ESTIMATORS,
    "outcome": ESTIMATORS,
    "control_group": ("att_gt", "sun_abraham"),
    "method": ("att_gt",),
    "covariates": ("att_gt", "sun_abraham", "imputation"),
    "base_period": ("att_gt",),
    "anticipation": ("att_gt",),
    "bootstrap": ("att_gt",),
    "cluster": ("twfe", "event_study", "sun_abraham", "imputation"),
    "inference": ("twfe",),
    "event_window": ("event_study",),
}

#: control groups each estimator offers (Sun–Abraham: never-treated or the last-treated cohort)
CONTROL_GROUPS = {"att_gt": ("never_treated", "not_yet_treated"),
                  "sun_abraham": ("never_treated", "last_treated")}


def _check_estimator(key: str, v: Any) -> str:
    if v not in ESTIMATORS:
        raise ConfigError(f"{key} = {v!r} is not allowed; use one of {', '.join(map(repr, ESTIMATORS))} "
                          "(Goodman-Bacon is a decomposition, not an effect estimate)")
    return v


def _check_control(key: str, v: Any) -> str:
    allowed = ("never_treated", "not_yet_treated", "last_treated")
    if v not in allowed:
        raise ConfigError(f"{key} = {v!r} is not allowed; use one of {', '.join(map(repr, allowed))}")
    return v


def _validator(section: str, key: str):
    if section == "estimate":
        if key == "estimator":
            return _check_estimator
        if key == "outcome":
            check = SCHEMA["analysis"]["outcomes"][0]
            return lambda k, v: check(k, [v])[0] if isinstance(v, str) else check(k, v)
        if key == "control_group":
            return _check_control
        return SCHEMA["analysis"][key][0]
    return SCHEMA["measure"][key][0]


def _canon(v: Any) -> Any:
    """Hashable, order-stable form of an option value (lists become tuples)."""
    if isinstance(v, list | tuple):
        return tuple(_canon(x) for x in v)
    return v


def base_measure(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The base measurement options: the run configuration's defaults, then ``overrides``."""
    out = {k: _canon(default) for k, (_, default) in SCHEMA["measure"].items()}
    for k, v in (overrides or {}).items():
        if k not in out:
            raise ConfigError(f"sensitivity: measure option {k!r} is unknown; use any of {', '.join(MEASURE_OPTIONS)}")
        out[k] = _canon(_validator("measure", k)(f"measure.{k}", _plain(v)))
    return out


def base_estimate(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The base estimation options: Callaway–Sant'Anna on the support share with the
    ``[analysis]`` defaults, then ``overrides`` (``estimators``/``outcomes`` lists give
    their first entry)."""
    a = {k: default for k, (_, default) in SCHEMA["analysis"].items()}
    out: dict[str, Any] = {"estimator": "att_gt", "outcome": "share"}
    out.update({k: _canon(a[k]) for k in ESTIMATE_OPTIONS if k in a})
    for k, v in (overrides or {}).items():
        if k not in ESTIMATE_OPTIONS:
            raise ConfigError(f"sensitivity: estimation option {k!r} is unknown; use any of "
                              f"{', '.join(ESTIMATE_OPTIONS)}")
        out[k] = _canon(_validator("estimate", k)(f"estimate.{k}", _plain(v)))
    return out


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def validate_grid(section: str, grid: Mapping[str, Sequence[Any]] | None, *,
                  prefix: str | None = None) -> dict[str, list[Any]]:
    """Validated values to try for each option of one section (``"measure"`` or ``"estimate"``)."""
    known = MEASURE_OPTIONS if section == "measure" else tuple(ESTIMATE_OPTIONS)
    prefix = prefix or f"sensitivity.{section}"
    out: dict[str, list[Any]] = {}
    for k, vals in (grid or {}).items():
        if k not in known:
            raise ConfigError(f"{prefix}.{k} is not an option a grid can vary; use any of {', '.join(known)}")
        if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or not len(vals):
            raise ConfigError(f"{prefix}.{k} must be a non-empty list of values to try, got {vals!r}")
        check = _validator(section, k)
        seen: list[Any] = []
        for v in vals:
            c = _canon(check(f"{prefix}.{k}", _plain(v)))
            if c not in seen:
                seen.append(c)
        out[k] = seen
    return out


@dataclass(frozen=True)
class Spec:
    """One specification: measurement options, estimation options (or none) and its seed."""

    measure: tuple[tuple[str, Any], ...]
    estimate: tuple[tuple[str, Any], ...] | None
    varied: str  # which option this specification varies ("base", "subsidy_basis", or "full")
    seed: int

    @property
    def measure_options(self) -> dict[str, Any]:
        return {k: _plain_deep(v) for k, v in self.measure}

    @property
    def estimate_options(self) -> dict[str, Any] | None:
        return None if self.estimate is None else {k: _plain_deep(v) for k, v in self.estimate}

    @property
    def key(self) -> str:
        """Stable 12-hex-digit identifier of the canonical options."""
        return canonical_hash(self.measure, self.estimate)[:12]


def _plain_deep(v: Any) -> Any:
    return [_plain_deep(x) for x in v] if isinstance(v, tuple) else v


def canonical_hash(measure, estimate) -> str:
    payload = json.dumps({"measure": dict(measure), "estimate": None if estimate is None else dict(estimate)},
                         sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()


def derive_seed(run_seed: int, measure, estimate) -> int:
    """A specification's seed: sha256 of the run seed and the canonical options, as a 63-bit integer.

    It depends only on the options, never on the order in which specifications are
    built or scheduled, so results are identical under every scheduler.
    """
    h = hashlib.sha256(f"{int(run_seed)}|{canonical_hash(measure, estimate)}".encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


def _relevant(est: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Estimation options with those the estimator does not use removed."""
    name = est["estimator"]
    return tuple(sorted((k, v) for k, v in est.items() if name in ESTIMATE_OPTIONS[k]))


def _applicable(est: dict[str, Any]) -> str | None:
    """Why an estimation specification cannot run, or None."""
    cg = CONTROL_GROUPS.get(est["estimator"])
    if cg is not None and est.get("control_group") not in cg:
        return f"{est['estimator']} has no control group {est['control_group']!r} (it offers {', '.join(cg)})"
    return None


def build_specs(*, measure: Mapping[str, Sequence[Any]] | None, estimate: Mapping[str, Sequence[Any]] | None,
                mode: str, base_measure_options: dict[str, Any], base_estimate_options: dict[str, Any] | None,
                seed: int) -> tuple[list[Spec], list[dict[str, Any]]]:
    """The grid's specifications, and the combinations left out with the reason.

    ``mode="full"`` is the cross product of every value of every option;
    ``"one_at_a_time"`` is the base specification plus, for each option, its other
    values with everything else at the base. Duplicates (after options an estimator
    does not use are removed) are kept once; combinations an estimator cannot run
    (Sun–Abraham with not-yet-treated controls) are listed in the second return value.
    """
    if mode not in ("full", "one_at_a_time"):
        raise ConfigError(f"sensitivity.mode = {mode!r} is not allowed; use 'full' or 'one_at_a_time'")
    mvals = validate_grid("measure", measure)
    evals = validate_grid("estimate", estimate)
    if evals and base_estimate_options is None:
        base_estimate_options = base_estimate()
    raw: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []
    if mode == "full":
        mk, ek = list(mvals), list(evals)
        for mcombo in itertools.product(*(mvals[k] for k in mk)):
            m = {**base_measure_options, **dict(zip(mk, mcombo, strict=True))}
            if base_estimate_options is None:
                raw.append((m, None, "full"))
                continue
            for ecombo in itertools.product(*(evals[k] for k in ek)):
                raw.append((m, {**base_estimate_options, **dict(zip(ek, ecombo, strict=True))}, "full"))
    else:
        raw.append((dict(base_measure_options),
                    None if base_estimate_options is None else dict(base_estimate_options), "base"))
        for k, vals in mvals.items():
            raw.extend(({**base_measure_options, k: v},
                        None if base_estimate_options is None else dict(base_estimate_options), k)
                       for v in vals if v != base_measure_options[k])
        for k, vals in evals.items():
            for v in vals:
                if v == base_estimate_options[k]:
                    continue
                e = {**base_estimate_options, k: v}
                if k == "estimator" and _applicable(e):
                    # varying the estimator alone: use its own default control group
                    # (the row shows it) rather than leaving the estimator out
                    e["control_group"] = CONTROL_GROUPS[v][0]
                raw.append((dict(base_measure_options), e, k))
    specs: list[Spec] = []
    skipped: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for m, e, varied in raw:
        mt = tuple(sorted(m.items()))
        if e is not None:
            why = _applicable(e)
            if why:
                skipped.append({"measure": m, "estimate": e, "varied": varied, "reason": why})
                continue
        et = None if e is None else _relevant(e)
        if (mt, et) in seen:
            continue
        seen.add((mt, et))
        specs.append(Spec(measure=mt, estimate=et, varied=varied, seed=derive_seed(seed, mt, et)))
    return specs, skipped
