"""The run manifest: what produced a report, so that a run can be checked and repeated."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["build_manifest", "file_sha256", "DEPENDENCIES", "write_manifest"]

DEPENDENCIES = ("pandas", "numpy", "scipy", "statsmodels", "linearmodels", "openpyxl", "defusedxml", "XlsxWriter",
                "matplotlib", "tqdm", "pyarrow")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(*, config, data, outputs: dict[str, Path], run_time: str, extra: dict | None = None) -> dict[str, Any]:
    """Everything needed to check a run: versions, config and its hash, inputs, seed, outputs.

    Same inputs and configuration give an identical manifest apart from ``run_time``.
    """
    prov = data.provenance
    inputs = {t: {k: v for k, v in info.items() if k in ("file", "format", "sha256", "size", "rows_read", "encoding",
                                                          "header_rows", "sheet")}
              for t, info in prov.get("tables", {}).items()}
    return {
        "finsupport": _version("finsupport"),
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "dependencies": {d: _version(d) for d in DEPENDENCIES},
        "config": config.resolved(),
        "config_sha256": config.hash(),
        "seed": config["run"]["seed"],
        "data": {
            "source": data_location(prov, config),
            "synthetic": bool(prov.get("synthetic", False)),
            "inputs": inputs,
            "units_converted": prov.get("units", {}),
            "rows": {n: len(df) for n, df in data.tables().items()},
        },
        "outputs": {name: {"file": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size}
                    for name, p in sorted(outputs.items())},
        **(extra or {}),
        "run_time": run_time,
    }


def data_location(prov: dict, config) -> str:
    """Where the data came from, without this machine's folders: relative to the config file when below it."""
    if prov.get("name") and config.data_path is None:
        return f"embedded example '{prov['name']}'"
    path = prov.get("path")
    if not path:
        return str(prov.get("source", ""))
    try:
        return Path(path).resolve().relative_to(config.base_dir.resolve()).as_posix() or "."
    except ValueError:
        return Path(path).name


def write_manifest(manifest: dict, path: Path) -> Path:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path
