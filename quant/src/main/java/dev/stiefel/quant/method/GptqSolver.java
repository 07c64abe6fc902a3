package dev.stiefel.quant.method;

import dev.stiefel.quant.PackedTensor;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.Arrays;

/**
 * GPTQ for one weight matrix (Frantar et al. 2023, Algorithm 1): quantize W [rows, cols] one input column at a time
 * and spread each column's quantization error over the columns not yet quantized, weighted by the inverse Hessian,
 * so that ||WX − ŴX||² stays small on the calibration inputs X. With the same quantizer on every column, GPTQ only
 * changes which values get rounded; the grid is the quantizer's.
 *
 * <p>The steps, as in the paper and IST-DASLab/gptq's {@code fasterquant}:
 * <ol>
 *   <li>dead inputs (H_ii = 0, a feature never active) get H_ii = 1 and a zero weight column;</li>
 *   <li>without groups the scales come from the whole W once; with static groups, from each group of W's own columns
 *       before anything moves;</li>
 *   <li>act-order permutes columns by decreasing H_ii, so the most active features are quantized first;</li>
 *   <li>dampening: H += λ·mean(diag H)·I with λ = 0.01;</li>
 *   <li>U = the upper Cholesky factor of H⁻¹ (f64): row j of U is row j of the inverse Hessian of the columns
 *       j.. that remain, divided by the square root of its diagonal, so the error update needs no re-inversion;</li>
 *   <li>per column j: q = Q(w_j); e = (w_j − q) / U_jj; w_k −= e·U_jk for the later columns of the block;</li>
 *   <li>lazy batch updates: the columns after a block of B = 128 receive the block's errors at once,
 *       W[:, i2:] −= E·U[i1:i2, i2:], one matrix product instead of B rank-one updates.</li>
 * </ol>
 * With groups that are not static, a group's scales are found when its first column is reached, from the current,
 * error-compensated values of its columns. Blocks are aligned to whole groups so that those values already carry
 * every earlier update; the reference code reads them before the current block's updates, which for groups smaller
 * than the block is a slightly staler view (blocks only reorder exact arithmetic, so this alignment changes nothing
 * else).
 */
public final class GptqSolver {
    private GptqSolver() {}

    /**
     * The quantized matrix in the original column order, as fake-quantized f32 values and as codes with their
     * parameters (which pack into a {@link PackedTensor} that dequantizes to exactly {@code weights}).
     *
     * @param loss GPTQ's reported error Σ (w − q)² / U_jj² / 2 over all elements
     */
    public record Result(float[] weights, int[] codes, QuantParams params, double loss, int[] order) {
        public PackedTensor packed(int... shape) { return PackedTensor.ofCodes(codes, params, shape); }
    }

