"""A sweep's grid: axes and fixed values of :class:`~localrnn.training.TrainConfig` fields,
from a TOML file or a dict.

A list is an axis, anything else a fixed value; the cells are the Cartesian
product.  Each value is checked against the kind its TrainConfig field declares
(``metadata[names.KIND]``), so ``gain = "high"`` fails naming the key before
anything runs.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..names import KIND, VALUE_KINDS
from .cells import Cell, cell_name, format_value, validate_cells
from .summary import train_fields

try:
    import tomllib
except ImportError:  # Python 3.10: the tomli package, if installed
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

#: Sweep-level options of a grid (not TrainConfig fields) -> description.
SWEEP_OPTIONS = {
    "align": "record the gradient alignment with BPTT at initialisation and after training (bool)",
    "align_batch": "trials in the alignment batch (int; default: the run's batch)",
}


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


#: kind -> test of one value
_VALUE_OK = {
    "bool": lambda x: isinstance(x, bool),
    "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "float": _is_number,
    "float_or_table": lambda x: _is_number(x) or isinstance(x, dict),
    "str": lambda x: isinstance(x, str),
    "names": lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
    "table": lambda x: isinstance(x, dict),
}


def _check_value(key: str, v, kind: str):
    """One grid value of a field of ``kind``; ints of a number field become floats (gain
    = 1 and gain = 1.0 are the same cell)."""
    if not _VALUE_OK[kind](v):
        raise ValueError(f"grid key {key!r}: value {v!r} is not allowed; give {VALUE_KINDS[kind]} "
                         f"(or a list of them to sweep)")
    return float(v) if kind in ("float", "float_or_table") and isinstance(v, int) else v


@dataclass
class Grid:
    """A sweep's axes (lists) and fixed values, from a TOML file or a dict.

    ``axes`` maps a TrainConfig field to its values, in file order; ``fixed`` holds
    the scalars; ``align``/``align_batch`` are the sweep options.
    """

    axes: Dict[str, List[Any]] = field(default_factory=dict)
    fixed: Dict[str, Any] = field(default_factory=dict)
    align: bool = False
    align_batch: Optional[int] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Grid":
        """Validate a grid given as a dict (the parsed TOML).

        Raises
        ------
        ValueError
            One line naming the key: unknown key, empty axis, a value of the wrong
            kind, or a cell whose config does not resolve (unknown task, bad value).
        """
        tf = train_fields()
        g = cls()
        for key, v in d.items():
            if key == "align":
                if not isinstance(v, bool):
                    raise ValueError(f"grid key 'align': {v!r} is not allowed; give true or false")
                g.align = v
                continue
            if key == "align_batch":
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"grid key 'align_batch': {v!r} is not allowed; give an "
                                     "integer >= 1")
                g.align_batch = v
                continue
            if key not in tf:
                allowed = ", ".join(list(tf) + list(SWEEP_OPTIONS))
                raise ValueError(f"grid key {key!r} is unknown; allowed: {allowed}")
            kind = tf[key].metadata[KIND]
            is_axis = isinstance(v, list) and (kind != "names" or any(isinstance(i, list) for i in v))
            if is_axis:
                if len(v) == 0:
                    raise ValueError(f"grid key {key!r} is an empty list; give at least one value")
                v = [_check_value(key, item, kind) for item in v]
                if len({format_value(i) for i in v}) != len(v):
                    raise ValueError(f"grid key {key!r} repeats a value: {v!r}")
                g.axes[key] = v
            else:
                g.fixed[key] = _check_value(key, v, kind)
        validate_cells(g.cells())
        return g

    def cells(self) -> List[Cell]:
        """The Cartesian product of the axes (first axis outermost), with the fixed values."""
        keys = list(self.axes)
        out = []
        for combo in itertools.product(*(self.axes[k] for k in keys)):
            p = dict(self.fixed)
            p.update(zip(keys, combo))
            out.append(Cell(params=p, name=cell_name(p, [k for k in keys if len(self.axes[k]) > 1]),
                            align=self.align, align_batch=self.align_batch))
        return out

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.axes.values())


def read_grid_file(path) -> Dict[str, Any]:
    """The raw dict of a grid file (TOML), unvalidated; ``ValueError`` if unreadable."""
    if tomllib is None:
        raise ValueError("reading a grid file on Python < 3.11 needs tomli: pip install tomli")
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"grid file {str(p)!r} does not exist")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"grid file {str(p)!r} is not valid TOML: {e}".replace("\n", " ")) from None


def load_grid(path, overrides: Optional[Mapping[str, Any]] = None) -> Grid:
    """Read and validate a grid file (TOML; see :mod:`localrnn.sweep`).

    ``overrides`` replace or add keys of the file (the CLI's quick-grid options).
    """
    d = read_grid_file(path)
    d.update(overrides or {})
    return Grid.from_dict(d)


__all__ = ["Grid", "load_grid", "read_grid_file", "SWEEP_OPTIONS"]
