"""Slow plain-Python integer reference of the fixed-point online step.

Written from the rules in the docstring of ``localrnn/kernels/fixed_online.py`` (the
format rules and the order of operations), with Python ints (unbounded, so an overflow
of the kernel's int64 would show up as a difference), its own PCG32, its own look-up
tables (``math`` functions) and its own rounding.  Used only by the tests, on tiny
networks.
"""
import math

M64 = (1 << 64) - 1
ALPHA_FRAC = 15
LR_FRAC = 30


class PCG32:
    """O'Neill's PCG32 (XSH-RR 64/32), seeded as ``pcg32_srandom(seed, stream)``."""

    MULT = 6364136223846793005

    def __init__(self, seed, stream=0):
        self.inc = ((stream << 1) | 1) & M64
        self.state = 0
        self.next()
        self.state = (self.state + seed) & M64
        self.next()

    def next(self):
        old = self.state
        self.state = (old * self.MULT + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((-rot) & 31))) & 0xFFFFFFFF

    def bits(self, k):
        """Uniform on 0 .. 2**k - 1: top k bits of one draw (k <= 32) or of two."""
        if k <= 32:
            return self.next() >> (32 - k)
        a = self.next()
        b = self.next()
        return ((a << 32) | b) >> (64 - k)


class Arith:
    """Rounding, saturation and re-scaling of the fixed-point formats."""

    def __init__(self, stochastic, rng):
        self.stochastic = stochastic
        self.rng = rng

    @staticmethod
    def sat(x, bits):
        hi = 2 ** (bits - 1) - 1
        lo = -(2 ** (bits - 1))
        return min(max(x, lo), hi)

    def div_pow2(self, x, k):
        """x / 2**k rounded (k >= 1): floor(x/2**k + 1/2), or floor((x + u)/2**k)."""
        if self.stochastic:
            return (x + self.rng.bits(k)) // 2 ** k
        return (2 * x + 2 ** k) // 2 ** (k + 1)

    def conv(self, x, k, bits):
        """x * 2**-k into a bits-wide format."""
        if k > 0:
            return self.sat(self.div_pow2(x, k), bits)
        return self.sat(x * 2 ** (-k), bits)

    def leak(self, old, new, aq, bits):
        return self.sat(self.div_pow2((2 ** ALPHA_FRAC - aq) * old + aq * new, ALPHA_FRAC), bits)


def quant(v, frac, bits):
    return Arith.sat(math.floor(v * 2.0 ** frac + 0.5), bits)


def _phi(x, act):
    if act == "tanh":
        return math.tanh(x)
    if act == "relu":
        return max(x, 0.0)
    raise ValueError(act)


def _dphi(x, act):
    if act == "tanh":
        return 1.0 - math.tanh(x) ** 2
    if act == "relu":
        return 1.0 if x > 0 else 0.0
    raise ValueError(act)


class Lut:
    """Knots every 2**sh integer steps over the whole state range; linear interpolation
    rounded to nearest."""

    def __init__(self, fn, act, sb, sf, lut_bits):
        self.sh = max(0, sb - lut_bits)
        self.smin = -(2 ** (sb - 1))
        n = 2 ** (sb - self.sh) + 1
        self.tab = [quant(fn((self.smin + k * 2 ** self.sh) / 2 ** sf, act), sf, sb) for k in range(n)]

    def __call__(self, x):
        z = x - self.smin
        k, rem = divmod(z, 2 ** self.sh)
        t0 = self.tab[k]
        if self.sh == 0:
            return t0
        return t0 + (2 * (self.tab[k + 1] - t0) * rem + 2 ** self.sh) // 2 ** (self.sh + 1)


