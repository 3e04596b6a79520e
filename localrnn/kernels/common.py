"""Scalar activations and loss deltas shared by all kernels.

``tanh`` is computed by our own branch-free ``expm1`` formula, tanh|x| = E/(E+2)
with E = expm1(2|x|) = 2^k (e^r - 1) + (2^k - 1), r = 2|x| - k ln 2, e^r - 1 by its
Taylor series (remainder below the unit round-off).  Unlike a call into libm it
vectorises (LLVM emits SIMD code for the loops in ``apply_phi``), which made the
tanh of a 32 x 256 block 3x (float64) and 7x (float32) faster here.  Accuracy
against libm (tests/test_activations.py: 1.2 million points, dense over [-25, 25]
and log-spaced down to the smallest normal, both signs): float64 at most 4 ulp,
mean 0.12 ulp; the float32 variant at most 2.5 ulp of float32 (mean 0.09) against
float64 tanh.

Activation codes.  Kernels choose the activation by an integer (compiled once,
no jitted functions passed as arguments).  Every kernel compares with these
names, never with bare numbers; Numba freezes module-level integers as
compile-time constants, so the names cost nothing.  ``TANH32`` and ``RETANH32``
are the float32 variants of tanh and retanh, chosen by
:func:`localrnn.activations.kernel_code` for float32 networks.  The numbers come from
``localrnn.names`` (``ACTIVATIONS``, ``FLOAT32_ACTIVATIONS``): one definition.
"""
import math

from llvmlite import ir as _ir
from numba import float32, int32
from numba.core import types as _types
from numba.extending import intrinsic

from .._config import njit
from ..names import ACTIVATIONS, FLOAT32_ACTIVATIONS

#: tanh(x), float64 arithmetic
TANH = ACTIVATIONS["tanh"]
#: max(x, 0)
RELU = ACTIVATIONS["relu"]
#: log(1 + e^x)
SOFTPLUS = ACTIVATIONS["softplus"]
#: max(tanh(x), 0), float64 arithmetic
RETANH = ACTIVATIONS["retanh"]
#: tanh(x), float32 arithmetic (float32 networks)
TANH32 = FLOAT32_ACTIVATIONS["tanh"]
#: max(tanh(x), 0), float32 arithmetic (float32 networks)
RETANH32 = FLOAT32_ACTIVATIONS["retanh"]
#: every code a kernel may be called with
ACTIVATION_CODES = (TANH, RELU, SOFTPLUS, RETANH, TANH32, RETANH32)


