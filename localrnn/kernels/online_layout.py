"""The online learner's memory, laid out in one place (no Numba here).

:mod:`localrnn.kernels.online` works in arrays owned by the Python learner
(:class:`localrnn.OnlineLearner`): an int64 control block ``ctl``, a float64 block
``hyp``, the gradient rows ``G`` and one flat buffer ``buf`` holding six arrays.  This
module says where everything sits; the kernel, the learner, its :meth:`memory`, the
run's memory estimate (``localrnn.training.estimate_memory``) and the hardware step
spec (``localrnn.neuromorphic.spec``) all take the layout from here.

Convention for the control blocks (the same in :mod:`localrnn.kernels.fixed_online`):
plain module-level integers ``C_*`` (slots of ``ctl``) and ``H_*`` (slots of ``hyp``),
used under the same names by the kernels and by the drivers.  Numba freezes
module-level integers as compile-time constants, so a slot costs nothing in a kernel
and has one name everywhere.  A block of per-parameter slots (trainable flags,
gradient offsets, learning rates) holds the five parameters in
``localrnn.names.PARAM_NAMES`` order, indexed by ``names.P_WIN`` ... ``names.P_BOUT``.

The buffer
----------
``buf`` holds, in ``BUFFER_PARTS`` order, consecutive C-ordered arrays (one kernel
argument instead of six: each array argument of the compiled step costs ~45 ns to
unbox).  :func:`buffer_layout` gives their shapes and offsets, :func:`write_views`
records them in ``ctl[C_VIEW:]``, and the kernels' ``state_views`` cuts ``buf`` by
that table alone.

  S (7, B, N)    h_{t-1} (a_{t-1}), r_{t-1}, h_t (a_t), r_t (phi(u_t) in the rate form),
                 input drive W_in x_t, W r_{t-1} (u_t in the rate form), learning signal L_t
                 (rows ``S_H`` ... ``S_L``)
  Y (2, B, O)    y_t, delta_t
  E              eligibility traces over the extended presynaptic vector z = [r; x; 1]
                 (current form, (B, 1, N+I+1): ebar, xbar, bbar; (B, 2, N+I+1) with
                 ``ctl[C_KEEP]``, E[:, 1] the traces of the last contribution) or
                 z = [a; x; 1] (rate form, (B, N, N+I+1): p, q, pb); (0, 0, 0) for RTRL
                 (:func:`trace_blocks` names the column blocks)
  M (2, B, N, P) RTRL influence matrices (two buffers used in turn), P = ``ctl[C_PM]``
                 columns for the trained recurrent parameters in the order W, W_in, b
                 (the influence matrix's own layout, :mod:`localrnn.kernels.rtrl`);
                 (0, 0, 0, 0) without RTRL
  J (N, N)       RTRL's Jacobian (scratch); (0, 0) without RTRL
  aux (N + 2 P)  d (N), gv (P), gt (P): scratch (phi' of the rate form; RTRL products)

``G`` (1 or 3, P_G) is apart (the learner swaps it when it leaves ``C_KEEP``): the
gradient accumulators, then Adam's m and v; each row holds the parameters that
accumulate, flat, at the offsets ``ctl[C_SEG + p]`` (-1: not held -- untrained, or
sent straight into the weights with ``C_KEEP``).
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

from ..names import P_B, P_W, P_WIN, PARAM_NAMES

# ----------------------------------------------------------------------------- ctl
C_FORM = 0      # 0 current, 1 rate
C_RULE = 1      # 0 local traces (e-prop / RFLO), 1 RTRL
C_ACT = 2       # activation code (kernels.common.TANH ...)
C_OPT = 3       # 0 SGD, 1 Adam
C_EVERY = 4     # contributing steps per optimiser update
C_COUNT = 5     # contributing steps in the current window
C_NUPD = 6      # optimiser updates applied so far (Adam's step count)
C_PAR = 7       # which of the two RTRL buffers holds M_t
C_PM = 8        # columns of M
C_MW = 9        # column offset of the W block in M (-1: absent)
C_MWIN = 10     # column offset of the W_in block in M (-1: absent)
C_MB = 11       # column offset of the b block in M (-1: absent)
C_TRAIN = 12    # 5 trainable flags, PARAM_NAMES order
C_SEG = 17      # 5 offsets of the parameters in G's rows, PARAM_NAMES order
C_NSTEP = 22    # steps taken (all, contributing or not)
C_LAZY = 23     # bits (1 W, 2 W_in, 4 b): the last step's contribution went straight
                # into the weights and is not in G; ``materialise`` puts it there
C_LOSS = 24     # 0 MSE, 1 cross-entropy
C_KEEP = 25     # 1: current form, SGD every step: G has no W, W_in, b rows (offsets -1);
                # E[:, 1] keeps the traces of the last contribution, for ``materialise``
C_VIEW = 26     # 6 x VIEW_SLOTS: offset and four dimensions of each part of buf
VIEW_SLOTS = 5
N_CTL = C_VIEW + 6 * VIEW_SLOTS

# ----------------------------------------------------------------------------- hyp
H_ALPHA = 0     # alpha
H_LR = 1        # 5 learning rates, PARAM_NAMES order
H_B1 = 6        # Adam beta1
H_B2 = 7        # Adam beta2
H_EPS = 8       # Adam eps
N_HYP = 9

# ----------------------------------------------------------------------------- S rows
S_H, S_R, S_HN, S_RN, S_DRV, S_PRE, S_L = 0, 1, 2, 3, 4, 5, 6
N_S = 7

# ----------------------------------------------------------------------------- buf
#: The arrays in ``buf``, in order, and their numbers of dimensions.
BUFFER_PARTS = ("S", "Y", "E", "M", "J", "aux")
PART_NDIM = (3, 3, 3, 4, 2, 1)
V_S, V_Y, V_E, V_M, V_J, V_AUX = range(len(BUFFER_PARTS))


class BufferLayout(NamedTuple):
    """Shapes and offsets (in floats) of the parts of ``buf``, and its length."""

    shapes: Tuple[tuple, ...]
    offsets: Tuple[int, ...]
    size: int

    def shape(self, part: str) -> tuple:
        return self.shapes[BUFFER_PARTS.index(part)]


def _prod(shape):
    out = 1
    for d in shape:
        out = out * d
    return out


def trace_blocks(rule: str, form: str, N, I, PM):
    """The learning state of one stream as ``(name, shape, parameter, columns)`` blocks.

    e-prop / RFLO, current form: ``ebar`` (N,), ``xbar`` (I,), ``bbar`` (1,), side by side
    in ``E[b, 0]``; rate form: ``p`` (N, N), ``q`` (N, I), ``pb`` (N,), side by side in
    ``E[b]``; ``columns`` is the block's (start, stop) on E's last axis, and each block
    serves one recurrent parameter (W, W_in, b).  RTRL: ``M`` (N, PM), serving all
    trained recurrent parameters (parameter and columns None).  Dimensions may be
    integers or symbols that support ``+`` and ``*``.
    """
    if rule == "rtrl":
        return [("M", (N, PM), None, None)]
    names = ("p", "q", "pb") if form == "rate" else ("ebar", "xbar", "bbar")
    rows = (N,) if form == "rate" else ()
    cols = ((0, N), (N, N + I), (N + I, N + I + 1))
    shapes = (rows + (N,), rows + (I,), rows if rows else (1,))
    return [(n, shp, PARAM_NAMES[p], c)
            for n, shp, p, c in zip(names, shapes, (P_W, P_WIN, P_B), cols)]


#: The order of the recurrent parameters' column blocks in RTRL's influence matrix M.
M_ORDER = (PARAM_NAMES[P_W], PARAM_NAMES[P_WIN], PARAM_NAMES[P_B])


def influence_columns(N, I, trained):
    """``(offsets, PM)``: the column offset in M of each recurrent parameter in
    ``trained`` (-1 for the others; blocks in :data:`M_ORDER`) and M's width PM."""
    sizes = {PARAM_NAMES[P_W]: N * N, PARAM_NAMES[P_WIN]: N * I, PARAM_NAMES[P_B]: N}
    offsets, PM = {}, 0
    for k in M_ORDER:
        offsets[k] = PM if k in trained else -1
        PM = PM + (sizes[k] if k in trained else 0)
    return offsets, PM


