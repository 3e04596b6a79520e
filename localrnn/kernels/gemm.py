"""Small matrix products held in registers: the per-step GEMMs of networks up to a few
hundred units, without a BLAS call.

At N = 64 a step's product (B x N)(N x N) is 0.26 MFLOP: OpenBLAS spends a large part
of each call on entering the library and packing its operands (3.5 us per call in
float32 here, 74 GFLOP/s).  The kernels below keep an MR x (NV vectors) block of the
result in registers for the whole sum over k -- the classic GEMM micro-kernel -- and
read both operands in place: 1.3-2.1x OpenBLAS's rate on the step products at N = 64-256
and 1.15-1.7x on the weight gradient at N = 64-128 with AVX-512, ~1.4x both with AVX2
(docs/performance.md, issue 22).  Above those sizes the callers keep BLAS
(``STEP_TILE_MAX_N``, ``GRAD_TILE_MAX_N``).

**Arithmetic.**  Every entry is the sum over k in increasing k, one fused multiply-add
per term (LLVM ``fmuladd``: fused where the CPU has FMA, as every x86-64 CPU with AVX2
does), starting from 0 -- or, for the accumulating variant, from the entry's stored
value, which continues the same chain exactly (the accumulator is stored and reloaded
in its own precision).  So the result does not depend on the tile shape, the vector
width or the blocking of k: the same numbers on an AVX2 and an AVX-512 machine with
FMA, and bit for bit from run to run.  OpenBLAS's x86 kernels sum the same way over
k for the step products here (the results were identical at N = 64-256 in float32
and float64 on this machine's SkylakeX kernels); the weight gradient's BLAS call
splits its long sum into blocks, so its last bits differ from ours.

**Registers.**  The micro-kernel is written in LLVM IR (an ``@intrinsic``) with
512-bit logical vectors (16 float32 / 8 float64); LLVM splits them into two 256-bit
halves on AVX2 CPUs.  The tile is chosen for the CPU Numba compiles for (Numba keys
its cache on the same CPU name and features): 8 rows x 2 vectors (16 zmm
accumulators) with AVX-512, 6 x 1 (12 ymm halves; measured under AVX2 code generation
with OpenBLAS's Haswell kernels, ``NUMBA_CPU_NAME=haswell``, ``OPENBLAS_CORETYPE=Haswell``:
94/93 GFLOP/s float32 and 47/44 float64 on the step product and the weight gradient
at N = 64, against 42/40 and 22/20 for a 4 x 2 tile that spills, and OpenBLAS's
65/63 and 36/32) otherwise.  Kernels calling these
also call :func:`localrnn.kernels.common.wide_vectors`, so that LLVM uses the full
512-bit registers where it would otherwise prefer 256 bits.

The callers pass C-contiguous 2-D arrays (shapes are not checked here: kernels check
nothing).
"""
import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir as _ir
from numba.core import cgutils as _cg, config as _nbconfig, types as _types
from numba.extending import intrinsic

from .._config import njit
from .common import muladd

#: Networks up to this many units do their per-step products (forward, BPTT adjoint)
#: here instead of in BLAS (float32; float64: :data:`STEP_TILE_MAX_N_F64`).
STEP_TILE_MAX_N = 256
#: ... and their weight gradient sum_k G_k^T P_k (over T*B rows).
GRAD_TILE_MAX_N = 128


def _has_avx512() -> bool:
    """True if Numba compiles for a CPU with AVX-512F (its own choice of CPU features:
    ``NUMBA_CPU_FEATURES`` or the host's)."""
    feats = _nbconfig.CPU_FEATURES
    if feats is None:
        feats = _llvm.get_host_cpu_features().flatten()
    return "+avx512f" in feats.split(",")


WIDE = _has_avx512()
#: register tile: rows x 512-bit vectors
MR, NV = (8, 2) if WIDE else (6, 1)
#: The float64 step products' limit.  Without AVX-512 the 6 x 1 tile holds 6 x 8
#: doubles, and above N = 128 OpenBLAS's dgemm (Haswell kernels) is faster at the step
#: shapes (B = 32), measured on an AMD EPYC (Zen 3).  Its sums there are the tile's
#: (over k in order, one FMA per term): the step products at N = 64-256 and the
#: gradients and a training run at N = 160 and 256 came out bit-identical either way
#: on that machine; a BLAS whose kernel sums otherwise would change the last bits.
#: float32 keeps the tile to N = 256 (1.3-2x OpenBLAS's sgemm there).
STEP_TILE_MAX_N_F64 = STEP_TILE_MAX_N if WIDE else 128
#: Rows of the weight gradient's sum per block, so that both operands' panels stay near
#: the core while every register tile of the result passes over them.  The blocking
#: does not change a bit (each block continues every entry's sequential sum).  With
#: AVX-512, 128 (measured on the SkylakeX of issue 22).  Without it, 32: on an AMD EPYC
#: (Zen 3, 32 KB L1) the weight gradient over 1792 rows took, against 128 rows per
#: block, 390 vs 593 us (float64, N = 64), 1.87 vs 2.01 ms (float64, N = 128), 737 vs
#: 864 us (float32, N = 128), about the same in float32 at N = 32-64; the 128-row float64
#: panels (2 x 64 KB at N = 64) streamed from L2 at about half the FMA rate.
K_BLOCK = 128 if WIDE else 32


