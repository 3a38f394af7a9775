"""Certification: status over time and the selection-criteria audit."""

from .audit import TESTS, AuditResult, audit_criteria
from .status import award_years, designation_status

__all__ = ["AuditResult", "TESTS", "audit_criteria", "award_years", "designation_status"]