def buffer_layout(rule: str, form: str, B, N, I, O, PM, keep: bool = False) -> BufferLayout:
    """The parts of ``buf`` for ``B`` streams of an N-unit network with I inputs and O
    outputs; ``PM`` columns of RTRL's M (trained recurrent parameters); ``keep``: the
    current form's second trace row (``C_KEEP``).  Dimensions may be integers or
    symbols that support ``+`` and ``*`` (the hardware spec counts with symbols).
    """
    n_ext = N + I + 1            # the extended presynaptic vector [r or a; x; 1]
    if rule == "rtrl":
        E = (0, 0, 0)
    elif form == "rate":
        E = (B, N, n_ext)
    else:
        E = (B, 2 if keep else 1, n_ext)
    rtrl = rule == "rtrl" and PM != 0
    shapes = ((N_S, B, N), (2, B, O), E,
              (2, B, N, PM) if rtrl else (0, 0, 0, 0),
              (N, N) if rtrl else (0, 0),
              (N + 2 * PM,))
    offsets, o = [], 0
    for s in shapes:
        offsets.append(o)
        o = o + _prod(s)
    return BufferLayout(shapes, tuple(offsets), o)


def write_views(ctl, layout: BufferLayout) -> None:
    """Record ``layout`` in ``ctl[C_VIEW:]`` (offset, then four dimensions, 1 for the
    absent ones), the table the kernels' ``state_views`` cuts ``buf`` by."""
    for j, (shape, off) in enumerate(zip(layout.shapes, layout.offsets)):
        s = C_VIEW + VIEW_SLOTS * j
        ctl[s] = off
        ctl[s + 1:s + VIEW_SLOTS] = tuple(shape) + (1,) * (VIEW_SLOTS - 1 - len(shape))
