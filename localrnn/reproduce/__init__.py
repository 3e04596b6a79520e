"""Reproductions of published studies with the engine: a pipeline of sweeps, paired
statistics, figures and a report.

``reproduce_liu2024`` answers the project's research question (Liu, Zhang & Liu
2024, *How initial connectivity shapes biologically plausible learning in RNNs*);
``localrnn reproduce liu2024`` is its command line.  The stages live in
:mod:`.study`; the scales in :mod:`.liu2024`.
"""
from .liu2024 import SCALES, Report, get_scale, reproduce_liu2024
from .stats import PAIRED_RULE, PairedEffect, paired, paired_verdict

__all__ = ["reproduce_liu2024", "Report", "SCALES", "get_scale", "PairedEffect", "paired",
           "paired_verdict", "PAIRED_RULE"]
