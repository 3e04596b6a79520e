"""Sweeps: a grid of training runs, run serially, in local processes or on Dask.

A grid file (TOML) gives :class:`localrnn.training.TrainConfig` fields; a list is an
axis, anything else a fixed value, and the cells are the Cartesian product::

    task = "romo"
    rule = ["rflo", "eprop", "bptt"]
    gain = [0.5, 1.0, 1.5]
    lr = 2e-4
    seed = [0, 1, 2]
    n_rec = 32
    iters = 200
    lyapunov = true      # record lambda_max before/after (a TrainConfig field)
    align = true         # sweep option: gradient alignment with BPTT at init and end

Every cell is an ordinary run folder ``OUT/cells/<name>/`` (what ``localrnn run
--out`` writes, plus ``cell.json``: the sweep's record of the cell), and
``OUT/summary.csv`` has one row per cell.

The package, one module per idea:

- :mod:`.grid`: :class:`Grid` (values checked by the kind each TrainConfig field
  declares), :func:`load_grid`;
- :mod:`.cells`: :class:`Cell`, :func:`make_cells` (sweeps that are not a product),
  folder names, :func:`run_cell` (one cell in a worker);
- :mod:`.executors`: serial, spawn-process and Dask execution behind one interface
  (:func:`~localrnn.sweep.executors.open_executor`), also used by the fixed-point
  and quantize grids;
- :mod:`.summary`: the results on disk: :class:`SweepDir`, :func:`read_summary`
  (typed rows), :func:`status_counts`;
- :mod:`.run`: :func:`run_sweep`.

One code path for every executor: :func:`run_cell` trains into a temporary local
folder and returns the folder's files as bytes plus the summary row; the client
writes them atomically under ``OUT/cells/<name>/``.  Each cell runs single-threaded
(BLAS, OpenMP, Numba), so its numbers are bit-identical whichever executor ran it.
"""
from .cells import (CELL_DEFAULTS, NAME_PREFIX, Cell, CellResult, cell_name, make_cells,
                    run_cell, validate_cells)
from .executors import WORKER_ENV, Progress, local_dask_client, open_executor, worker_env
from .grid import SWEEP_OPTIONS, Grid, load_grid, read_grid_file
from .run import SweepResult, run_sweep
from .summary import (FINISHED, PARAM_COLUMNS, PRESENTATION_FIELDS, RESULT_COLUMNS, SweepDir,
                      read_cell_row, read_summary, status_counts, summary_columns, write_summary)

__all__ = ["Grid", "Cell", "CellResult", "SweepResult", "SweepDir", "Progress", "load_grid",
           "make_cells", "validate_cells", "worker_env", "open_executor", "run_cell", "run_sweep",
           "read_grid_file", "read_cell_row", "read_summary", "write_summary", "status_counts",
           "summary_columns", "cell_name", "WORKER_ENV", "SWEEP_OPTIONS", "PARAM_COLUMNS",
           "RESULT_COLUMNS", "FINISHED", "PRESENTATION_FIELDS", "CELL_DEFAULTS", "NAME_PREFIX",
           "local_dask_client"]
