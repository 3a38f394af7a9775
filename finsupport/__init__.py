"""finsupport: measure state financial support to firms and test whether a certification changes it."""

from .data import Dataset, QualityLog
from .errors import ConfigError, DataError, EstimationError, FinsupportError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "EstimationError",
    "FinsupportError",
    "QualityLog",
    "__version__",
]
