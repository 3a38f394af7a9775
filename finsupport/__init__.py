"""finsupport: measure state financial support to firms and test whether a certification changes it.

The public API is re-exported here; everything else is internal.
"""

from .config import Config, load_config
from .data import Dataset, QualityLog
from .errors import ConfigError, DataError, EstimationError, FinsupportError
from .estimate.panel import analysis_panel
from .example import load_example, write_example
from .measure.flows import support_flows
from .measure.shares import support_share
from .reference.rates import annual_benchmark, benchmark_rates
from .run import RunResult, run
from .simulate import simulate, true_effects

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "DataError",
    "Dataset",
    "EstimationError",
    "FinsupportError",
    "QualityLog",
    "RunResult",
    "__version__",
    "analysis_panel",
    "annual_benchmark",
    "benchmark_rates",
    "load_config",
    "load_example",
    "run",
    "simulate",
    "support_flows",
    "support_share",
    "true_effects",
    "write_example",
]
