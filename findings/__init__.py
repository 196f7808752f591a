"""findings: turn meter data into a short, ranked list of concrete problems and measures.

Each detector is a pure function from one meter's data (``findings.base.MeterData``) to
findings (``greenpipe.finding.Finding``, re-exported here) with a stable code:

- ``waste.off_hours_base_load`` (``findings.waste``)
- ``drift.baseline_cusum`` and ``drift.change_point`` (``findings.drift``)
- ``demand.peak`` and ``ev.peak_charging`` (``findings.demand``)
- ``pv.underperformance`` (``findings.pv``)
- ``measure.underdelivering`` (``findings.measures``)

``findings.runner.run_finder`` runs them all on a store; ``findings.lifecycle`` keeps ids
and statuses across runs; ``findings.commands`` implements ``greenpipe findings ...``.
"""

from greenpipe.finding import Confidence, Finding, FindingStatus, finding_id

CODES = ("waste.off_hours_base_load", "drift.baseline_cusum", "drift.change_point",
         "demand.peak", "pv.underperformance", "measure.underdelivering", "ev.peak_charging")
"""Every detector's stable code."""

__all__ = ["CODES", "Confidence", "Finding", "FindingStatus", "finding_id"]
