"""Fits the odd polynomial of VectorMath.tanh: tanh(x) = x + x^3 * P(x^2) on |x| < 0.625.

P of degree 3..7 is fitted for the least maximum relative error of tanh (Lawson's iteratively reweighted least
squares, which converges to the minimax fit) on 4000 points, against mpmath's tanh at 40 digits. Prints each
degree's error and coefficients; VectorMath uses degree 4 (error 4.4e-9, well under float's half-ulp 6e-8).
Run: python3 tensor/scripts/fit_tanh.py (numpy, mpmath).
"""
import numpy as np, mpmath as mp
mp.mp.dps = 40
B = 0.625
# fit g(z) = (tanh(x)/x - 1)/z  with z = x^2, on z in (0, B^2], so tanh(x) = x + x^3 g(x^2)
def g(z):
    x = mp.sqrt(z)
    return (mp.tanh(x)/x - 1)/z if z > 0 else mp.mpf(-1)/3
for deg in range(3, 8):
    # Remez-like: start from Chebyshev least squares, weight = relative error of tanh: err(tanh) = x^3 * (P - g) / tanh(x)
    zs = np.linspace(1e-12, B*B, 4000)
    gv = np.array([float(g(mp.mpf(z))) for z in zs])
    w = np.array([float(mp.sqrt(z)**3/ mp.tanh(mp.sqrt(z))) if z>0 else 0 for z in zs])
    A = np.vander(zs, deg+1, increasing=True)
    W = np.diag(w)
    # iteratively reweighted least squares approximating minimax (Lawson)
    lw = np.ones_like(zs)
    for it in range(200):
        sw = np.sqrt(lw)*w
        c, *_ = np.linalg.lstsq(A*sw[:,None], gv*sw, rcond=None)
        e = np.abs((A@c - gv)*w)
        lw = lw*e; lw /= lw.sum()
    err = np.max(np.abs((A@c - gv)*w))
    print(deg, "max rel err of tanh", err, "=", err/2**-24, "half-ulps(2^-24)", list(map(repr, c)))
