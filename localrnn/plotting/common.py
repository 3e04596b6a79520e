"""What every figure module shares: Matplotlib on first use, and saving a figure."""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_savefig


def pyplot():
    """``matplotlib.pyplot``, with the Agg backend unless one is already chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, **savefig_kw) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix; ``savefig_kw`` such
    as ``dpi`` go to ``Figure.savefig``), then close it, also when writing fails.

    Returns the path written.
    """
    try:
        return atomic_savefig(path, fig, **savefig_kw)
    finally:
        pyplot().close(fig)


__all__ = ["pyplot", "save_figure"]
