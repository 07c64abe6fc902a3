package dev.stiefel.quant.method;

import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.ScalarCholesky;

/**
 * GptqSolver as it was before the blocked kernels and the LDL form: the paper's U = Cholesky(H⁻¹)ᵀ from the explicit
 * inverse, a single-threaded column loop, scalar f64 Cholesky loops. The fast solver rounds as it does up to f32
 * rounding ({@link GptqSolverEquivalenceTest}).
 */
final class LegacyGptqSolver {
    private LegacyGptqSolver() {}

    static GptqSolver.Result quantize(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, GptqSolver.ElementGrid grid, Gptq.Options o, String name) {
        if (grid != null) o = o.withActOrder(false);
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
        int[] perm = GptqSolver.order(h, cols, o.actOrder());

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
        double[] upper = ScalarCholesky.upper(ScalarCholesky.timesOwnTranspose(ScalarCholesky.inverseUpper(ScalarCholesky.upper(hp, cols), cols), cols), cols);
        float[] u = new float[cols * cols];
        for (int i = 0; i < u.length; i++) u[i] = (float) upper[i];

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
        return new GptqSolver.Result(out, grid != null ? null : codes, params, loss, perm);
    }

}