def lanes(dtype) -> int:
    """Elements of one 512-bit logical vector (16 float32, 8 float64)."""
    return 16 if dtype == _types.float32 else 8


def _ir_types(context, dtype):
    """(scalar type, 512-bit vector type, its lane count, element size, i64) in LLVM IR."""
    fty = context.get_value_type(dtype)
    V = lanes(dtype)
    return fty, _ir.VectorType(fty, V), V, context.get_abi_sizeof(fty), _ir.IntType(64)


def _ir_array(context, builder, ty, val):
    """(data pointer, row stride in bytes) of a C-contiguous 2-D array argument."""
    a = context.make_array(ty)(context, builder, val)
    return a.data, _cg.unpack_tuple(builder, a.strides)[0]


def _ir_at(builder, data, off, ty):
    """Pointer to a ``ty`` at byte offset ``off`` from ``data``."""
    i8p = _ir.IntType(8).as_pointer()
    return builder.bitcast(builder.gep(builder.bitcast(data, i8p), [off]), ty.as_pointer())


def _ir_fma(builder, vty, V, size):
    """LLVM's vector ``fmuladd`` for ``vty``."""
    return _cg.get_or_insert_function(builder.module, _ir.FunctionType(vty, [vty] * 3),
                                      "llvm.fmuladd.v%d%s" % (V, "f32" if size == 4 else "f64"))


def _make_tile(mr: int, nv: int, a_trans: bool, accumulate: bool):
    """The intrinsic ``tile(A, Bm, C, i0, j0, k0, k1)``:

        C[i0:i0+mr, j0:j0+nv*V] (= or +=) sum_{k0 <= k < k1} A[i, k] Bm[k, j]

    with ``A[i, k]`` read as ``A[k, i]`` if ``a_trans``.  The accumulators are
    ``mr * nv`` vector allocas that LLVM keeps in registers for the whole loop over k.
    """

    @intrinsic
    def tile(typingctx, A, Bm, C, i0, j0, k0, k1):
        arrs = (A, Bm, C)
        if not all(isinstance(t, _types.Array) and t.ndim == 2 and t.layout == "C" for t in arrs):
            return None
        if not (A.dtype == Bm.dtype == C.dtype and A.dtype in (_types.float32, _types.float64)):
            return None

        def codegen(context, builder, sig, args):
            Av, Bv, Cv, i0v, j0v, k0v, k1v = args
            fty, vty, V, size, i64 = _ir_types(context, A.dtype)
            isz = _ir.Constant(i64, size)
            a_data, sa = _ir_array(context, builder, A, Av)
            b_data, sb = _ir_array(context, builder, Bm, Bv)
            c_data, sc = _ir_array(context, builder, C, Cv)

            def at(data, off, ty):
                return _ir_at(builder, data, off, ty)

            fma = _ir_fma(builder, vty, V, size)
            rows = [builder.add(i0v, _ir.Constant(i64, r)) for r in range(mr)]
            cols = [builder.mul(builder.add(j0v, _ir.Constant(i64, v * V)), isz) for v in range(nv)]
            # A[i, k] at i*sa + k*size; A^T: A[k, i] at k*sa + i*size
            a_row = [builder.mul(r, isz if a_trans else sa) for r in rows]
            c_row = [builder.mul(r, sc) for r in rows]
            acc = [[_cg.alloca_once(builder, vty) for _ in range(nv)] for _ in range(mr)]
            for r in range(mr):
                for v in range(nv):
                    if accumulate:
                        init = builder.load(at(c_data, builder.add(c_row[r], cols[v]), vty), align=size)
                    else:
                        init = _ir.Constant(vty, None)
                    builder.store(init, acc[r][v])
            zero32 = _ir.Constant(_ir.VectorType(_ir.IntType(32), V), [0] * V)
            with _cg.for_range_slice(builder, k0v, k1v, _ir.Constant(i64, 1), inc=True) as (k, _):
                a_k = builder.mul(k, sa if a_trans else isz)
                b_k = builder.mul(k, sb)
                bvec = [builder.load(at(b_data, builder.add(b_k, cols[v]), vty), align=size)
                        for v in range(nv)]
                for r in range(mr):
                    s = builder.load(at(a_data, builder.add(a_row[r], a_k), fty))
                    sv = builder.insert_element(_ir.Constant(vty, None), s, _ir.Constant(_ir.IntType(32), 0))
                    sv = builder.shuffle_vector(sv, _ir.Constant(vty, None), zero32)
                    for v in range(nv):
                        builder.store(builder.call(fma, [sv, bvec[v], builder.load(acc[r][v])]), acc[r][v])
            for r in range(mr):
                for v in range(nv):
                    builder.store(builder.load(acc[r][v]), at(c_data, builder.add(c_row[r], cols[v]), vty),
                                  align=size)
            return context.get_dummy_value()

        return _types.none(A, Bm, C, i0, j0, k0, k1), codegen

    return tile


