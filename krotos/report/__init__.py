"""The run report: one HTML page with PNG plots that a person opens after a run."""

from krotos.report.html import build_report

__all__ = ["build_report"]
