"""Reproductions of published studies with the engine: sweeps, statistics, figures, report.

``reproduce_liu2024`` answers the project's research question (Liu, Zhang & Liu
2024, *How initial connectivity shapes biologically plausible learning in RNNs*);
``localrnn reproduce liu2024`` is its command line.
"""
from .liu2024 import SCALES, Report, Scale, TaskScale, get_scale, reproduce_liu2024
from .stats import VERDICT_RULE, Effect, verdict, welch

__all__ = ["reproduce_liu2024", "Report", "Scale", "TaskScale", "SCALES", "get_scale", "Effect",
           "welch", "verdict", "VERDICT_RULE"]