def _rows_dispatch(nv: int, a_trans: bool, accumulate: bool):
    """``tile(A, Bm, C, i0, j0, k0, k1, m)``: the tile of ``m`` rows (1 <= m < MR) x
    ``nv`` vectors, for the rows of C that fill no whole MR-row tile.

    One tile of all of them, not one per row: a one-row tile keeps nv accumulators,
    too few to cover the multiply-add's latency (Zen 3: 4 cycles for two FMAs per k),
    and the two rows left of a step product's B = 32 or the four of a weight
    gradient's N = 64 cost a quarter of the product that way.  The sums are the same
    (the result does not depend on the tile shape)."""
    t = [_make_tile(m, nv, a_trans, accumulate) for m in range(1, 8)]
    t1, t2, t3, t4, t5, t6, t7 = t

    @njit(inline="always")
    def rows(A, Bm, C, i0, j0, k0, k1, m):
        if m == 1:
            t1(A, Bm, C, i0, j0, k0, k1)
        elif m == 2:
            t2(A, Bm, C, i0, j0, k0, k1)
        elif m == 3:
            t3(A, Bm, C, i0, j0, k0, k1)
        elif m == 4:
            t4(A, Bm, C, i0, j0, k0, k1)
        elif m == 5:
            t5(A, Bm, C, i0, j0, k0, k1)
        elif m == 6:
            t6(A, Bm, C, i0, j0, k0, k1)
        else:
            t7(A, Bm, C, i0, j0, k0, k1)

    return rows


# the tiles every product below needs: full (MR rows x NV vectors) and MR rows x one
# vector, and the remaining rows (< MR) of each (the weight gradient's tiles accumulate:
# its sum runs in blocks of rows)
_NN_F, _NN_C = _make_tile(MR, NV, False, False), _make_tile(MR, 1, False, False)
_TNA_F, _TNA_C = _make_tile(MR, NV, True, True), _make_tile(MR, 1, True, True)
_NN_R, _NN_1 = _rows_dispatch(NV, False, False), _rows_dispatch(1, False, False)
_TNA_R, _TNA_1 = _rows_dispatch(NV, True, True), _rows_dispatch(1, True, True)


@njit(inline="always")
def step_tiled(W):
    """True if the step products with the (N, N) weights ``W`` are register-tiled here
    (N <= :data:`STEP_TILE_MAX_N`, float64 :data:`STEP_TILE_MAX_N_F64`), False for BLAS."""
    return W.shape[0] <= (STEP_TILE_MAX_N if W.itemsize == 4 else STEP_TILE_MAX_N_F64)


@njit(inline="always")
def _vector_width(C):
    return 16 if C.itemsize == 4 else 8


@njit(inline="always")
def _scalar_tail(A, Bm, C, a_trans, accumulate, i0, i1, j0, j1, k0, k1):
    """The columns j0..j1 that fill no whole vector: the same sequential sum, one scalar
    multiply-add per term (``muladd``, as the vector tiles)."""
    for i in range(i0, i1):
        for j in range(j0, j1):
            s = C[i, j] if accumulate else C.dtype.type(0.0)
            for k in range(k0, k1):
                s = muladd(A[k, i] if a_trans else A[i, k], Bm[k, j], s)
            C[i, j] = s


