package dev.stiefel.quant.method;

import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.Arrays;

/**
 * GPTQ for one weight matrix (Frantar et al. 2023, arXiv 2210.17323, Algorithm 1): quantize W [rows, cols] one input
 * column at a time and spread each column's quantization error over the columns not yet quantized, weighted by the
 * inverse Hessian, so that ||WX − ŴX||² stays small on the calibration inputs X. With the same quantizer on every
 * column, GPTQ only changes which values get rounded; the grid is the quantizer's.
 *
 * <p>The steps, as in the paper and IST-DASLab/gptq's {@code fasterquant}; 1 and 3-5 depend on the Hessian alone
 * ({@link #inverseHessian}, shared by the matrices that read the same inputs), the rest on the weights:
 * <ol>
 *   <li>dead inputs (H_ii = 0, a feature never active) get H_ii = 1 and a zero weight column;</li>
 *   <li>without groups the scales come from the whole W once; with static groups, from each group of W's own columns
 *       before anything moves;</li>
 *   <li>act-order permutes columns by decreasing H_ii, so the most active features are quantized first;</li>
 *   <li>dampening: H += λ·mean(diag H)·I with λ = 0.01;</li>
 *   <li>U = the upper Cholesky factor of H⁻¹ (f64, section 3.3 "Cholesky reformulation"): row j of U is row j of the
 *       inverse Hessian of the columns j.. that remain, divided by the square root of its diagonal, so the error update
 *       needs no re-inversion. Computed as Linalg's choleskyUpper(choleskyInverse(H)) by its blocked kernels;</li>
 *   <li>per column j: q = Q(w_j); e = (w_j − q) / U_jj; w_k −= e·U_jk for the later columns of the block (rows are
 *       independent, so they run in parallel);</li>
 *   <li>lazy batch updates: the columns after a block of B = 128 receive the block's errors at once,
 *       W[:, i2:] −= E·U[i1:i2, i2:], one f32 matrix product instead of B rank-one updates.</li>
 * </ol>
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
     * @param u        U = Cholesky(H⁻¹)ᵀ of the damped H in that order, row-major [cols, cols], rounded to f32 as the
     *                 column loop uses it
     */
    public record InverseHessian(int cols, boolean[] dead, boolean actOrder, int[] order, float[] u) {}

    /** Quantizes w [rows, cols] (row-major, not modified) under the Hessian h [cols, cols] (row-major, not modified). */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, Gptq.Options o, String name) {
        requireWeights(w0, rows, cols, name);
        return quantize(w0, rows, inverseHessian(h0, cols, o, name), quantizer, o, name);
    }

    /** Quantizes w [rows, hinv.cols()] (row-major, not modified) with a prepared inverse Hessian. */
    public static Result quantize(float[] w0, int rows, InverseHessian hinv, Quantizer quantizer, Gptq.Options o, String name) {
        if (hinv.actOrder() != o.actOrder())
            throw new IllegalArgumentException("gptq " + name + ": the inverse Hessian was prepared with act-order " + hinv.actOrder()
                    + " but the options ask for " + o.actOrder());
        return solve(w0, rows, hinv, quantizer, null, o, name);
    }

    /**
     * GPTQ on a grid whose parameters are already fixed for every element (llama.cpp's block formats): the column loop
     * asks {@code grid} for each element's value and the error propagation is GPTQ's; the result's codes and params are
     * null (the grid holds the codes). Act-order and groups are the grid's business, so they are not used.
     */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, ElementGrid grid, Gptq.Options o, String name) {
        requireWeights(w0, rows, cols, name);
        return quantize(w0, rows, inverseHessian(h0, cols, o.withActOrder(false), name), grid, o, name);
    }

    /** {@link #quantize(float[], int, int, double[], ElementGrid, Gptq.Options, String)} with a prepared inverse Hessian (without act-order). */
    public static Result quantize(float[] w0, int rows, InverseHessian hinv, ElementGrid grid, Gptq.Options o, String name) {
        if (hinv.actOrder()) throw new IllegalArgumentException("gptq " + name + ": a grid keeps the column order; prepare the inverse Hessian without act-order");
        return solve(w0, rows, hinv, null, grid, o.withActOrder(false), name);
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
     * dampening and U = Cholesky(H⁻¹)ᵀ.
     */
    public static InverseHessian inverseHessian(double[] h0, int cols, Gptq.Options o, String name) {
        if (h0.length != cols * cols) throw new IllegalArgumentException("gptq " + name + ": Hessian of " + h0.length + " entries for " + cols + " inputs");
        for (int i = 0; i < h0.length; i++)
            if (!Double.isFinite(h0[i])) throw new IllegalArgumentException("gptq " + name + ": Hessian entry " + h0[i] + " at (" + i / cols + ", " + i % cols
                    + "); the calibration inputs overflow or hold NaN");
        double[] h = h0.clone();
        // 1. dead inputs: H_ii = 0 becomes 1 (their weights are zeroed, so nothing is lost)
        boolean[] dead = new boolean[cols];
        for (int c = 0; c < cols; c++)
            if (h[c * cols + c] == 0) {
                h[c * cols + c] = 1;
                dead[c] = true;
            }
        // 3. act-order: columns by decreasing H_ii (ties in index order)
        int[] perm = order(h, cols, o.actOrder());
        // (a Hessian summed in another order may be asymmetric in its last bits: use its symmetric part)
        double[] hp = permutedSymmetricPart(h, cols, perm);
        // 4. dampening: H += λ·mean(diag H)·I
        double mean = 0;
        for (int i = 0; i < cols; i++) mean += hp[i * cols + i];
        double damp = o.dampRatio() * mean / cols;
        for (int i = 0; i < cols; i++) hp[i * cols + i] += damp;
        // 5. U = Cholesky(H⁻¹)ᵀ (Algorithm 1, line 3: H⁻¹ ← Cholesky(H⁻¹)ᵀ), in f64
        DMatrix upper;
        try {
            upper = Linalg.choleskyUpperOfInverse(new DMatrix(cols, cols, hp));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("gptq " + name + ": the damped Hessian is not positive definite (" + e.getMessage()
                    + "); raise the dampening ratio (now " + o.dampRatio() + ") or use more calibration data", e);
        }
        float[] u = new float[cols * cols];
        for (int i = 0; i < u.length; i++) u[i] = (float) upper.data[i];
        return new InverseHessian(cols, dead, o.actOrder(), perm, u);
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
    private static Result solve(float[] w0, int rows, InverseHessian hinv, Quantizer quantizer, ElementGrid grid, Gptq.Options o, String name) {
        int cols = hinv.cols();
        requireWeights(w0, rows, cols, name);
        QuantSpec spec = grid != null ? QuantSpec.weights(8, true, 0) : quantizer.spec();   // (a grid needs no spec)
        float[] w = w0.clone();
        // 1. dead inputs get a zero weight column
        for (int c = 0; c < cols; c++)
            if (hinv.dead()[c]) for (int r = 0; r < rows; r++) w[r * cols + c] = 0;

        // 2. scales fixed up front: per row (or tensor) without groups, per original group with static groups
        int g = spec.granularity() == QuantSpec.Granularity.PER_TENSOR || spec.groupSize() >= cols ? 0 : spec.groupSize();
        boolean dynamicGroups = g > 0 && !o.staticGroups();
        QuantParams fixed = dynamicGroups || grid != null ? null : quantizer.fit(w, rows, cols, name);
        int block = o.blockSize();
        if (dynamicGroups) block = g >= block ? g : block / g * g;

        ColumnLoop loop = new ColumnLoop(w, rows, hinv, quantizer, grid, spec, fixed, dynamicGroups ? g : 0, name);
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
        return new Result(loop.out, grid != null ? null : loop.codes, params, loss, hinv.order());
    }

    /**
     * Algorithm 1's working state for one matrix: the columns of W in loop order (column-major, wc[j] is input
     * order[j]), U, and the quantized output in the original order.
     */
    private static final class ColumnLoop {
        final int rows, cols, g, groups, qmin, qmax;
        final int[] perm;
        final float[] u, out, gScale, gZero;
        final int[] codes;
        final float[][] wc;
        final Quantizer quantizer;
        final ElementGrid grid;
        final QuantParams fixed;
        final String name;

        ColumnLoop(float[] w, int rows, InverseHessian hinv, Quantizer quantizer, ElementGrid grid, QuantSpec spec, QuantParams fixed,
                   int dynamicGroupSize, String name) {
            this.rows = rows;
            this.cols = hinv.cols();
            this.perm = hinv.order();
            this.u = hinv.u();
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
            this.wc = new float[cols][rows];
            for (int r0 = 0; r0 < rows; r0 += 16)          // 16 rows at a time: each column gets a whole cache line
                for (int j = 0; j < cols; j++)
                    for (int r = r0; r < Math.min(rows, r0 + 16); r++) wc[j][r] = w[r * cols + perm[j]];
        }

        /**
         * Columns [i1, i2) of the loop for rows [r0, r1) (Algorithm 1, lines 5-8): each column is quantized, its
         * scaled error kept in err (block-relative column-major, as E) and moved onto the block's later columns.
         * lossTerms gets each element's (w − q)² / U_jj² / 2.
         */
        void quantizeBlock(int i1, int i2, int r0, int r1, float[] err, double[] lossTerms) {
            float[] tmp = g > 0 ? new float[g] : null;
            for (int j = i1; j < i2; j++) {
                if (g > 0 && j % g == 0) fitGroups(j, r0, r1, tmp);
                float[] col = wc[j];
                float d = u[j * cols + j];
                int e = (j - i1) * rows;
                for (int r = r0; r < r1; r++) {
                    float q = quantize(r, j, col[r]);                           // Q_:,j ← quant(W_:,j)
                    float diff = col[r] - q;
                    lossTerms[e + r] = (double) diff * diff / ((double) d * d) / 2;
                    err[e + r] = diff / d;                                      // E_:,j−i ← (W_:,j − Q_:,j) / [U]_jj
                }
                for (int k = j + 1; k < i2; k++) {                              // W_:,j:(i+B) ← W_:,j:(i+B) − E_:,j−i · U_j,j:(i+B)
                    float hk = u[j * cols + k];
                    if (hk == 0) continue;
                    float[] target = wc[k];
                    for (int r = r0; r < r1; r++) target[r] -= err[e + r] * hk;
                }
            }
        }

        /**
         * A dynamic group's scales, from the current (error-compensated) values of its columns j.. when its first column
         * is reached (GPTQ's {@code find_params} at {@code (i1 + i) % groupsize == 0}).
         */
        private void fitGroups(int j, int r0, int r1, float[] tmp) {
            int end = Math.min(j + g, cols);
            for (int r = r0; r < r1; r++) {
                for (int k = j; k < end; k++) tmp[k - j] = wc[k][r];
                quantizer.fitGroup(tmp, 0, end - j, gScale, gZero, r * groups + j / g, name, end - j);
            }
        }

        /** Quantizes the element (r, loop column j) holding x, records its output (and code) and returns its value. */
        private float quantize(int r, int j, float x) {
            int orig = perm[j], at = r * cols + orig;
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

        /**
         * The lazy batch update (Algorithm 1, line 10): W_:,i2: ← W_:,i2: − E · U_i1:i2,i2:, one f32 matrix product for
         * the whole block instead of B rank-one updates; in column-major storage it is Wcᵀ rows i2.. −= U_blockᵀ · Eᵀ.
         */
        void updateLaterColumns(int i1, int i2, float[] err) {
            int b = i2 - i1, rest = cols - i2;
            float[] uBlock = new float[b * rest];
            for (int k = 0; k < b; k++) System.arraycopy(u, (i1 + k) * cols + i2, uBlock, k * rest, rest);
            float[] e = err.length == b * rows ? err : Arrays.copyOf(err, b * rows);
            float[] upd = Tensor.wrap(uBlock, b, rest).t().matmul(Tensor.wrap(e, b, rows)).toFloatArray(); // [rest, rows]
            Parallel.forRange(rest, Math.max(1, (1 << 15) / Math.max(rows, 1)), (k0, k1) -> {
                for (int k = k0; k < k1; k++) {
                    float[] target = wc[i2 + k];
                    for (int r = 0, o2 = k * rows; r < rows; r++) target[r] -= upd[o2 + r];
                }
            });
        }

        /** Each input's group, in the loop order's consecutive groups of g. */
        int[] groupOf() {
            int[] groupOf = new int[cols];
            for (int j = 0; j < cols; j++) groupOf[perm[j]] = j / g;
            return groupOf;
        }
    }

    /** The column order: identity, or by decreasing H_ii with ties in index order (act-order / desc_act). */
    static int[] order(double[] h, int cols, boolean actOrder) {
        Integer[] idx = new Integer[cols];
        for (int i = 0; i < cols; i++) idx[i] = i;
        if (actOrder) Arrays.sort(idx, (a, b) -> Double.compare(h[b * cols + b], h[a * cols + a]));
        int[] perm = new int[cols];
        for (int i = 0; i < cols; i++) perm[i] = idx[i];
        return perm;
    }
}