def reference_run(net, rule_F, fmt, wfrac, stochastic, lr, trainable, seed, X, Y, M, h0=None,
                  lut_bits=8):
    """Run T steps; returns (losses, weights {name: nested lists of ints}, H, E).

    net: a localrnn Network (floats); rule_F: (N, O) float feedback matrix, or None for
    symmetric (W_out^T, live); fmt: {q: (bits, frac)} for s, t, l, acc, w; wfrac:
    fractional bits per array (W_in, W, b, W_out, b_out, F); lr: {name: float};
    X (T, B, I), Y (T, B, O), M (T, B, O) of 0/1 (NumPy arrays, read element by element).
    """
    rng = PCG32(seed)
    A = Arith(stochastic, rng)
    sb, sf = fmt["s"]
    tb, tf = fmt["t"]
    lb, lf = fmt["l"]
    ab, af = fmt["acc"]
    wb = fmt["w"][0]
    N, I, O = net.n_rec, net.n_in, net.n_out
    T, B = X.shape[0], X.shape[1]
    rate = net.form == "rate"
    act = net.activation
    phi = Lut(_phi, act, sb, sf, lut_bits)
    dphi = Lut(_dphi, act, sb, sf, lut_bits)
    aq = math.floor(net.alpha * 2 ** ALPHA_FRAC + 0.5)
    q2 = lambda a, f: [[quant(float(v), f, wb) for v in row] for row in a]  # noqa: E731
    Win, W, Wout = q2(net.W_in, wfrac["W_in"]), q2(net.W, wfrac["W"]), q2(net.W_out, wfrac["W_out"])
    b = [quant(float(v), wfrac["b"], wb) for v in net.b]
    bout = [quant(float(v), wfrac["b_out"], wb) for v in net.b_out]
    FT = None if rule_F is None else [[quant(float(rule_F[n][o]), wfrac["F"], wb) for n in range(N)]
                                       for o in range(O)]
    fF = wfrac["W_out"] if FT is None else wfrac["F"]
    eta_q = {k: (math.floor(lr.get(k, 0.0) * 2 ** LR_FRAC + 0.5) if k in trainable else 0)
             for k in ("W_in", "W", "b", "W_out", "b_out")}
    H = [[0] * N for _ in range(B)] if h0 is None else [[quant(float(v), sf, sb) for v in row]
                                                        for row in h0]
    R = [[phi(v) for v in row] for row in H]
    Z = N + I + 1
    E = [[[0] * Z for _ in range(N if rate else 1)] for _ in range(B)]
    losses = []
    for t in range(T):
        x = [[quant(float(v), sf, sb) for v in X[t, i]] for i in range(B)]
        y_star = [[quant(float(v), sf, sb) for v in Y[t, i]] for i in range(B)]
        m = [[int(M[t, i, o]) for o in range(O)] for i in range(B)]
        # forward
        HN = [[0] * N for _ in range(B)]
        RN = [[0] * N for _ in range(B)]
        U = [[0] * N for _ in range(B)]
        y = [[0] * O for _ in range(B)]
        for i in range(B):
            z = H[i] if rate else R[i]
            for n in range(N):
                acc = 0
                for j in range(N):
                    acc = A.sat(acc + A.conv(W[n][j] * z[j], wfrac["W"] + sf - af, ab), ab)
                for k in range(I):
                    acc = A.sat(acc + A.conv(Win[n][k] * x[i][k], wfrac["W_in"] + sf - af, ab), ab)
                acc = A.sat(acc + A.conv(b[n], wfrac["b"] - af, ab), ab)
                if rate:
                    U[i][n] = A.conv(acc, af - sf, sb)
                    RN[i][n] = phi(U[i][n])
                    HN[i][n] = A.leak(H[i][n], RN[i][n], aq, sb)
                else:
                    HN[i][n] = A.leak(H[i][n], A.conv(acc, af - sf, sb), aq, sb)
            if not rate:
                RN[i] = [phi(v) for v in HN[i]]
            src = HN[i] if rate else RN[i]
            for o in range(O):
                acc = 0
                for j in range(N):
                    acc = A.sat(acc + A.conv(Wout[o][j] * src[j], wfrac["W_out"] + sf - af, ab), ab)
                acc = A.sat(acc + A.conv(bout[o], wfrac["b_out"] - af, ab), ab)
                y[i][o] = A.conv(acc, af - sf, sb)
        # error
        nt = sum(sum(r) for r in m)
        err = [[A.sat(y[i][o] - y_star[i][o], sb) if m[i][o] else 0 for o in range(O)]
               for i in range(B)]
        loss = sum(0.5 * (err[i][o] / 2 ** sf) ** 2 for i in range(B) for o in range(O))
        # the output error delta is in the learning-signal format
        delta = [[A.conv(err[i][o], sf - lf, lb) if m[i][o] else 0 for o in range(O)]
                 for i in range(B)]
        losses.append(loss / nt if nt else 0.0)
        # learning signal
        L = [[0] * N for _ in range(B)]
        if nt:
            F_T = Wout if FT is None else FT
            for i in range(B):
                for n in range(N):
                    acc = 0
                    for o in range(O):
                        acc = A.sat(acc + A.conv(F_T[o][n] * delta[i][o], fF + lf - af, ab), ab)
                    if rate:
                        L[i][n] = A.conv(acc, af - lf, lb)
                    else:
                        L[i][n] = A.conv(acc * dphi(HN[i][n]), af + sf - lf, lb)
        # traces
        for i in range(B):
            if rate:
                d = [dphi(U[i][n]) for n in range(N)]
                for n in range(N):
                    row = E[i][n]
                    for j in range(N):
                        row[j] = A.leak(row[j], A.conv(d[n] * H[i][j], 2 * sf - tf, tb), aq, tb)
                    for k in range(I):
                        row[N + k] = A.leak(row[N + k], A.conv(d[n] * x[i][k], 2 * sf - tf, tb), aq, tb)
                    row[N + I] = A.leak(row[N + I], A.conv(d[n], sf - tf, tb), aq, tb)
            else:
                row = E[i][0]
                for j in range(N):
                    row[j] = A.leak(row[j], A.conv(R[i][j], sf - tf, tb), aq, tb)
                for k in range(I):
                    row[N + k] = A.leak(row[N + k], A.conv(x[i][k], sf - tf, tb), aq, tb)
                row[N + I] = A.leak(row[N + I], A.sat(2 ** tf, tb), aq, tb)
        # SGD
        if nt:
            eta = {k: ((2 * q + nt) // (2 * nt) if q > 0 else 0) for k, q in eta_q.items()}

            def upd(w, fw, g, e):
                d = A.conv(e * g, LR_FRAC + af - fw, wb)
                return A.sat(w - d, wb)

            def tr(i, n, c):
                return E[i][n if rate else 0][c]

            lk = lf + tf - af
            for n in range(N):
                if eta["W"] > 0:
                    for j in range(N):
                        g = 0
                        for i in range(B):
                            g = A.sat(g + A.conv(L[i][n] * tr(i, n, j), lk, ab), ab)
                        W[n][j] = upd(W[n][j], wfrac["W"], g, eta["W"])
                if eta["W_in"] > 0:
                    for k in range(I):
                        g = 0
                        for i in range(B):
                            g = A.sat(g + A.conv(L[i][n] * tr(i, n, N + k), lk, ab), ab)
                        Win[n][k] = upd(Win[n][k], wfrac["W_in"], g, eta["W_in"])
                if eta["b"] > 0:
                    g = 0
                    for i in range(B):
                        g = A.sat(g + A.conv(L[i][n] * tr(i, n, N + I), lk, ab), ab)
                    b[n] = upd(b[n], wfrac["b"], g, eta["b"])
            src = HN if rate else RN
            for o in range(O):
                if eta["W_out"] > 0:
                    for j in range(N):
                        g = 0
                        for i in range(B):
                            g = A.sat(g + A.conv(delta[i][o] * src[i][j], lf + sf - af, ab), ab)
                        Wout[o][j] = upd(Wout[o][j], wfrac["W_out"], g, eta["W_out"])
                if eta["b_out"] > 0:
                    g = 0
                    for i in range(B):
                        g = A.sat(g + A.conv(delta[i][o], lf - af, ab), ab)
                    bout[o] = upd(bout[o], wfrac["b_out"], g, eta["b_out"])
        H, R = HN, RN
    weights = {"W_in": Win, "W": W, "b": b, "W_out": Wout, "b_out": bout}
    return losses, weights, H, E