@intrinsic
def pow2_f64(typingctx, k):
    """2.0**k as a float64 for an integer -1022 <= k <= 1023, built from its exponent bits.

    ``float(int64(1) << k)`` gives the same number, but the int64 -> float64
    conversion has no AVX2 instruction, so LLVM scalarised it inside the vector
    loops of ``apply_phi``; the bit pattern ``(k + 1023) << 52`` is the same value
    with vector integer instructions only (tanh 1.4x faster here, bit-identical).
    """
    if not isinstance(k, _types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i64 = _ir.IntType(64)
        v = args[0]
        if k.bitwidth < 64:
            v = builder.sext(v, i64) if k.signed else builder.zext(v, i64)
        e = builder.shl(builder.add(v, _ir.Constant(i64, 1023)), _ir.Constant(i64, 52))
        return builder.bitcast(e, _ir.DoubleType())

    return _types.float64(k), codegen


@intrinsic
def pow2_f32(typingctx, k):
    """2.0**k as a float32 for an integer -126 <= k <= 127 (see :func:`pow2_f64`)."""
    if not isinstance(k, _types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i32 = _ir.IntType(32)
        v = args[0]
        if k.bitwidth > 32:
            v = builder.trunc(v, i32)
        elif k.bitwidth < 32:
            v = builder.sext(v, i32) if k.signed else builder.zext(v, i32)
        e = builder.shl(builder.add(v, _ir.Constant(i32, 127)), _ir.Constant(i32, 23))
        return builder.bitcast(e, _ir.FloatType())

    return _types.float32(k), codegen


@intrinsic
def muladd(typingctx, a, b, c):
    """a * b + c as LLVM's ``fmuladd``: one fused multiply-add where the CPU has one
    (rounded once), a multiply and an add (rounded twice) where it does not.

    Only tanh's polynomial uses it: its error bound holds either way (the tests
    check the bound, not the bits), the dependent chain of a polynomial is halved
    with FMA, and the kernels keep ``fastmath`` off everywhere else.  All three
    arguments must have one float type (write float32 constants as ``float32(c)``).
    """
    if not (isinstance(a, _types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(sig.return_type)
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [ty], _ir.FunctionType(ty, [ty] * 3))
        return builder.call(fn, args)

    return a(a, b, c), codegen


@njit(inline="always")
def leak_coefs(alpha, like):
    """(alpha, 1 - alpha) in the float type of the array ``like``.

    Kernels take alpha as a Python float (float64); a float32 network leaks in float32
    arithmetic: 1 - alpha is computed in float64 and each coefficient rounded once to
    float32 (as PyTorch does with a Python-float scalar and a float32 tensor).  For
    float64 arrays both are the float64 values unchanged.  Callers pass the original
    alpha down to nested kernels, never the rounded one (1 - fl32(alpha) would differ).
    """
    t = like.dtype.type
    return t(alpha), t(1.0 - alpha)


@njit(inline="always")
def tanh64(x):
    """tanh in float64 arithmetic (see the module docstring); |error| <= 4 ulp."""
    r, ki = tanh64_reduce(x)
    return tanh64_finish(x, r, ki)


@njit(inline="always")
def tanh64_reduce(x):
    """:func:`tanh64`'s first part: ``(r, ki)``, 2|x| = ki ln 2 + r (Cody-Waite)."""
    ax = min(abs(x), 20.0)
    y = 2.0 * ax
    ki = int32(y * 1.4426950408889634 + 0.5)   # 0 <= ki <= 58; int32 converts in SIMD
    kf = float(ki)
    r = (y - kf * 0.6931471803691238) - kf * 1.9082149292705877e-10   # Cody-Waite ln 2
    return r, ki


@njit(inline="always")
def tanh64_finish(x, r, ki):
    """:func:`tanh64`'s second part from :func:`tanh64_reduce`'s ``(r, ki)``: the value.

    Split so that a loop over many x can run the two parts as two passes (the
    reduced arguments stored between them): each pass's dependent chain is shorter,
    so more elements are in flight at once; the operations, and so the bits, are
    the same (kernels/forward.py)."""
    # e^r - 1 = r q(r), q of degree 12, by Estrin's scheme: the pairs, then r^2,
    # r^4, r^8 combine them in a chain of 4 multiply-adds instead of Horner's 12
    # (the loop is latency-bound: 25% faster here, same 4 ulp bound); each
    # multiply-add fused where the CPU can (``muladd``: another 19% here).
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q01 = muladd(0.5, r, 1.0)
    q23 = muladd(1.0 / 24.0, r, 1.0 / 6.0)
    q45 = muladd(1.0 / 720.0, r, 1.0 / 120.0)
    q67 = muladd(1.0 / 40320.0, r, 1.0 / 5040.0)
    q89 = muladd(1.0 / 3628800.0, r, 1.0 / 362880.0)
    q1011 = muladd(1.0 / 479001600.0, r, 1.0 / 39916800.0)
    lo = muladd(muladd(q67, r2, q45), r4, muladd(q23, r2, q01))
    hi = muladd(1.0 / 6227020800.0, r4, muladd(q1011, r2, q89))
    q = muladd(hi, r8, lo)
    p2 = pow2_f64(ki)                            # 2^ki exactly
    E = muladd(p2, r * q, p2 - 1.0)
    t = E / (E + 2.0)
    return t if x >= 0.0 else -t


@njit(inline="always")
def tanh32(x):
    """tanh in float32 arithmetic (8 SIMD lanes); |error| <= 2.5 ulp of float32."""
    r, ki = tanh32_reduce(x)
    return tanh32_finish(x, r, ki)


@njit(inline="always")
def tanh32_reduce(x):
    """:func:`tanh32`'s first part: ``(r, ki)``, 2|x| = ki ln 2 + r (Cody-Waite)."""
    ax = min(abs(float32(x)), float32(10.0))
    y = float32(2.0) * ax
    ki = int32(y * float32(1.4426950408889634) + float32(0.5))
    kf = float32(ki)
    r = (y - kf * float32(0.693145751953125)) - kf * float32(1.428606765330187e-06)
    return r, ki


@njit(inline="always")
def tanh32_finish(x, r, ki):
    """:func:`tanh32`'s second part (as :func:`tanh64_finish`): the value."""
    q = float32(1.0 / 40320.0)                   # Horner, multiply-adds fused where the
    q = muladd(q, r, float32(1.0 / 5040.0))     # CPU can (23% faster here; Estrin
    q = muladd(q, r, float32(1.0 / 720.0))      # was not faster in float32 and lost
    q = muladd(q, r, float32(1.0 / 120.0))      # accuracy)
    q = muladd(q, r, float32(1.0 / 24.0))
    q = muladd(q, r, float32(1.0 / 6.0))
    q = muladd(q, r, float32(0.5))
    q = muladd(q, r, float32(1.0))
    p2 = pow2_f32(ki)                            # 2^ki exactly (0 <= ki <= 29)
    E = muladd(p2, r * q, p2 - float32(1.0))
    t = E / (E + float32(2.0))
    return t if x >= 0.0 else -t


@intrinsic
def as_float_of(typingctx, like, v):
    """``v`` converted to the float type of ``like`` (a no-op when they agree).

    The activations below return their argument's type whatever the code: Numba types a
    function by the union of its branches and a Python-float constant is a float64, so
    without it a float32 network's phi and phi' (the tanh32 branch included) came back
    as float64 and dragged the surrounding arithmetic to float64 width.  For float64
    arguments nothing changes (same values, same bits).
    """
    if not isinstance(like, _types.Float) or not isinstance(v, (_types.Float, _types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[1], sig.args[1], sig.return_type)

    return like(like, v), codegen


@njit(inline="always")
def phi(x, code):
    """phi(x) in the float type of x."""
    if code == TANH:
        return as_float_of(x, tanh64(x))
    elif code == RELU:
        return x if x > 0.0 else as_float_of(x, 0.0) * x
    elif code == SOFTPLUS:
        # log(1 + e^x), stable for large |x|
        if x > 0.0:
            return as_float_of(x, x + math.log1p(math.exp(-x)))
        return as_float_of(x, math.log1p(math.exp(x)))
    elif code == RETANH:
        t = tanh64(x)
        return as_float_of(x, t if t > 0.0 else 0.0 * t)
    elif code == TANH32:
        return as_float_of(x, tanh32(x))
    else:
        t = as_float_of(x, tanh32(x))
        return t if t > 0.0 else as_float_of(x, 0.0) * t


@njit(inline="always")
def sigmoid(x):
    """1 / (1 + e^-x) without cancellation for either sign (softplus' derivative)."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(inline="always")
def dphi(x, code):
    """phi'(x) in the float type of x (float32: 1 - t^2 in float32, as PyTorch's tanh
    backward)."""
    one = as_float_of(x, 1.0)
    zero = as_float_of(x, 0.0)
    if code == TANH:
        t = tanh64(x)
        return as_float_of(x, 1.0 - t * t)
    elif code == RELU:
        return one if x > 0.0 else zero
    elif code == SOFTPLUS:
        return as_float_of(x, sigmoid(x))
    elif code == RETANH:
        if x > 0.0:
            t = tanh64(x)
            return as_float_of(x, 1.0 - t * t)
        return zero
    elif code == TANH32:
        t = as_float_of(x, tanh32(x))
        return one - t * t
    else:
        if x > 0.0:
            t = as_float_of(x, tanh32(x))
            return one - t * t
        return zero


@njit
def apply_phi(x, code, out):
    """out[...] = phi(x) for 2-D arrays (one loop per activation, no branch inside)."""
    if code == TANH:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = tanh64(x[i, j])
    elif code == TANH32:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = tanh32(x[i, j])
    elif code == RELU:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = max(x[i, j], 0.0)
    else:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = phi(x[i, j], code)


@njit
def mse_delta(y, target, mask, norm, delta):
    """Masked MSE (MODEL.md section 3) for a (K, O) block.

    Returns the block's contribution ``0.5 * sum m (y - y*)^2 / norm`` and writes
    ``delta = m (y - y*) / norm``.  ``norm`` is ``sum(m)`` over the whole batch.
    """
    loss = 0.0
    inv = 1.0 / norm
    for k in range(y.shape[0]):
        for o in range(y.shape[1]):
            e = y[k, o] - target[k, o]
            m = mask[k, o]
            delta[k, o] = m * e * inv
            loss += 0.5 * m * e * e
    return loss * inv


@njit
def xent_delta(y, labels, mask, norm, delta):
    """Masked softmax cross-entropy for a (K, O) block with integer labels (K,).

    Returns ``-sum m log p[label] / norm`` and writes ``delta = m (p - onehot) / norm``.
    The softmax is shifted by the row maximum (log-sum-exp), so it never overflows.
    """
    loss = 0.0
    inv = 1.0 / norm
    O = y.shape[1]
    for k in range(y.shape[0]):
        mx = y[k, 0]
        for o in range(1, O):
            if y[k, o] > mx:
                mx = y[k, o]
        s = 0.0
        for o in range(O):
            s += math.exp(y[k, o] - mx)
        lse = mx + math.log(s)
        m = mask[k]
        lab = labels[k]
        for o in range(O):
            p = math.exp(y[k, o] - lse)
            delta[k, o] = m * (p - (1.0 if o == lab else 0.0)) * inv
        loss -= m * (y[k, lab] - lse)
    return loss * inv


@njit(inline="always")
def dphi_from(x, r, code):
    """phi'(x) given also r = phi(x), without a second transcendental where possible.

    tanh: 1 - r^2; retanh: 1 - r^2 if r > 0 else 0 (r > 0 exactly when x > 0);
    relu: 1 if r > 0 else 0; softplus: the logistic of x (from x).  In the float type
    of r.
    """
    one = as_float_of(r, 1.0)
    zero = as_float_of(r, 0.0)
    if code == TANH or code == TANH32:
        return one - r * r
    elif code == RELU:
        return one if r > 0.0 else zero
    elif code == RETANH or code == RETANH32:
        return one - r * r if r > 0.0 else zero
    return as_float_of(r, sigmoid(x))


@intrinsic
def wide_vectors(typingctx):
    """Let LLVM vectorise the calling kernel with 512-bit registers where the CPU has them.

    LLVM's tuning for AVX-512 Intel CPUs prefers 256-bit vectors in auto-vectorised
    loops (``prefer-vector-width=256``: the early Skylake-X parts lowered their clock
    on 512-bit instructions), while BLAS uses the full width.  Called first in a kernel,
    this sets the function attribute ``prefer-vector-width=512`` (and
    ``min-legal-vector-width=512`` for the explicit vectors of
    :mod:`localrnn.kernels.gemm`): tanh of a Romo step's rates 59 -> 45 us (float32) and
    167 -> 123 us (float64) per batch here.  Element-wise loops give the same bits at
    any width (no sum is reordered: fastmath stays off); on CPUs without AVX-512 the
    attribute changes nothing.
    """
    def codegen(context, builder, sig, args):
        attrs = builder.function.attributes
        # llvmlite's attribute set only admits flag attributes by name; these two are
        # string attributes (key=value), valid LLVM IR after the function's signature
        set.add(attrs, '"prefer-vector-width"="512"')
        set.add(attrs, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return _types.none(), codegen
