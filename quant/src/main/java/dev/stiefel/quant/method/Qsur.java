package dev.stiefel.quant.method;

import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

/**
 * The quantization space utilisation rate of OSTQuant (Hu et al., ICLR 2025, §3.1, eq. 1-4): the volume of the region
 * the data occupies over the volume of the quantization space that covers it. The data, modelled as a Gaussian with mean
 * μ and covariance Σ, fills the ellipsoid {x : (x − μ)ᵀΣ⁻¹(x − μ) ≤ c²}, of volume V_d·c^d·√det Σ (V_d the unit ball's
 * volume). A quantizer with one range for all d features (per token, per tensor) must cover the ellipsoid's extent on
 * every axis, |μ_i| + c·√Σ_ii, so its space is the cube of side 2·max_i(|μ_i| + c·√Σ_ii). Hence
 * <pre>  QSUR = V_d · c^d · √det Σ / (2·max_i(|μ_i| + c·√Σ_ii))^d.</pre>
 * For μ = 0 it is at most V_d / 2^d (the ball inscribed in the cube), reached exactly when Σ is isotropic: √det Σ is the
 * geometric mean of the eigenvalues to the d/2, max Σ_ii is at least their arithmetic mean. Values are tiny for large d,
 * so this keeps logarithms and also reports QSUR relative to that maximum and its d-th root (a per-dimension ratio).
 *
 * @param log        ln QSUR
 * @param logMax     ln(V_d / 2^d), the isotropic zero-mean value
 * @param dimensions d
 */
public record Qsur(double log, double logMax, int dimensions) {

    /** QSUR / max (in (0, 1] for zero mean). */
    public double relative() { return Math.exp(log - logMax); }

    /** (QSUR / max)^(1/d): how much of each dimension's range the data uses, geometrically averaged. */
    public double perDimension() { return Math.exp((log - logMax) / dimensions); }

    /** c² of the ellipsoid holding 99% of a d-dimensional Gaussian (Wilson–Hilferty approximation of the χ² quantile). */
    public static double chiSquare99(int d) {
        double z = 2.3263478740408408, a = 2.0 / (9 * d), t = 1 - a + z * Math.sqrt(a);
        return d * t * t * t;
    }

    /** QSUR of data with mean {@code mean} and covariance {@code cov} (positive definite), ellipsoid of radius c. */
    public static Qsur of(double[] mean, DMatrix cov, double c) {
        int d = mean.length;
        if (cov.rows != d || cov.cols != d) throw new IllegalArgumentException("QSUR: covariance " + cov.shape() + " for " + d + " features");
        double[] eig = Linalg.eigSymmetric(cov).values();
        double logDet = 0;
        for (double l : eig) {
            if (!(l > 0)) throw new IllegalArgumentException("QSUR: covariance is not positive definite (eigenvalue " + l + "); need more samples than features");
            logDet += Math.log(l);
        }
        double extent = 0;
        for (int i = 0; i < d; i++) extent = Math.max(extent, Math.abs(mean[i]) + c * Math.sqrt(cov.data[i * d + i]));
        double logBall = d / 2.0 * Math.log(Math.PI) - logGamma(d / 2.0 + 1);
        double log = logBall + d * Math.log(c) + 0.5 * logDet - d * Math.log(2 * extent);
        return new Qsur(log, logBall - d * Math.log(2), d);
    }

    /** QSUR of sample rows x [n, d] (mean and covariance estimated from them), 99% ellipsoid. */
    public static Qsur ofSamples(DMatrix x) {
        int n = x.rows, d = x.cols;
        if (n <= d) throw new IllegalArgumentException("QSUR: " + n + " samples for " + d + " features; need more samples than features");
        double[] mean = new double[d];
        for (int r = 0; r < n; r++) for (int j = 0; j < d; j++) mean[j] += x.data[r * d + j] / n;
        DMatrix cov = new DMatrix(d, d);
        for (int r = 0; r < n; r++)
            for (int i = 0; i < d; i++) {
                double a = x.data[r * d + i] - mean[i];
                for (int j = i; j < d; j++) cov.data[i * d + j] += a * (x.data[r * d + j] - mean[j]) / (n - 1);
            }
        for (int i = 0; i < d; i++) for (int j = 0; j < i; j++) cov.data[i * d + j] = cov.data[j * d + i];
        return of(mean, cov, Math.sqrt(chiSquare99(d)));
    }

    /** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~1e-15 relative). */
    static double logGamma(double x) {
        double[] g = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
                12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7};
        if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
        x -= 1;
        double a = g[0], t = x + 7.5;
        for (int i = 1; i < 9; i++) a += g[i] / (x + i);
        return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
    }
}
