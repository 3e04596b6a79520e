"""The formats of ``localrnn export``: what each writes, the options it needs and the
ones it also takes, and :func:`export`, which writes any of them.

A format's option sets are data (:data:`FORMATS`), checked in one place
(:func:`check_options`): a missing option or one the format does not take is one
``ValueError`` naming them, spelled as the caller spells them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..io import atomic_write_text
from ..names import FORMS
from .lava import lava_rules_text, lava_spiking_rules_text
from .spec import step_spec


@dataclass(frozen=True)
class Format:
    """What a format writes, the options it needs and those it also takes."""

    writes: str
    needs: Tuple[str, ...]
    takes: Tuple[str, ...] = ()


_STEP = dict(needs=("rule", "n_rec", "n_in", "n_out"),
             takes=("form", "quantize", "feedback", "T", "model", "reset", "reg"))
#: ``--format`` -> :class:`Format`.  md and json: :func:`localrnn.neuromorphic.spec.step_spec`;
#: lava: :func:`localrnn.neuromorphic.lava.lava_rules_text`; nir:
#: :func:`localrnn.neuromorphic.nir.export_nir`.
FORMATS = {
    "md": Format("one online step as a hardware spec, in markdown", **_STEP),
    "json": Format("one online step as a hardware spec, in JSON", **_STEP),
    "lava": Format("the local rule as Lava learning-rule strings", needs=("rule",),
                   takes=("form", "feedback", "alpha", "model", "reset", "tau_m", "tau_out")),
    "nir": Format("a trained run's network as a NIR graph", needs=("run_dir",), takes=("dt",)),
}
#: Values of options a format takes, when not given (``form``: rate networks only).
DEFAULTS = {"form": FORMS[0]}
#: Options of rate networks and of spiking networks (``model`` chooses the latter); a
#: format that takes both refuses a mix.
RATE_ONLY = ("form", "alpha")
SPIKING_ONLY = ("reset", "tau_m", "tau_out", "reg")
#: File a run's NIR graph goes to, in the run folder, unless ``out`` says otherwise.
NIR_FILE = "network.nir"


def check_options(fmt: str, options: Mapping[str, Any],
                  spell: Optional[Mapping[str, str]] = None) -> None:
    """``ValueError`` unless ``options`` (the given ones, None values ignored) hold every
    option ``fmt`` needs and none it does not take; ``spell`` maps an option to the
    caller's name for it (the CLI's ``--n-rec``; default ``n_rec``)."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r} is not allowed; choose one of {', '.join(FORMATS)}")
    f = FORMATS[fmt]
    name = (lambda k: (spell or {}).get(k, k))
    given = [k for k, v in options.items() if v is not None]
    extra = [k for k in given if k not in f.needs + f.takes]
    if extra:
        raise ValueError(f"--format {fmt} ({f.writes}) does not take {', '.join(map(name, extra))}; "
                         f"it takes {', '.join(map(name, f.needs + f.takes))}")
    missing = [k for k in f.needs if k not in given]
    if missing:
        raise ValueError(f"--format {fmt} ({f.writes}) needs {', '.join(map(name, f.needs))}; "
                         f"missing {', '.join(map(name, missing))}")


def export(fmt: str, options: Mapping[str, Any], out=None,
           spell: Optional[Mapping[str, str]] = None) -> Union[str, Path]:
    """Export in ``fmt`` (:data:`FORMATS`) with the given ``options`` (checked by
    :func:`check_options`).

    md, json, lava: the text, or, with ``out``, the path it was written to (atomically).
    nir: the path of the NIR file written (``out``, default ``RUN_DIR/network.nir``).
    """
    check_options(fmt, options, spell)
    given = {k: v for k, v in options.items() if v is not None}
    name = (lambda k: (spell or {}).get(k, k))
    mixed = [k for k in (RATE_ONLY if "model" in given else SPIKING_ONLY) if k in given]
    if mixed:
        raise ValueError(f"{', '.join(map(name, mixed))} "
                         f"{'is an option' if len(mixed) == 1 else 'are options'} of "
                         f"{'rate' if 'model' in given else 'spiking'} networks; "
                         + ("this export is of a spiking network (--model)" if "model" in given else
                            f"give {name('model')} for a spiking network"))
    o: Dict[str, Any] = {**({} if "model" in given else DEFAULTS), **given}
    if fmt == "nir":
        from .nir import export_nir  # deferred: the network's kernels (Numba) and nir

        return export_nir(o["run_dir"], out if out is not None else Path(o["run_dir"]) / NIR_FILE,
                          dt=o.get("dt"))
    if fmt == "lava" and "model" in o:
        text = lava_spiking_rules_text(o["rule"], o["model"], **{k: o[k] for k in
                                                                 ("feedback", "reset", "tau_m", "tau_out")
                                                                 if k in o})
    elif fmt == "lava":
        text = lava_rules_text(o["rule"], o["form"], **{k: o[k] for k in ("feedback", "alpha") if k in o})
    else:
        spec = step_spec(o["rule"], o.get("form", "spiking"), o["n_rec"], o["n_in"], o["n_out"],
                         quantize=o.get("quantize"), feedback=o.get("feedback"), T=o.get("T"),
                         model=o.get("model"), reset=o.get("reset"), reg=o.get("reg", 0.0))
        text = spec.to_markdown() if fmt == "md" else spec.to_json() + "\n"
    return text if out is None else atomic_write_text(out, text)


__all__ = ["export", "check_options", "FORMATS", "Format", "DEFAULTS", "NIR_FILE"]