@njit(inline="always")
def _sweep(A, Bm, C, k0, k1, trans):
    """Every tile of C over the sum's rows k0..k1: whole tiles, one tile of the
    remaining rows, the same for the remaining whole vectors, then the scalar tail.
    ``trans`` (a literal): 0 for ``A @ Bm`` from 0, 1 for ``A^T @ Bm`` continuing C's
    sums."""
    M = A.shape[1] if trans == 1 else A.shape[0]
    N = Bm.shape[1]
    V = _vector_width(C)
    W = NV * V
    mfull = M - M % MR
    nfull = N - N % W
    nvec = N - N % V
    for j in range(0, nfull, W):
        for i in range(0, mfull, MR):
            if trans == 1:
                _TNA_F(A, Bm, C, i, j, k0, k1)
            else:
                _NN_F(A, Bm, C, i, j, k0, k1)
        if mfull < M:
            if trans == 1:
                _TNA_R(A, Bm, C, mfull, j, k0, k1, M - mfull)
            else:
                _NN_R(A, Bm, C, mfull, j, k0, k1, M - mfull)
    for j in range(nfull, nvec, V):
        for i in range(0, mfull, MR):
            if trans == 1:
                _TNA_C(A, Bm, C, i, j, k0, k1)
            else:
                _NN_C(A, Bm, C, i, j, k0, k1)
        if mfull < M:
            if trans == 1:
                _TNA_1(A, Bm, C, mfull, j, k0, k1, M - mfull)
            else:
                _NN_1(A, Bm, C, mfull, j, k0, k1, M - mfull)
    if nvec < N:
        _scalar_tail(A, Bm, C, trans == 1, trans == 1, 0, M, nvec, N, k0, k1)


@njit
def gemm_nn(A, Bm, C):
    """C = A @ Bm (M x K)(K x N), C-contiguous, in registers (see the module docstring)."""
    _sweep(A, Bm, C, 0, A.shape[1], 0)


