package dev.stiefel.quant.method;

import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.StridedMatrix;
import dev.stiefel.tensor.cpu.VectorMath;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import dev.stiefel.tensor.linalg.UpperTiles;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * GPTQ for one weight matrix (Frantar et al. 2023, arXiv 2210.17323, Algorithm 1): quantize W [rows, cols] one input
 * column at a time and spread each column's quantization error over the columns not yet quantized, weighted by the
 * inverse Hessian, so that ||WX − ŴX||² stays small on the calibration inputs X. With the same quantizer on every
 * column, GPTQ only changes which values get rounded; the grid is the quantizer's.
 *
 * <p>The steps, as in the paper and IST-DASLab/gptq's {@code fasterquant}; 1 and 3-5 depend on the Hessian alone
 * ({@link #factor}, shared by the matrices that read the same inputs), the rest on the weights:
 * <ol>
 *   <li>dead inputs (H_ii = 0, a feature never active) get H_ii = 1 and a zero weight column;</li>
 *   <li>without groups the scales come from the whole W once; with static groups, from each group of W's own columns
 *       before anything moves;</li>
 *   <li>act-order permutes columns by decreasing H_ii, so the most active features are quantized first;</li>
 *   <li>dampening: H += λ·mean(diag H)·I with λ = 0.01;</li>
 *   <li>the paper's U, the upper Cholesky factor of H⁻¹ (section 3.3, "Cholesky reformulation": row j of U is row j
 *       of the inverse Hessian of the columns j.. that remain, divided by the square root of its diagonal), is the
 *       inverse of R, the upper triangular factor with H = R Rᵀ. R is one Cholesky factorization of H from its last
 *       row up ({@link Linalg#choleskyUL}, f64, n³/6 multiply-adds), where forming H⁻¹ and factoring it again took
 *       four times the work;</li>
 *   <li>per column j: q = Q(w_j) of its current value, Δ_j = w⁰_j − q against its original value; every later column
 *       k of the block takes w_k += Δ_j·R_jk / R_kk (rows are independent, so they run in parallel). The paper's
 *       w_k −= ((w_j − q) / U_jj)·U_jk, with R = U⁻¹, gives column k the same value, w⁰_k + Σ_{j<k} Δ_j R_jk / R_kk:
 *       the LDL form of GPTQ (Chee et al. 2023, "QuIP", arXiv 2307.13304, Theorem 6: with H = (Ů + I) D (Ů + I)ᵀ,
 *       column k is rounded at w⁰_k + (W⁰ − Ŵ)Ů_:,k, and Ů_jk = R_jk / R_kk);</li>
 *   <li>lazy batch updates: the columns after a block of B = 128 receive the block's errors at once,
 *       W[:, i2:] += Δ·F[i1:i2, i2:] with F_jk = R_jk / R_kk, one f32 matrix product instead of B rank-one updates.</li>
 * </ol>
 * The loss the paper reports, Σ (w − q)² / U_jj² / 2 over the current values, is Σ (w − q)² R_jj² / 2.
 * With groups that are not static, a group's scales are found when its first column is reached, from the current,
 * error-compensated values of its columns. Blocks are aligned to whole groups so that those values already carry
 * every earlier update; the reference code reads them before the current block's updates, which for groups smaller
 * than the block is a slightly staler view (blocks only reorder exact arithmetic, so this alignment changes nothing
 * else). Every value is computed by the same operations in the same order whatever the number of threads.
 */
public final class GptqSolver {
    private GptqSolver() {}

    /**
     * The quantized matrix in the original column order, as fake-quantized f32 values and as codes c = q − qmin with
     * their parameters ((c + qmin − z)·s is exactly {@code weights}, act-order groups included).
     *
     * @param loss GPTQ's reported error Σ (w − q)² / U_jj² / 2 over all elements
     */
    public record Result(float[] weights, int[] codes, QuantParams params, double loss, int[] order) {}

    /**
     * What GPTQ needs from a Hessian, independent of the weights (steps 1, 3, 4 and 5): matrices that read the same
     * inputs (q/k/v, gate/up) share one.
     *
     * @param dead     inputs never active (H_ii = 0): their weight columns are zeroed
     * @param actOrder whether {@code order} is act-order (else the identity)
     * @param order    the column order: column j of the loop is input order[j]
     * @param feedback F, row-major [cols, cols], rounded to f32 as the column loop uses it: with H = R Rᵀ for the damped
     *                 H in that order, F_jk = R_jk / R_kk above the diagonal (the share of column j's rounding error that
     *                 column k takes) and F_jj = R_jj (its weight in the loss)
     */
    public record HessianFactor(int cols, boolean[] dead, boolean actOrder, int[] order, float[] feedback) {}

    /** Quantizes w [rows, cols] (row-major, not modified) under the Hessian h [cols, cols] (row-major, not modified). */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, Gptq.Options o, String name) {
        requireWeights(w0, rows, cols, name);
        return quantize(w0, rows, factor(h0, cols, o, name), quantizer, o, name);
    }

    /** Quantizes w [rows, factor.cols()] (row-major, not modified) with a prepared Hessian factor. */
    public static Result quantize(float[] w0, int rows, HessianFactor factor, Quantizer quantizer, Gptq.Options o, String name) {
        if (factor.actOrder() != o.actOrder())
            throw new IllegalArgumentException("gptq " + name + ": the Hessian factor was prepared with act-order " + factor.actOrder()
                    + " but the options ask for " + o.actOrder());
        return solve(w0, rows, factor, quantizer, null, o, name);
    }

    /**
     * GPTQ on a grid whose parameters are already fixed for every element (llama.cpp's block formats): the column loop
     * asks {@code grid} for each element's value and the error propagation is GPTQ's; the result's codes and params are
     * null (the grid holds the codes). Act-order and groups are the grid's business, so they are not used.
     */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, ElementGrid grid, Gptq.Options o, String name) {
        requireWeights(w0, rows, cols, name);
        return quantize(w0, rows, factor(h0, cols, o.withActOrder(false), name), grid, o, name);
    }

    /** {@link #quantize(float[], int, int, double[], ElementGrid, Gptq.Options, String)} with a prepared Hessian factor (without act-order). */
    public static Result quantize(float[] w0, int rows, HessianFactor factor, ElementGrid grid, Gptq.Options o, String name) {
        if (factor.actOrder()) throw new IllegalArgumentException("gptq " + name + ": a grid keeps the column order; prepare the Hessian factor without act-order");
        return solve(w0, rows, factor, null, grid, o.withActOrder(false), name);
    }

    /**
     * A fixed grid per element: {@code quantize} picks the code of (row, col) for x, remembers it and returns its value.
     * The column loop calls it from several threads at once, for different rows.
     */
    public interface ElementGrid {
        float quantize(int row, int col, float x);
    }

    /**
     * Steps 1, 3, 4 and 5 on the Hessian h [cols, cols] (row-major, not modified): dead inputs, the column order, the
     * dampening and the factor F of the column loop.
     */
    public static HessianFactor factor(double[] h0, int cols, Gptq.Options o, String name) {
        if (h0.length != cols * cols) throw new IllegalArgumentException("gptq " + name + ": Hessian of " + h0.length + " entries for " + cols + " inputs");
        for (int i = 0; i < h0.length; i++)
            if (!Double.isFinite(h0[i])) throw new IllegalArgumentException("gptq " + name + ": Hessian entry " + h0[i] + " at (" + i / cols + ", " + i % cols
                    + "); the calibration inputs overflow or hold NaN");
        // 1. dead inputs: H_ii = 0 becomes 1 (their weights are zeroed, so nothing is lost)
        boolean[] dead = new boolean[cols];
        double[] diag = new double[cols];
        for (int c = 0; c < cols; c++) {
            diag[c] = h0[c * cols + c];
            if (diag[c] == 0) {
                diag[c] = 1;
                dead[c] = true;
            }
        }
        // 3. act-order: columns by decreasing H_ii (ties in index order)
        int[] perm = order(diag, o.actOrder());
        // 4. dampening: H += λ·mean(diag H)·I, the mean summed in the loop's order
        double mean = 0;
        for (int i = 0; i < cols; i++) mean += diag[perm[i]];
        double damp = o.dampRatio() * mean / cols;
        // 5. H = R Rᵀ (R = U⁻¹ for the paper's U = Cholesky(H⁻¹)ᵀ, Algorithm 1, line 3), in f64, as Linalg.choleskyUL
        //    computes it without its two copies: the upper factor V of J·H·J (J reverses the order) in place, R = J Vᵀ J.
        //    (A Hessian summed in another order may be asymmetric in its last bits: its symmetric part is used.)
        int[] reversed = new int[cols];
        for (int i = 0; i < cols; i++) reversed[i] = perm[cols - 1 - i];
        double[] v = permutedSymmetricPart(h0, cols, reversed);
        for (int i = 0; i < cols; i++) v[i * cols + i] = diag[reversed[i]] + damp;
        try {
            Linalg.choleskyUpperInPlace(new DMatrix(cols, cols, v));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("gptq " + name + ": the damped Hessian is not positive definite (" + e.getMessage()
                    + "); raise the dampening ratio (now " + o.dampRatio() + ") or use more calibration data", e);
        }
        // F_jk = R_jk / R_kk, F_jj = R_jj, with R_jk = V_{n-1-k, n-1-j}: read by tiles so V's columns stay in cache
        float[] f = new float[cols * cols];
        final int n1 = cols - 1;
        UpperTiles.forEach(cols, true, (j, from, to) -> {
            for (int k = from; k < to; k++) {
                double rjk = v[(n1 - k) * cols + n1 - j];
                f[j * cols + k] = (float) (k == j ? rjk : rjk / v[(n1 - k) * cols + n1 - k]);
            }
        });
        return new HessianFactor(cols, dead, o.actOrder(), perm, f);
    }

    /** H'_ij = (h_{p_i p_j} + h_{p_j p_i}) / 2 for the order p, in 64 × 64 tiles (rows of tiles in parallel) so both reads stay in cache. */
    static double[] permutedSymmetricPart(double[] h, int cols, int[] perm) {
        final int tile = 64;
        double[] hp = new double[cols * cols];
        Parallel.forRange((cols + tile - 1) / tile, 1, (t0, t1) -> {
            for (int i0 = t0 * tile; i0 < Math.min(cols, t1 * tile); i0 += tile)
                for (int j0 = 0; j0 < cols; j0 += tile)
                    for (int i = i0; i < Math.min(cols, i0 + tile); i++) {
                        int pi = perm[i];
                        for (int j = j0; j < Math.min(cols, j0 + tile); j++)
                            hp[i * cols + j] = 0.5 * (h[pi * cols + perm[j]] + h[perm[j] * cols + pi]);
                    }
        });
        return hp;
    }

    private static void requireWeights(float[] w, int rows, int cols, String name) {
        if (w.length != rows * cols) throw new IllegalArgumentException("gptq " + name + ": " + w.length + " weights for " + rows + "×" + cols);
        for (int i = 0; i < w.length; i++)
            if (!Float.isFinite(w[i]))
                throw new IllegalArgumentException("gptq " + name + ": weight " + w[i] + " at row " + i / cols + ", column " + i % cols);
    }

    /** Steps 1 (the weights' part), 2, 6 and 7: the column loop of Algorithm 1 over lazy batches of columns. */
    private static Result solve(float[] w0, int rows, HessianFactor factor, Quantizer quantizer, ElementGrid grid, Gptq.Options o, String name) {
        int cols = factor.cols();
        requireWeights(w0, rows, cols, name);
        QuantSpec spec = grid != null ? QuantSpec.weights(8, true, 0) : quantizer.spec();   // (a grid needs no spec)
        float[] w = w0.clone();
        // 1. dead inputs get a zero weight column
        for (int c = 0; c < cols; c++)
            if (factor.dead()[c]) for (int r = 0; r < rows; r++) w[r * cols + c] = 0;

        // 2. scales fixed up front: per row (or tensor) without groups, per original group with static groups
        int g = spec.granularity() == QuantSpec.Granularity.PER_TENSOR || spec.groupSize() >= cols ? 0 : spec.groupSize();
        boolean dynamicGroups = g > 0 && !o.staticGroups();
        QuantParams fixed = dynamicGroups || grid != null ? null : quantizer.fit(w, rows, cols, name);
        int block = o.blockSize();
        if (dynamicGroups) block = g >= block ? g : block / g * g;

        ColumnLoop loop = new ColumnLoop(w, rows, factor, quantizer, grid, spec, fixed, dynamicGroups ? g : 0, name);
        double loss = 0;
        float[] err = new float[block * rows];
        double[] lossTerms = new double[block * rows];
        int grain = Math.max(1, (1 << 15) / (block * block / 2 + 16));
        for (int i1 = 0; i1 < cols; i1 += block) {
            int i2 = Math.min(i1 + block, cols), j1 = i1;
            // 6. the block's columns, the rows in parallel (GPTQ treats every row alike and independently)
            Parallel.forRange(rows, grain, (r0, r1) -> loop.quantizeBlock(j1, i2, r0, r1, err, lossTerms));
            for (int k = 0; k < (i2 - i1) * rows; k++) loss += lossTerms[k];   // in the column-then-row order of the scalar loop
            // 7. lazy batch update of every later column
            if (i2 < cols) loop.updateLaterColumns(i1, i2, err);
        }
        QuantParams params = dynamicGroups
                ? new QuantParams(spec.bits(), spec.symmetric(), rows, cols, rows, loop.groups, loop.gScale, loop.gZero, loop.groupOf())
                : fixed;
        return new Result(loop.inOriginalOrder(loop.out), grid != null ? null : loop.inOriginalOrder(loop.codes), params, loss, factor.order());
    }

    /**
     * Algorithm 1's working state for one matrix: the columns of W in loop order (column-major: column j, input
     * order[j], is wc[j·rows .. (j+1)·rows)) as the errors move them and as they were, F, and the quantized output in
     * the original order.
     */
    private static final class ColumnLoop {
        private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
        private static final int L = S.length();
        final int rows, cols, g, groups, qmin, qmax;
        final int[] perm;
        final float[] f, out, gScale, gZero;
        final int[] codes;
        final float[] wc, original;
        /** Per dynamic group, the inverse of R's diagonal block (f64, upper, g × g row-major): see {@link #fitGroups}. */
        final double[][] groupInverse;
        final Quantizer quantizer;
        final ElementGrid grid;
        final QuantParams fixed;
        final String name;

        ColumnLoop(float[] w, int rows, HessianFactor factor, Quantizer quantizer, ElementGrid grid, QuantSpec spec, QuantParams fixed,
                   int dynamicGroupSize, String name) {
            this.rows = rows;
            this.cols = factor.cols();
            this.perm = factor.order();
            this.f = factor.feedback();
            this.quantizer = quantizer;
            this.grid = grid;
            this.fixed = fixed;
            this.name = name;
            this.g = dynamicGroupSize;
            this.groups = g > 0 ? (cols + g - 1) / g : 0;
            this.gScale = g > 0 ? new float[rows * groups] : null;
            this.gZero = g > 0 ? new float[rows * groups] : null;
            this.qmin = spec.qmin();
            this.qmax = spec.qmax();
            this.out = new float[rows * cols];
            this.codes = new int[rows * cols];
            this.wc = new float[cols * rows];
            forRowBlocks(rows, (r0, r1) -> {                // 16 rows at a time: each column gets a whole cache line
                for (int j = 0; j < cols; j++)
                    for (int r = r0; r < r1; r++) wc[j * rows + r] = w[r * cols + perm[j]];
            });
            this.original = wc.clone();
            this.groupInverse = new double[groups][];
            Parallel.forRange(groups, 1, (g0, g1) -> {
                for (int gi = g0; gi < g1; gi++) groupInverse[gi] = diagonalBlockInverse(gi * g, Math.min(gi * g + g, cols));
            });
        }

        /**
         * X = R_G⁻¹ for the diagonal block G = [j0, j1) of R (R_ik = F_ik·F_kk above the diagonal, R_ii = F_ii), by
         * back substitution in f64: X_kk = 1 / R_kk, X_ik = −Σ_{i<m≤k} R_im X_mk / R_ii. X is the same block of the paper's
         * U = R⁻¹, since both are upper triangular.
         */
        private double[] diagonalBlockInverse(int j0, int j1) {
            int n = j1 - j0;
            double[] x = new double[n * n];
            for (int k = 0; k < n; k++) {
                x[k * n + k] = 1.0 / f[(j0 + k) * cols + j0 + k];
                for (int i = k - 1; i >= 0; i--) {
                    double sum = 0;
                    for (int m = i + 1; m <= k; m++) sum += r(j0 + i, j0 + m) * x[m * n + k];
                    x[i * n + k] = -sum / f[(j0 + i) * cols + j0 + i];
                }
            }
            return x;
        }

        private double r(int i, int k) { return i == k ? f[i * cols + i] : (double) f[i * cols + k] * f[k * cols + k]; }

        /**
         * Columns [i1, i2) of the loop for rows [r0, r1) (Algorithm 1, lines 5-8, in the LDL form): each column is
         * quantized, its difference Δ from the original column kept in err (block-relative column-major) and moved
         * onto the block's later columns. lossTerms gets each element's (w − q)² R_jj² / 2 for its current value w.
         *
         * <p>The moves run left-looking: column k takes the Δ of every earlier column of the block just before it is
         * needed, in increasing order of the earlier column, as the paper's right-looking loop adds them to it one
         * after another, so every element sees the same operations in the same order (the same bits), while its
         * value stays in a register across them. "Needed" is when the column is quantized, or, for a dynamic group's
         * columns, when the group's scales are fitted from their values at its first column ({@link #fitGroups}):
         * then the whole group first takes the block's earlier columns.
         */
        void quantizeBlock(int i1, int i2, int r0, int r1, float[] err, double[] lossTerms) {
            float[] tmp = g > 0 ? new float[g] : null;
            float[] colScale = grid == null ? new float[r1 - r0] : null, colZero = grid == null ? new float[r1 - r0] : null;
            float[] fCol = new float[i2 - i1];
            int applied = i1;   // the block's last group start: columns [i1, applied) have moved their Δ onto the group
            for (int j = i1; j < i2; j++) {
                if (g > 0 && j % g == 0) {
                    int end = Math.min(j + g, i2);
                    for (int k = j; k < end; k++) addErrors(i1, i1, j, k, r0, r1, err, fCol);  // the group, up to its first column
                    applied = j;
                    fitGroups(j, r0, r1, tmp);
                }
                addErrors(i1, applied, j, j, r0, r1, err, fCol);   // W_:,j += Σ_i Δ_:,i · R_ij / R_jj, i from the last group start
                double d = f[j * cols + j];
                int e = (j - i1) * rows, c = j * rows;
                if (grid == null) {                                             // Q_:,j ← quant(W_:,j), Δ_:,j = W⁰_:,j − Q_:,j
                    boolean newParams = g > 0 ? j == i1 || j % g == 0                       // a dynamic group starts
                            : j == i1 || fixed.groupOf()[perm[j]] != fixed.groupOf()[perm[j - 1]];  // another fixed group
                    if (newParams) columnParams(j, r0, r1, colScale, colZero);
                    quantizeColumn(j, r0, r1, d, colScale, colZero, err, e, lossTerms);
                } else
                    for (int r = r0; r < r1; r++) {
                        float q = quantize(r, j, wc[c + r]);
                        float diff = wc[c + r] - q;
                        lossTerms[e + r] = (double) diff * diff * (d * d) / 2;
                        err[e + r] = original[c + r] - q;
                    }
            }
        }

        /**
         * W_:,k += Δ_:,i · F_ik for the block's columns i in [from, to), in increasing i, rows [r0, r1): each product
         * rounded, then added (no fused multiply-add), a zero F_ik skipped, as the right-looking loop did. Four vectors
         * of rows stay in registers across all i.
         */
        private void addErrors(int i1, int from, int to, int k, int r0, int r1, float[] err, float[] fCol) {
            if (from >= to) return;
            for (int i = from; i < to; i++) fCol[i - i1] = f[i * cols + k];
            int t = k * rows, r = r0;
            for (; r <= r1 - 4 * L; r += 4 * L) {
                FloatVector w0 = FloatVector.fromArray(S, wc, t + r), w1 = FloatVector.fromArray(S, wc, t + r + L),
                        w2 = FloatVector.fromArray(S, wc, t + r + 2 * L), w3 = FloatVector.fromArray(S, wc, t + r + 3 * L);
                for (int i = from; i < to; i++) {
                    float fk = fCol[i - i1];
                    if (fk == 0) continue;
                    int e = (i - i1) * rows + r;
                    w0 = w0.add(FloatVector.fromArray(S, err, e).mul(fk));
                    w1 = w1.add(FloatVector.fromArray(S, err, e + L).mul(fk));
                    w2 = w2.add(FloatVector.fromArray(S, err, e + 2 * L).mul(fk));
                    w3 = w3.add(FloatVector.fromArray(S, err, e + 3 * L).mul(fk));
                }
                w0.intoArray(wc, t + r);
                w1.intoArray(wc, t + r + L);
                w2.intoArray(wc, t + r + 2 * L);
                w3.intoArray(wc, t + r + 3 * L);
            }
            for (; r <= r1 - L; r += L) {
                FloatVector w0 = FloatVector.fromArray(S, wc, t + r);
                for (int i = from; i < to; i++) {
                    float fk = fCol[i - i1];
                    if (fk != 0) w0 = w0.add(FloatVector.fromArray(S, err, (i - i1) * rows + r).mul(fk));
                }
                w0.intoArray(wc, t + r);
            }
            for (; r < r1; r++) {
                float w = wc[t + r];
                for (int i = from; i < to; i++) {
                    float fk = fCol[i - i1];
                    if (fk != 0) w += err[(i - i1) * rows + r] * fk;
                }
                wc[t + r] = w;
            }
        }

        /**
         * A dynamic group's scales, from the values its columns j.. hold in the paper's loop when its first column is
         * reached (GPTQ's {@code find_params} at {@code (i1 + i) % groupsize == 0}): w⁰_k − Σ_{i<j} e_i U_ik, every
         * earlier column's error applied. The LDL form reaches the same value for column k only once every column before
         * k is in, so its partial values differ; the paper's follow from them: with y_i = (w_i − w⁰_i)·R_ii for the
         * LDL form's current w_i (= Σ_{m<j} Δ_m R_mi), the paper's column k holds w⁰_k + Σ_{j≤i≤k} y_i U_ik, and U's
         * diagonal block is R's inverted ({@link #groupInverse}).
         */
        private void fitGroups(int j, int r0, int r1, float[] tmp) {
            int end = Math.min(j + g, cols), n = end - j, m = r1 - r0;
            double[] x = groupInverse[j / g];
            // column-wise, so that the inner loops run along contiguous rows: y_i, then the paper's value of each column
            float[][] y = new float[n][m], paper = new float[n][m];
            for (int i = 0; i < n; i++) {
                float rii = f[(j + i) * cols + j + i];
                float[] yi = y[i];
                for (int r = 0, c = (j + i) * rows + r0; r < m; r++) yi[r] = (wc[c + r] - original[c + r]) * rii;
            }
            for (int k = 0; k < n; k++) {
                float[] v = paper[k];
                System.arraycopy(original, (j + k) * rows + r0, v, 0, m);
                for (int i = 0; i <= k; i++) {
                    float xik = (float) x[i * n + k];
                    float[] yi = y[i];
                    FloatVector xv = FloatVector.broadcast(S, xik);
                    int r = 0;
                    for (; r <= m - L; r += L) FloatVector.fromArray(S, v, r).add(FloatVector.fromArray(S, yi, r).mul(xv)).intoArray(v, r);
                    for (; r < m; r++) v[r] += yi[r] * xik;
                }
            }
            for (int r = 0; r < m; r++) {
                for (int k = 0; k < n; k++) tmp[k] = paper[k][r];
                quantizer.fitGroup(tmp, 0, n, gScale, gZero, (r0 + r) * groups + j / g, name, n);
            }
        }

        /**
         * Quantizes the element (r, loop column j) holding x, records its output (and code) in loop order (column-major,
         * as wc, so that a column's writes are contiguous) and returns its value.
         */
        private float quantize(int r, int j, float x) {
            int orig = perm[j], at = j * rows + r;
            if (grid != null) return out[at] = grid.quantize(r, orig, x);
            float s, z;
            if (g > 0) {
                s = gScale[r * groups + j / g];
                z = gZero[r * groups + j / g];
            } else {
                int k = fixed.index(r, orig);
                s = fixed.scale()[k];
                z = fixed.zero()[k];
            }
            float level = Quantizer.level(x, s, z, qmin, qmax);
            codes[at] = (int) level - qmin;
            return out[at] = (level - z) * s;
        }

        /** The scale and zero point of (r, loop column j) for rows [r0, r1), from index 0 of s and z. */
        private void columnParams(int j, int r0, int r1, float[] s, float[] z) {
            int orig = perm[j];
            for (int r = r0; r < r1; r++) {
                int k = g > 0 ? r * groups + j / g : fixed.index(r, orig);
                s[r - r0] = g > 0 ? gScale[k] : fixed.scale()[k];
                z[r - r0] = g > 0 ? gZero[k] : fixed.zero()[k];
            }
        }

        /**
         * {@link #quantize} for rows [r0, r1) of loop column j, L rows at a time, with the same operations on every
         * element, so the same bits ({@link Quantizer#level}: x / s rounded half to even, plus z, clamped); each
         * element's loss term (w − q)² R_jj² / 2 and error W⁰ − Q, as the scalar loop computes them.
         */
        private void quantizeColumn(int j, int r0, int r1, double d, float[] s, float[] z, float[] err, int e, double[] lossTerms) {
            int c = j * rows, r = r0;
            double dd = d * d;
            for (; r <= r1 - L; r += L) {
                FloatVector x = FloatVector.fromArray(S, wc, c + r), sv = FloatVector.fromArray(S, s, r - r0), zv = FloatVector.fromArray(S, z, r - r0);
                FloatVector level = VectorMath.round(x.div(sv)).add(zv).max((float) qmin).min((float) qmax);
                ((IntVector) level.convert(VectorOperators.F2I, 0)).sub(qmin).intoArray(codes, c + r);
                FloatVector q = level.sub(zv).mul(sv);
                q.intoArray(out, c + r);
                FloatVector diff = x.sub(q);
                for (int part = 0; part < 2; part++) {
                    DoubleVector dv = (DoubleVector) diff.convertShape(VectorOperators.F2D, D, part);
                    dv.mul(dv).mul(dd).div(2).intoArray(lossTerms, e + r + part * D.length());
                }
                FloatVector.fromArray(S, original, c + r).sub(q).intoArray(err, e + r);
            }
            for (; r < r1; r++) {
                float q = quantize(r, j, wc[c + r]);
                float diff = wc[c + r] - q;
                lossTerms[e + r] = (double) diff * diff * dd / 2;
                err[e + r] = original[c + r] - q;
            }
        }

        /** Half the lanes of S, as doubles: an f32 vector's two halves widen into two of these. */
        private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, jdk.incubator.vector.VectorShape.forBitSize(S.vectorBitSize()));

        /**
         * The lazy batch update (Algorithm 1, line 10, in the LDL form): W_:,i2: += Δ · F_i1:i2,i2:, one f32 matrix
         * product for the whole block instead of B rank-one updates, accumulated in place: in column-major storage it
         * is Wcᵀ rows i2.. += F_blockᵀ · Δᵀ, with F_blockᵀ a transposed view of F and Δᵀ the block's errors as they are.
         */
        void updateLaterColumns(int i1, int i2, float[] err) {
            int b = i2 - i1, rest = cols - i2;
            StridedMatrix fBlockT = StridedMatrix.of(f, (long) i1 * cols + i2, rest, b, 1, cols);
            Sgemm.gemm(fBlockT, StridedMatrix.rowMajor(err, b, rows), wc, i2 * rows, rows, true, Parallel.threads());
        }

        /** A [cols, rows] array in loop order as the [rows, cols] row-major matrix in the original column order. */
        float[] inOriginalOrder(float[] loopOrder) {
            float[] m = new float[rows * cols];
            forRowBlocks(rows, (r0, r1) -> {                // 16 rows at a time: each column gives a whole cache line
                for (int j = 0; j < cols; j++)
                    for (int r = r0; r < r1; r++) m[r * cols + perm[j]] = loopOrder[j * rows + r];
            });
            return m;
        }

        /** {@link #inOriginalOrder(float[])} for codes. */
        int[] inOriginalOrder(int[] loopOrder) {
            int[] m = new int[rows * cols];
            forRowBlocks(rows, (r0, r1) -> {
                for (int j = 0; j < cols; j++)
                    for (int r = r0; r < r1; r++) m[r * cols + perm[j]] = loopOrder[j * rows + r];
            });
            return m;
        }

        /** body(r0, r1) over [0, rows) in blocks of 16 rows, the blocks spread over the threads (each writes its own rows). */
        private static void forRowBlocks(int rows, Parallel.RangeBody body) {
            Parallel.forRange((rows + 15) / 16, 1, (b0, b1) -> {
                for (int b = b0; b < b1; b++) body.run(16 * b, Math.min(rows, 16 * b + 16));
            });
        }

        /** Each input's group, in the loop order's consecutive groups of g. */
        int[] groupOf() {
            int[] groupOf = new int[cols];
            for (int j = 0; j < cols; j++) groupOf[perm[j]] = j / g;
            return groupOf;
        }
    }

    /** The column order of the Hessian h [cols, cols] (its diagonal): see {@link #order(double[], boolean)}. */
    static int[] order(double[] h, int cols, boolean actOrder) {
        double[] diag = new double[cols];
        for (int c = 0; c < cols; c++) diag[c] = h[c * cols + c];
        return order(diag, actOrder);
    }

    /** The column order: identity, or by decreasing H_ii with ties in index order (act-order / desc_act). */
    static int[] order(double[] diag, boolean actOrder) {
        int cols = diag.length;
        Integer[] idx = new Integer[cols];
        for (int i = 0; i < cols; i++) idx[i] = i;
        if (actOrder) Arrays.sort(idx, (a, b) -> Double.compare(diag[b], diag[a]));
        int[] perm = new int[cols];
        for (int i = 0; i < cols; i++) perm[i] = idx[i];
        return perm;
    }
}
