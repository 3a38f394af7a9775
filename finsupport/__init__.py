"""finsupport: measure state financial support to firms and test whether a certification changes it.

The public API is re-exported here; everything else is internal.
"""

from .certify import AuditResult, audit_criteria, designation_status
from .config import Config, load_config
from .data import Dataset, QualityLog
from .data.partitioned import PartitionedDataset
from .data.readers import read_dataset
from .errors import ConfigError, DataError, EstimationError, FinsupportError
from .estimate.bacon import BaconDecomposition, bacon_decomposition
from .estimate.cs_aggregate import AggregateResult
from .estimate.cs_core import AttGtResult, att_gt
from .estimate.event_study import EventStudyResult, PretrendTest, event_study
from .estimate.honest import HonestDidResult, honest_did
from .estimate.imputation import ImputationResult, imputation_did
from .estimate.panel import analysis_panel
from .estimate.results import FinsupportDeprecationWarning, Inference, TestResult, regression_table
from .estimate.subgroups import SubgroupResult
from .estimate.sun_abraham import SunAbrahamResult, sun_abraham
from .estimate.twfe import TwfeResult, twfe_did
from .estimate.wild import FewClustersWarning
from .example import load_example, write_example
from .measure.flows import support_flows
from .measure.options import MeasureOptions
from .measure.shares import support_share
from .reference.programme import little_giant_batches, selection_criteria
from .reference.rates import annual_benchmark, benchmark_rates
from .reference.tax import rd_deduction_schedule, small_low_profit_schedule
from .report.labels import format_frame
from .run import RunResult, prepare, run
from .sensitivity import (  # the function; the package stays finsupport.sensitivity in sys.modules
    SensitivityResult,
    sensitivity,
)
from .simulate import simulate, true_effects

__version__ = "0.1.0"

__all__ = [
    "sensitivity",
    "SensitivityResult",
    "PartitionedDataset",
    "format_frame",
    "AggregateResult",
    "AttGtResult",
    "att_gt",
    "AuditResult",
    "BaconDecomposition",
    "EventStudyResult",
    "FinsupportDeprecationWarning",
    "Inference",
    "TestResult",
    "PretrendTest",
    "TwfeResult",
    "audit_criteria",
    "bacon_decomposition",
    "designation_status",
    "event_study",
    "little_giant_batches",
    "read_dataset",
    "regression_table",
    "selection_criteria",
    "twfe_did",
    "ImputationResult",
    "SunAbrahamResult",
    "SubgroupResult",
    "FewClustersWarning",
    "imputation_did",
    "honest_did",
    "HonestDidResult",
    "sun_abraham",
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
    "prepare",
    "simulate",
    "support_flows",
    "MeasureOptions",
    "rd_deduction_schedule",
    "small_low_profit_schedule",
    "support_share",
    "true_effects",
    "write_example",
]
