"""Running a sweep: every unfinished cell on one executor, results into the sweep folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .cells import Cell, failed_result, finished_row, run_cell_task, validate_cells
from .executors import Progress, SerialExecutor, check_executor, open_executor
from .grid import Grid
from .summary import FINISHED, SweepDir

@dataclass
class SweepResult:
    """Rows of ``summary.csv`` (in cell order) and where it is."""

    rows: List[Dict[str, Any]]
    path: Path
    done: int = 0
    skipped: int = 0
    failed: int = 0
    diverged: int = 0

    @property
    def ok(self) -> bool:
        """True when every cell finished (done or diverged), none failed."""
        return self.failed == 0

    def counts(self) -> Dict[str, int]:
        return {"cells": len(self.rows), "done": self.done, "skipped": self.skipped,
                "diverged": self.diverged, "failed": self.failed}


def run_sweep(cells_or_grid: Union[Grid, Sequence[Cell]], out, workers: int = 1, scheduler=None,
              dask_local: Optional[int] = None, progress: Optional[Progress] = None,
              on_result: Optional[Callable[[Dict[str, Any]], None]] = None) -> SweepResult:
    """Run every cell not yet finished under ``out``; write ``out/summary.csv``.

    Parameters
    ----------
    cells_or_grid : Grid or list of Cell
    out : path
        Sweep folder (:class:`~localrnn.sweep.summary.SweepDir`): ``cells/<name>/``
        (one run folder per cell) and ``summary.csv``.  Held by this sweep while it
        runs: a second sweep into the same folder is refused.
    workers, scheduler, dask_local
        The executor (:func:`~localrnn.sweep.executors.open_executor`): ``workers``
        local processes (1: this process), a Dask scheduler's address (or a
        connected ``distributed.Client``), or a new Dask ``LocalCluster`` of
        ``dask_local`` workers.
    progress : callable, optional
        ``progress(done, total, text)`` (:data:`~localrnn.sweep.executors.Progress`),
        called with ``done = 0`` before the first cell runs, then after each cell with
        ``text = "<name>: <status>"``; the CLI draws its bar with it.
    on_result : callable, optional
        ``on_result(row)`` after each cell is written (tests use it to interrupt).

    Returns
    -------
    SweepResult
        ``rows`` in cell order, ``path`` of summary.csv and counts.  Finished cells
        (status done or diverged, same settings) are skipped and their rows rebuilt
        from their folders; a cell that raises is recorded as ``failed`` with a
        one-line error and the others go on.

    Raises
    ------
    ValueError
        A bad cell (before anything runs), two executors at once, Dask asked for but
        not installed, another sweep writing into ``out``, or a cell folder holding a
        run with other settings.
    """
    cells = cells_or_grid.cells() if isinstance(cells_or_grid, Grid) else list(cells_or_grid)
    if not cells:
        raise ValueError("a sweep needs at least one cell")
    validate_cells(cells)
    check_executor(workers, scheduler, dask_local)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress={progress!r} is not allowed; give a callable "
                         "progress(done, total, text) or None")
    sd = SweepDir(out)
    with sd.lock():
        rows: Dict[str, Dict[str, Any]] = {}
        todo: List[Cell] = []
        for c in cells:
            r = finished_row(sd.run_dir(c.name), c)
            if r is None:
                todo.append(c)
            else:
                rows[c.name] = r
        n_skipped = len(rows)

        def ordered():
            return [rows[c.name] for c in cells if c.name in rows]

        with (open_executor(workers, scheduler, dask_local) if todo else SerialExecutor()) as ex:
            sd.write_rows(ordered())
            if progress is not None:
                progress(0, len(todo), "")
            for k, (i, res, error) in enumerate(ex.imap(run_cell_task, todo), 1):
                c = todo[i]
                if error is not None:  # the worker itself died or the result did not come back
                    res = failed_result(c, error)
                sd.write_cell(c.name, res.files)
                rows[c.name] = res.row
                sd.write_rows(ordered())
                if progress is not None:
                    progress(k, len(todo), f"{c.name}: {res.status}")
                if on_result is not None:
                    on_result(res.row)
        final = ordered()
    stat = [rows[c.name]["status"] for c in todo]
    return SweepResult(final, sd.summary_path, done=stat.count("done"), skipped=n_skipped,
                       failed=sum(s not in FINISHED for s in stat), diverged=stat.count("diverged"))


__all__ = ["run_sweep", "SweepResult"]
