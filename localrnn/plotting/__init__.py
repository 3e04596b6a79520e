"""Every figure of the package, one module per domain.

- :mod:`.common`: :func:`pyplot` (Matplotlib with the ``Agg`` backend unless one is
  already chosen, imported on first use) and :func:`save_figure` (the one way a
  figure reaches a file: written atomically, then closed);
- :mod:`.curves`: learning curves of runs (``curve.png``, ``localrnn plot``);
- :mod:`.lyapunov`: Lyapunov spectra and lambda_max against the gain;
- :mod:`.fixedpoint`: the fixed-point grids' figure;
- :mod:`.quantize`: ``localrnn quantize-sweep``'s loss against word length;
- :mod:`.scaling`: ``localrnn bench --scaling``'s time and memory against N and T;
- :mod:`.spiking`: a spiking network's trial (input and recurrent spikes, readout)
  with its learning curve;
- :mod:`.reproduction`: the figures of a reproduced study.

Functions draw into an ``Axes`` given as ``ax`` (or a new figure) and return it; they
write no file.  The only exception is :func:`plot_saved_runs` (``localrnn plot``),
which reads run folders through :class:`localrnn.runs.RunDir` and saves one figure.
"""
from .common import pyplot, save_figure
from .curves import plot_accuracy, plot_curves, plot_run, plot_runs, plot_saved_runs
from .fixedpoint import plot_fixedpoint_grid
from .lyapunov import plot_lambda_vs_gain, plot_spectrum
from .quantize import plot_quantize_sweep
from .reproduction import plot_curve_panels, plot_gain_panels
from .scaling import plot_scaling
from .spiking import plot_spiking_trial

__all__ = ["pyplot", "save_figure", "plot_saved_runs", "plot_curves", "plot_accuracy", "plot_run",
           "plot_runs", "plot_spectrum", "plot_lambda_vs_gain", "plot_fixedpoint_grid",
           "plot_quantize_sweep", "plot_scaling", "plot_curve_panels", "plot_gain_panels",
           "plot_spiking_trial"]
