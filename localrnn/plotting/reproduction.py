"""Figures of a reproduced study (``localrnn reproduce``).

Empty for now: the study of Liu, Zhang & Liu (2024) still draws its figures in
:mod:`localrnn.reproduce.liu2024`; its rebuild as a pipeline (issue 19) moves them
here, next to the other figure modules, so that every figure of the package lives
in :mod:`localrnn.plotting`.
"""
from __future__ import annotations

__all__: list = []
