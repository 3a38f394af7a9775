"""Data contract, readers, validation and the data-quality log."""

from .dataset import Dataset
from .quality import QualityLog
from .spec import TABLES

__all__ = ["Dataset", "QualityLog", "TABLES"]
