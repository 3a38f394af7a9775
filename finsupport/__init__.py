"""finsupport: measure state financial support to firms and test whether a certification changes it.

The public API is re-exported here; everything else is internal.
"""

# Names that are also submodules (finsupport.run, finsupport.simulate, finsupport.sensitivity)
# are bound eagerly: importing the submodule later must not replace the function. Their
# modules import their heavy dependencies inside the functions.
from .run import RunResult, prepare, run
from .sensitivity import SensitivityResult, sensitivity
from .simulate import simulate, true_effects

# Everything else loads on first use (PEP 562): ``import finsupport`` stays fast, and a
# run imports only the estimators and report parts it uses.
_LAZY = {
    "AuditResult": "certify",
    "audit_criteria": "certify",
    "designation_status": "certify",
    "Config": "config",
    "load_config": "config",
    "Dataset": "data",
    "QualityLog": "data",
    "PartitionedDataset": "data.partitioned",
    "read_dataset": "data.readers",
    "ConfigError": "errors",
    "DataError": "errors",
    "EstimationError": "errors",
    "FinsupportError": "errors",
    "BaconDecomposition": "estimate.bacon",
    "bacon_decomposition": "estimate.bacon",
    "AggregateResult": "estimate.cs_aggregate",
    "AttGtResult": "estimate.cs_core",
    "att_gt": "estimate.cs_core",
    "EventStudyResult": "estimate.event_study",
    "PretrendTest": "estimate.event_study",
    "event_study": "estimate.event_study",
    "HonestDidResult": "estimate.honest",
    "honest_did": "estimate.honest",
    "ImputationResult": "estimate.imputation",
    "imputation_did": "estimate.imputation",
    "analysis_panel": "estimate.panel",
    "FinsupportDeprecationWarning": "estimate.results",
    "Inference": "estimate.results",
    "TestResult": "estimate.results",
    "regression_table": "estimate.results",
    "SubgroupResult": "estimate.subgroups",
    "SunAbrahamResult": "estimate.sun_abraham",
    "sun_abraham": "estimate.sun_abraham",
    "TwfeResult": "estimate.twfe",
    "twfe_did": "estimate.twfe",
    "FewClustersWarning": "estimate.wild",
    "load_example": "example",
    "write_example": "example",
    "support_flows": "measure.flows",
    "MeasureOptions": "measure.options",
    "support_share": "measure.shares",
    "little_giant_batches": "reference.programme",
    "selection_criteria": "reference.programme",
    "annual_benchmark": "reference.rates",
    "benchmark_rates": "reference.rates",
    "rd_deduction_schedule": "reference.tax",
    "small_low_profit_schedule": "reference.tax",
    "format_frame": "report.labels",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value   # later lookups skip this function
        return value
    raise AttributeError(f"module 'finsupport' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
