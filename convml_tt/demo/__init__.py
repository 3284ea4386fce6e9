"""The whole convml_tt pipeline on synthetic scenes, offline: ``convml_tt demo``.

- :mod:`.settings`: :class:`DemoSettings` (every setting, and the steps'
  settings built from them) and :data:`TARGETS`;
- :mod:`.run`: :func:`run_demo` (each step through the public functions the
  CLI uses; reuses and resumes);
- :mod:`.report`: :class:`DemoResult`, :func:`check_targets`,
  :func:`format_report`.
"""
from .report import DemoResult, check_targets, format_report
from .run import epochs_within_budget, run_demo
from .settings import STEPS, TARGETS, DemoSettings

__all__ = ["DemoSettings", "DemoResult", "TARGETS", "STEPS", "run_demo", "check_targets", "format_report",
           "epochs_within_budget"]