@njit(inline="always")
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@njit
def gemm_tn(At, Bm, C):
    """C = At^T @ Bm, At (K x M), Bm (K x N): a sum over K rows (a weight gradient
    sum_k G_k^T P_k over the T*B rows of a trajectory), in blocks of ``K_BLOCK`` rows;
    C starts at +0 and each block continues every entry's sequential sum (module
    docstring: the same bits as one unblocked sum from 0).

    The sums run in a buffer of the kernel's, placed half a period away from ``Bm``
    modulo the period g = gcd(row strides of C and Bm in bytes, 4096), then copied to C.
    Each block's tiles store rows of C and the next loads rows of Bm (and of At, which
    the callers allocate like Bm); where the two sit a multiple of g apart modulo 4 KB,
    the loads wait on the stores (4K aliasing): the float64 weight gradient at N = 64
    took 416-424 us at those placements of C and 371-375 us at every other (this CPU,
    Zen 3), and a C freshly allocated per call landed on a slow one about as often as
    not.  float32 sums go straight to C: at N = 64 they were 170-172 us at every
    placement, and the copy would cost 6 us.  The placement changes no number."""
    K = At.shape[0]
    M, N = C.shape
    isz = C.itemsize
    g = _gcd(_gcd(N * isz, Bm.shape[1] * isz), 4096)
    if isz == 4 or g < 2 * isz:          # float32, or any placement as good
        C[:] = 0.0
        for k0 in range(0, K, K_BLOCK):
            _sweep(At, Bm, C, k0, min(K, k0 + K_BLOCK), 1)
        return
    buf = np.empty(M * N + g // isz, dtype=C.dtype)
    want = (Bm.ctypes.data + g // 2) % g
    off = ((want - buf.ctypes.data % g) % g) // isz
    Cl = buf[off:off + M * N].reshape(M, N)
    Cl[:] = 0.0
    for k0 in range(0, K, K_BLOCK):
        _sweep(At, Bm, Cl, k0, min(K, k0 + K_BLOCK), 1)
    C[:] = Cl


def _ir_lane_sum(builder, v, V):
    """The V lanes of ``v`` added in halves (lane l + V/2, then l + V/4, ...): a scalar."""
    w = V
    while w > 1:
        h = w // 2
        lo = builder.shuffle_vector(v, v, _ir.Constant(_ir.VectorType(_ir.IntType(32), h), list(range(h))))
        hi = builder.shuffle_vector(v, v, _ir.Constant(_ir.VectorType(_ir.IntType(32), h), list(range(h, w))))
        v = builder.fadd(lo, hi)
        w = h
    return builder.extract_element(v, _ir.Constant(_ir.IntType(32), 0))


def _make_lane_dots(R: int):
    """The intrinsic ``f(A, i0, Bm, j, n)``: for each of the R rows i0 .. i0 + R - 1 of A,
    sum_{m < n} A[i, m] Bm[j, m] for n a multiple of the lane count V: V partial sums
    (lane l takes m = l, l + V, ...; one multiply-add per term, in order), then the
    lanes added in halves (l + V/2, then l + V/4, ...).  The order is fixed by V alone
    (16 float32 / 8 float64 whatever the CPU), so the bits do not depend on the CPU.
    R = 1 returns the scalar; R > 1 a tuple of R, the sums interleaved in one loop over
    m (their multiply-add chains overlap, row j is loaded once): each the same
    operations in the same order as alone."""

    @intrinsic
    def lane_dots(typingctx, A, i0, Bm, j, n):
        if not all(isinstance(t, _types.Array) and t.ndim == 2 and t.layout == "C" for t in (A, Bm)):
            return None
        if not (A.dtype == Bm.dtype and A.dtype in (_types.float32, _types.float64)):
            return None

        def codegen(context, builder, sig, args):
            Av, iv, Bv, jv, nv = args
            fty, vty, V, size, i64 = _ir_types(context, A.dtype)
            isz = _ir.Constant(i64, size)
            a_data, sa = _ir_array(context, builder, A, Av)
            b_data, sb = _ir_array(context, builder, Bm, Bv)

            def at(data, off):
                return _ir_at(builder, data, off, vty)

            fma = _ir_fma(builder, vty, V, size)
            a_rows = [builder.mul(builder.add(iv, _ir.Constant(i64, r)), sa) for r in range(R)]
            b_row = builder.mul(jv, sb)
            accs = [_cg.alloca_once(builder, vty) for _ in range(R)]
            for acc in accs:
                builder.store(_ir.Constant(vty, None), acc)
            step = _ir.Constant(i64, V)
            with _cg.for_range_slice(builder, _ir.Constant(i64, 0), nv, step, inc=True) as (m, _):
                off = builder.mul(m, isz)
                y = builder.load(at(b_data, builder.add(b_row, off)), align=size)
                for a_row, acc in zip(a_rows, accs):
                    x = builder.load(at(a_data, builder.add(a_row, off)), align=size)
                    builder.store(builder.call(fma, [x, y, builder.load(acc)]), acc)
            out = [_ir_lane_sum(builder, builder.load(acc), V) for acc in accs]
            return out[0] if R == 1 else context.make_tuple(builder, sig.return_type, out)

        ret = A.dtype if R == 1 else _types.UniTuple(A.dtype, R)
        return ret(A, i0, Bm, j, n), codegen

    return lane_dots


#: rows of A per :func:`row_dots` call (independent sums in flight at once)
DOT_ROWS = 4                   # row_dots unpacks four sums
#: sum_{m < n} A[i, m] Bm[j, m], n a multiple of V (:func:`_make_lane_dots`)
_lane_dot = _make_lane_dots(1)
#: the same for rows i0 .. i0 + DOT_ROWS - 1 of A, interleaved: a tuple
_lane_dot_rows = _make_lane_dots(DOT_ROWS)


@njit(inline="always")
def row_dot(A, i, Bm, j):
    """sum_m A[i, m] Bm[j, m] (rows of two C-contiguous arrays, same length): V lane
    sums added in halves (:func:`_lane_dot`), then the elements past the last whole
    vector, one multiply-add each, in order.  Vectorised without reordering anything at
    run time: the order is this definition's, on every CPU."""
    N = A.shape[1]
    V = _vector_width(A)
    nfull = N - N % V
    s = _lane_dot(A, i, Bm, j, nfull)
    for m in range(nfull, N):
        s = muladd(A[i, m], Bm[j, m], s)
    return s


@njit(inline="always")
def row_dots(A, i0, Bm, j):
    """``(row_dot(A, i0 + r, Bm, j) for r < DOT_ROWS)``, the same bits: the whole
    vectors by :func:`_lane_dot_rows` (the sums interleaved), then each sum's elements
    past them, one multiply-add each, in order."""
    N = A.shape[1]
    V = _vector_width(A)
    nfull = N - N % V
    s0, s1, s2, s3 = _lane_dot_rows(A, i0, Bm, j, nfull)
    for m in range(nfull, N):
        b = Bm[j, m]
        s0 = muladd(A[i0, m], b, s0)
        s1 = muladd(A[i0 + 1, m], b, s1)
        s2 = muladd(A[i0 + 2, m], b, s2)
        s3 = muladd(A[i0 + 3, m], b, s3)
    return s0, s1, s2, s3