    /**
     * Quantizes w [rows, cols] (row-major, not modified) under the Hessian h [cols, cols] (row-major, not modified).
     */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, Gptq.Options o, String name) {
        return quantize(w0, rows, cols, h0, quantizer, null, o, name);
    }

    /**
     * GPTQ on a grid whose parameters are already fixed for every element (llama.cpp's block formats): the column loop
     * asks {@code grid} for each element's value and the error propagation is GPTQ's; the result's codes and params are
     * null (the grid holds the codes). Act-order and groups are the grid's business, so they are not used.
     */
    public static Result quantize(float[] w0, int rows, int cols, double[] h0, ElementGrid grid, Gptq.Options o, String name) {
        return quantize(w0, rows, cols, h0, null, grid, o.withActOrder(false), name);
    }

    /** A fixed grid per element: {@code quantize} picks the code of (row, col) for x, remembers it and returns its value. */
    public interface ElementGrid {
        float quantize(int row, int col, float x);
    }

    private static Result quantize(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, ElementGrid grid, Gptq.Options o, String name) {
        if (w0.length != rows * cols) throw new IllegalArgumentException("gptq " + name + ": " + w0.length + " weights for " + rows + "×" + cols);
        if (h0.length != cols * cols) throw new IllegalArgumentException("gptq " + name + ": Hessian of " + h0.length + " entries for " + cols + " inputs");
        QuantSpec spec = grid != null ? QuantSpec.weights(8, true, 0) : quantizer.spec();   // (a grid needs no spec)
        float[] w = w0.clone();
        double[] h = h0.clone();
        for (int i = 0; i < w.length; i++)
            if (!Float.isFinite(w[i]))
                throw new IllegalArgumentException("gptq " + name + ": weight " + w[i] + " at row " + i / cols + ", column " + i % cols);
        for (int i = 0; i < h.length; i++)
            if (!Double.isFinite(h[i])) throw new IllegalArgumentException("gptq " + name + ": Hessian entry " + h[i] + " at (" + i / cols + ", " + i % cols
                    + "); the calibration inputs overflow or hold NaN");

        // 1. dead inputs
        for (int c = 0; c < cols; c++)
            if (h[c * cols + c] == 0) {
                h[c * cols + c] = 1;
                for (int r = 0; r < rows; r++) w[r * cols + c] = 0;
            }

        // 2. scales fixed up front: per row (or tensor) without groups, per original group with static groups
        int g = spec.granularity() == QuantSpec.Granularity.PER_TENSOR || spec.groupSize() >= cols ? 0 : spec.groupSize();
        boolean dynamicGroups = g > 0 && !o.staticGroups();
        QuantParams fixed = dynamicGroups || grid != null ? null : quantizer.fit(w, rows, cols, name);

        // 3. act-order: columns by decreasing H_ii (ties in index order)
        int[] perm = order(h, cols, o.actOrder());

        // the working copy, column-major in permuted order: wc[j] is column perm[j]
        float[][] wc = new float[cols][rows];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) wc[j][r] = w[r * cols + perm[j]];
        // (a Hessian summed in another order may be asymmetric in its last bits: use its symmetric part)
        double[] hp = new double[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) hp[i * cols + j] = 0.5 * (h[perm[i] * cols + perm[j]] + h[perm[j] * cols + perm[i]]);

        // 4. dampening, 5. U = chol(H⁻¹)ᵀ
        double mean = 0;
        for (int i = 0; i < cols; i++) mean += hp[i * cols + i];
        double damp = o.dampRatio() * mean / cols;
        for (int i = 0; i < cols; i++) hp[i * cols + i] += damp;
        DMatrix upper;
        try {
            upper = Linalg.choleskyUpper(Linalg.choleskyInverse(new DMatrix(cols, cols, hp)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("gptq " + name + ": the damped Hessian is not positive definite (" + e.getMessage()
                    + "); raise the dampening ratio (now " + o.dampRatio() + ") or use more calibration data", e);
        }
        float[] u = new float[cols * cols];
        for (int i = 0; i < u.length; i++) u[i] = (float) upper.data[i];

        int groups = dynamicGroups ? (cols + g - 1) / g : 0;
        float[] gScale = dynamicGroups ? new float[rows * groups] : null, gZero = dynamicGroups ? new float[rows * groups] : null;
        int[] groupOf = new int[cols];
        if (dynamicGroups) for (int j = 0; j < cols; j++) groupOf[perm[j]] = j / g;

        int block = o.blockSize();
        if (dynamicGroups) block = g >= block ? g : block / g * g;
        int qmin = spec.qmin(), qmax = spec.qmax();
        float[] out = new float[rows * cols];
        int[] codes = new int[rows * cols];
        float[][] err = new float[block][rows];
        float[] tmp = new float[Math.max(g, 1)];
        double loss = 0;

        for (int i1 = 0; i1 < cols; i1 += block) {
            int i2 = Math.min(i1 + block, cols);
            for (int j = i1; j < i2; j++) {
                float[] col = wc[j];
                int orig = perm[j];
                if (dynamicGroups && j % g == 0) {
                    int end = Math.min(j + g, cols);
                    for (int r = 0; r < rows; r++) {
                        for (int k = j; k < end; k++) tmp[k - j] = wc[k][r];
                        quantizer.fitGroup(tmp, 0, end - j, gScale, gZero, r * groups + j / g, name, end - j);
                    }
                }
                float d = u[j * cols + j];
                float[] e = err[j - i1];
                for (int r = 0; r < rows; r++) {
                    if (grid != null) {
                        float q = grid.quantize(r, orig, col[r]);
                        out[r * cols + orig] = q;
                        float diff = col[r] - q;
                        loss += (double) diff * diff / ((double) d * d) / 2;
                        e[r] = diff / d;
                        continue;
                    }
                    float s, z;
                    if (dynamicGroups) {
                        s = gScale[r * groups + j / g];
                        z = gZero[r * groups + j / g];
                    } else {
                        int k = fixed.index(r, orig);
                        s = fixed.scale()[k];
                        z = fixed.zero()[k];
                    }
                    float level = Quantizer.level(col[r], s, z, qmin, qmax);
                    float q = (level - z) * s;
                    out[r * cols + orig] = q;
                    codes[r * cols + orig] = (int) level - qmin;
                    float diff = col[r] - q;
                    loss += (double) diff * diff / ((double) d * d) / 2;
                    e[r] = diff / d;
                }
                // 6. the error of column j moves onto the block's later columns: w_k −= e·U_jk
                for (int k = j + 1; k < i2; k++) {
                    float hk = u[j * cols + k];
                    if (hk == 0) continue;
                    float[] target = wc[k];
                    for (int r = 0; r < rows; r++) target[r] -= e[r] * hk;
                }
            }
            // 7. lazy batch update of every later column: W[:, i2:] −= E·U[i1:i2, i2:] (column-major: Wcᵀ rows i2..)
            if (i2 < cols) {
                int b = i2 - i1, rest = cols - i2;
                float[] eFlat = new float[b * rows], uBlock = new float[b * rest];
                for (int k = 0; k < b; k++) {
                    System.arraycopy(err[k], 0, eFlat, k * rows, rows);
                    System.arraycopy(u, (i1 + k) * cols + i2, uBlock, k * rest, rest);
                }
                float[] upd = Tensor.wrap(uBlock, b, rest).t().matmul(Tensor.wrap(eFlat, b, rows)).toFloatArray(); // [rest, rows]
                for (int k = 0; k < rest; k++) {
                    float[] target = wc[i2 + k];
                    for (int r = 0, o2 = k * rows; r < rows; r++) target[r] -= upd[o2 + r];
                }
            }
        }
        QuantParams params = dynamicGroups
                ? new QuantParams(spec.bits(), spec.symmetric(), rows, cols, rows, groups, gScale, gZero, groupOf)
                : fixed;
        return new Result(out, grid != null ? null : codes, params, loss, perm);
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
