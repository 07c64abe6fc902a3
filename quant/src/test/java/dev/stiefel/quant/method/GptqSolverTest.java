package dev.stiefel.quant.method;

import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GptqSolverTest {

    /** Correlated inputs X [tokens, cols]: a random mixing of independent features, plus per-feature scales. */
    static float[] correlatedInputs(Random rnd, int tokens, int cols) {
        double[] mix = new double[cols * cols];
        for (int i = 0; i < mix.length; i++) mix[i] = rnd.nextGaussian();
        double[] scale = new double[cols];
        for (int c = 0; c < cols; c++) scale[c] = Math.exp(rnd.nextGaussian());
        float[] x = new float[tokens * cols];
        double[] z = new double[cols];
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < cols; c++) z[c] = rnd.nextGaussian();
            for (int c = 0; c < cols; c++) {
                double v = 0;
                for (int k = 0; k < cols; k++) v += mix[c * cols + k] * z[k];
                x[t * cols + c] = (float) (v * scale[c] / Math.sqrt(cols));
            }
        }
        return x;
    }

    static double[] hessian(float[] x, int tokens, int cols) {
        Hessian h = new Hessian(cols);
        h.add(Tensor.wrap(x, tokens, cols));
        return h.matrix();
    }

    static float[] weights(Random rnd, int rows, int cols) {
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() / Math.sqrt(cols));
        return w;
    }

    /** ||(W − Ŵ)Xᵀ||² in f64: the output error GPTQ minimises. */
    static double outputError(float[] w, float[] wq, float[] x, int rows, int cols, int tokens) {
        double err = 0;
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < tokens; t++) {
                double d = 0;
                for (int c = 0; c < cols; c++) d += ((double) w[r * cols + c] - wq[r * cols + c]) * x[t * cols + c];
                err += d * d;
            }
        return err;
    }

    /**
     * The paper's algorithm without the Cholesky reformulation or lazy batches, in f64 (Frantar et al. 2023,
     * eq. 2–3 with the fixed order of section 3.2): quantize column j, move its error onto the later columns with
     * the inverse Hessian of the columns that remain, then remove column j from that inverse by one step of Gaussian
     * elimination. Scales as the solver finds them (per row, static groups, or from the current values of a group
     * when its first column is reached).
     */
    static float[] referenceGptq(float[] w0, int rows, int cols, double[] h0, Quantizer quantizer, Gptq.Options o) {
        QuantSpec spec = quantizer.spec();
        double[] w = new double[w0.length];
        for (int i = 0; i < w.length; i++) w[i] = w0[i];
        double[] h = h0.clone();
        int[] perm = GptqSolver.order(h, cols, o.actOrder());
        double mean = 0;
        for (int i = 0; i < cols; i++) mean += h[i * cols + i];
        DMatrix hp = new DMatrix(cols, cols);
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) hp.set(i, j, h[perm[i] * cols + perm[j]] + (i == j ? o.dampRatio() * mean / cols : 0));
        DMatrix hinv = Linalg.inverse(hp);
        int g = spec.groupSize();
        boolean dynamicGroups = g > 0 && g < cols && !o.staticGroups();
        float[] wf = new float[w.length];
        for (int i = 0; i < w.length; i++) wf[i] = (float) w[i];
        QuantParams fixed = dynamicGroups ? null : quantizer.fit(wf, rows, cols, "w");
        float[] sc = new float[rows], zc = new float[rows];
        float[] out = new float[w.length];
        for (int j = 0; j < cols; j++) {
            int c = perm[j];
            if (dynamicGroups && j % g == 0) {
                int end = Math.min(j + g, cols);
                float[] tmp = new float[end - j];
                for (int r = 0; r < rows; r++) {
                    for (int k = j; k < end; k++) tmp[k - j] = (float) w[r * cols + perm[k]];
                    quantizer.fitGroup(tmp, 0, tmp.length, sc, zc, r, "w", tmp.length);
                }
            }
            double d = hinv.get(j, j);
            double[] e = new double[rows];
            for (int r = 0; r < rows; r++) {
                float s = dynamicGroups ? sc[r] : fixed.scale(r, c), z = dynamicGroups ? zc[r] : fixed.zero(r, c);
                float q = Quantizer.fakeQuant((float) w[r * cols + c], s, z, spec.qmin(), spec.qmax());
                out[r * cols + c] = q;
                e[r] = (w[r * cols + c] - q) / d;
            }
            for (int k = j + 1; k < cols; k++) {
                double hk = hinv.get(j, k);
                for (int r = 0; r < rows; r++) w[r * cols + perm[k]] -= e[r] * hk;
            }
            // H⁻¹ of the remaining columns: eliminate row and column j
            DMatrix next = hinv.copy();
            for (int a = j + 1; a < cols; a++)
                for (int b = j + 1; b < cols; b++) next.set(a, b, hinv.get(a, b) - hinv.get(a, j) * hinv.get(j, b) / d);
            hinv = next;
        }
        return out;
    }

    @Test void matchesTheUnblockedF64AlgorithmAcrossBlocksGroupsAndOrders() {
        Random rnd = new Random(11);
        int rows = 9, cols = 37, tokens = 200;
        float[] x = correlatedInputs(rnd, tokens, cols);
        double[] h = hessian(x, tokens, cols);
        float[] w = weights(rnd, rows, cols);
        List<QuantSpec> specs = List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, true, 0), QuantSpec.weights(4, false, 8),
                QuantSpec.weights(3, false, 5), QuantSpec.weights(8, false, 0).withGranularity(QuantSpec.Granularity.PER_TENSOR));
        for (QuantSpec spec : specs)
            for (boolean actOrder : new boolean[]{false, true})
                for (boolean staticGroups : new boolean[]{false, true}) {
                    Gptq.Options o = new Gptq.Options(6, 0.01, actOrder, staticGroups, true);
                    Quantizer q = new Quantizer(spec);
                    float[] got = GptqSolver.quantize(w, rows, cols, h, q, o, "w").weights();
                    float[] ref = referenceGptq(w, rows, cols, h, q, o);
                    int same = 0;
                    for (int i = 0; i < got.length; i++) if (Math.abs(got[i] - ref[i]) <= 1e-6 * Math.abs(ref[i]) + 1e-9) same++;
                    String what = spec + " act-order " + actOrder + " static " + staticGroups;
                    // f32 vs f64 can flip a value sitting on a rounding tie, and the flip moves later columns a little
                    assertThat(same).as(what + ": elements equal to the reference").isGreaterThanOrEqualTo((int) (0.97 * got.length));
                    double eGot = outputError(w, got, x, rows, cols, tokens), eRef = outputError(w, ref, x, rows, cols, tokens);
                    assertThat(eGot).as(what + ": output error").isCloseTo(eRef, org.assertj.core.data.Offset.offset(0.02 * eRef));
                }
    }

    @Test void blockSizeOnlyReordersTheArithmetic() {
        Random rnd = new Random(12);
        int rows = 13, cols = 300, tokens = 400;
        float[] x = correlatedInputs(rnd, tokens, cols);
        double[] h = hessian(x, tokens, cols);
        float[] w = weights(rnd, rows, cols);
        Quantizer q = new Quantizer(QuantSpec.weights(4, false, 0));
        float[] a = GptqSolver.quantize(w, rows, cols, h, q, Gptq.Options.defaults().withBlockSize(1), "w").weights();
        for (int block : new int[]{7, 128, 1000}) {
            float[] b = GptqSolver.quantize(w, rows, cols, h, q, Gptq.Options.defaults().withBlockSize(block), "w").weights();
            int same = 0;
            for (int i = 0; i < a.length; i++) if (a[i] == b[i]) same++;
            assertThat(same).as("block %d", block).isGreaterThanOrEqualTo((int) (0.98 * a.length));
        }
    }

    /** Measured: GPTQ/RTN output error 0.46–0.66 at 3–4 bits (0.24–0.26 with act-order), 0.85 at 2 bits g16. */
    @Test void beatsRoundToNearestOnCorrelatedInputs() {
        Random rnd = new Random(13);
        int rows = 24, cols = 96, tokens = 512;
        float[] x = correlatedInputs(rnd, tokens, cols);
        double[] h = hessian(x, tokens, cols);
        float[] w = weights(rnd, rows, cols);
        for (QuantSpec spec : List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, false, 0), QuantSpec.weights(3, true, 32),
                QuantSpec.weights(2, false, 16))) {
            for (boolean actOrder : new boolean[]{false, true}) {
                Quantizer q = new Quantizer(spec);
                float[] rtn = q.fakeQuant(Tensor.wrap(w, rows, cols), "w").toFloatArray();
                float[] gptq = GptqSolver.quantize(w, rows, cols, h, q, Gptq.Options.defaults().withActOrder(actOrder), "w").weights();
                double eRtn = outputError(w, rtn, x, rows, cols, tokens), eGptq = outputError(w, gptq, x, rows, cols, tokens);
                assertThat(eGptq).as("%s act-order %s: GPTQ %s vs RTN %s", spec, actOrder, eGptq, eRtn).isLessThan((spec.bits() == 2 ? 0.9 : 0.7) * eRtn);
            }
        }
    }

    @Test void withADiagonalHessianNoErrorMovesAndGptqIsRoundToNearest() {
        Random rnd = new Random(14);
        int rows = 11, cols = 45;
        double[] h = new double[cols * cols];
        for (int c = 0; c < cols; c++) h[c * cols + c] = Math.exp(rnd.nextGaussian());
        float[] w = weights(rnd, rows, cols);
        // H⁻¹ is diagonal, so its Cholesky factor is too: every U_jk with k > j is 0 and no column moves. RTN's scales
        // come from the same untouched values, so the results are equal bit for bit (per channel, static groups, or
        // consecutive groups found on the fly; act-order with groups formed in another order is not RTN).
        for (QuantSpec spec : List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, true, 0), QuantSpec.weights(2, false, 8)))
            for (Gptq.Options o : List.of(Gptq.Options.defaults(), Gptq.Options.defaults().withStaticGroups(true),
                    Gptq.Options.defaults().withActOrder(true).withStaticGroups(true), Gptq.Options.defaults().withBlockSize(4))) {
                Quantizer q = new Quantizer(spec);
                float[] rtn = q.fakeQuant(Tensor.wrap(w, rows, cols), "w").toFloatArray();
                float[] gptq = GptqSolver.quantize(w, rows, cols, h, q, o, "w").weights();
                assertThat(gptq).as("%s %s", spec, o).isEqualTo(rtn);
            }
    }

    /** The codes and parameters GPTQ returns give its weights back bit for bit: (c + qmin − z)·s per element. */
    @Test void codesAndParametersGiveTheWeightsBitForBit() {
        Random rnd = new Random(15);
        int rows = 7, cols = 33, tokens = 100;
        float[] x = correlatedInputs(rnd, tokens, cols);
        double[] h = hessian(x, tokens, cols);
        float[] w = weights(rnd, rows, cols);
        for (QuantSpec spec : List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, true, 8), QuantSpec.weights(6, false, 5)))
            for (Gptq.Options o : List.of(Gptq.Options.defaults(), Gptq.Options.defaults().withActOrder(true),
                    Gptq.Options.defaults().withActOrder(true).withStaticGroups(true))) {
                GptqSolver.Result r = GptqSolver.quantize(w, rows, cols, h, new Quantizer(spec), o, "w");
                QuantParams p = r.params();
                float[] unpacked = new float[rows * cols];
                for (int i = 0; i < unpacked.length; i++)
                    unpacked[i] = ((float) (r.codes()[i] + p.qmin()) - p.zero(i / cols, i % cols)) * p.scale(i / cols, i % cols);
                for (int i = 0; i < unpacked.length; i++)
                    assertThat(Float.floatToRawIntBits(unpacked[i])).as("%s %s element %d", spec, o, i).isEqualTo(Float.floatToRawIntBits(r.weights()[i]));
                if (spec.groupSize() > 0 && o.actOrder() && !o.staticGroups()) {
                    // groups formed in act-order: each holds g columns, not in index order
                    int[] count = new int[r.params().groups()];
                    for (int c : r.params().groupOf()) count[c]++;
                    for (int k = 0; k < count.length - 1; k++) assertThat(count[k]).isEqualTo(spec.groupSize());
                    assertThat(r.params().groupOf()).isNotEqualTo(QuantParams.consecutiveGroups(cols, spec.groupSize()));
                }
            }
    }

    /**
     * The factor is F_jk = R_jk / R_kk, F_jj = R_jj for H = R Rᵀ of the damped Hessian in the column order, bit for bit
     * what {@code Linalg.choleskyUL} gives (the solver factors the reversed matrix in place instead of copying it).
     */
    @Test void theFactorIsTheULCholeskyOfTheDampedHessianInTheColumnOrder() {
        Random rnd = new Random(23);
        for (int cols : new int[]{1, 7, 97, 130}) {
            float[] x = correlatedInputs(rnd, cols + 20, cols);
            if (cols > 5) for (int t = 0; t < cols + 20; t++) x[t * cols + 3] = 0;   // a dead input
            double[] h = hessian(x, cols + 20, cols);
            for (Gptq.Options o : List.of(Gptq.Options.defaults(), Gptq.Options.defaults().withActOrder(true))) {
                GptqSolver.HessianFactor factor = GptqSolver.factor(h, cols, o, "w");
                int[] p = factor.order();
                double[] hp = new double[cols * cols];
                double mean = 0;
                for (int i = 0; i < cols; i++) {
                    for (int j = 0; j < cols; j++) hp[i * cols + j] = 0.5 * (h[p[i] * cols + p[j]] + h[p[j] * cols + p[i]]);
                    if (hp[i * cols + i] == 0) hp[i * cols + i] = 1;
                    mean += hp[i * cols + i];
                }
                for (int i = 0; i < cols; i++) hp[i * cols + i] += o.dampRatio() * mean / cols;
                double[] r = dev.stiefel.tensor.linalg.Linalg.choleskyUL(new dev.stiefel.tensor.linalg.DMatrix(cols, cols, hp)).data;
                for (int j = 0; j < cols; j++)
                    for (int k = j; k < cols; k++) {
                        float want = (float) (k == j ? r[j * cols + j] : r[j * cols + k] / r[k * cols + k]);
                        assertThat(Float.floatToRawIntBits(factor.feedback()[j * cols + k])).as("%d columns %s: F(%d, %d)", cols, o, j, k)
                                .isEqualTo(Float.floatToRawIntBits(want));
                    }
                if (cols > 5) assertThat(factor.dead()[3]).isTrue();
            }
        }
    }

    @Test void deadInputsGetZeroWeightsAndAnIndefiniteHessianIsExplained() {
        Random rnd = new Random(16);
        int rows = 5, cols = 12, tokens = 40;
        float[] x = correlatedInputs(rnd, tokens, cols);
        for (int t = 0; t < tokens; t++) x[t * cols + 4] = 0;   // feature 4 is never active
        double[] h = hessian(x, tokens, cols);
        float[] w = weights(rnd, rows, cols);
        float[] q = GptqSolver.quantize(w, rows, cols, h, new Quantizer(QuantSpec.weights(4, false, 0)), Gptq.Options.defaults(), "w").weights();
        for (int r = 0; r < rows; r++) assertThat(q[r * cols + 4]).isZero();

        // fewer tokens than features and no dampening: H is singular
        float[] few = correlatedInputs(rnd, 3, cols);
        double[] singular = hessian(few, 3, cols);
        assertThatThrownBy(() -> GptqSolver.quantize(w, rows, cols, singular, new Quantizer(QuantSpec.weights(4, false, 0)),
                Gptq.Options.defaults().withDampRatio(0), "model.layers.2.mlp.up_proj"))
                .hasMessageContaining("model.layers.2.mlp.up_proj").hasMessageContaining("not positive definite").hasMessageContaining("dampening");
        float[] nan = w.clone();
        nan[7] = Float.NaN;
        assertThatThrownBy(() -> GptqSolver.quantize(nan, rows, cols, h, new Quantizer(QuantSpec.weights(4, false, 0)), Gptq.Options.defaults(), "wq"))
                .hasMessageContaining("wq").hasMessageContaining("NaN").hasMessageContaining("row 0, column 7");
    }

    @Test void hessianIsTwiceTheMeanOuterProduct() {
        Random rnd = new Random(17);
        Hessian h = null;
        for (int cols : new int[]{13, Hessian.PANEL + 45}) {   // one panel of the upper-triangle product, and two
            h = new Hessian(cols);
            float[][] parts = {correlatedInputs(rnd, 7, cols), correlatedInputs(rnd, 30, cols)};
            h.add(Tensor.wrap(parts[0], 7, cols));
            h.add(Tensor.wrap(parts[1], 30, cols));
            double[] m = h.matrix();
            for (int i = 0; i < cols; i++)
                for (int j = 0; j < cols; j++) {
                    double ref = 0, size = 0;
                    for (float[] p : parts)
                        for (int t = 0; t < p.length / cols; t++) {
                            ref += (double) p[t * cols + i] * p[t * cols + j];
                            size += Math.abs((double) p[t * cols + i] * p[t * cols + j]);
                        }
                    ref *= 2.0 / 37;
                    size *= 2.0 / 37;
                    assertThat(m[i * cols + j]).as("%d columns: h(%d, %d)", cols, i, j).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-6 * size + 1e-12));
                }
            assertThat(h.tokens()).isEqualTo(37);
        }
        Hessian h13 = h;

        // more tokens than the matrix product's depth block (768): it sums h_ij and h_ji in different orders
        int wide = 64;
        Tensor many = Tensor.randn(rnd, 800, wide);
        float[] raw = many.t().matmul(many).toFloatArray();
        int asymmetric = 0;
        for (int i = 0; i < wide; i++) for (int j = 0; j < i; j++) if (raw[i * wide + j] != raw[j * wide + i]) asymmetric++;
        assertThat(asymmetric).as("entries the raw product leaves asymmetric").isPositive();
        Hessian hw = new Hessian(wide);
        hw.add(many);
        double[] mw = hw.matrix();
        for (int i = 0; i < wide; i++) for (int j = 0; j < i; j++) assertThat(mw[i * wide + j]).isEqualTo(mw[j * wide + i]);
        // and the solver takes a Hessian whose triangles differ in their last bits
        double[] skewed = mw.clone();
        for (int i = 0; i < wide; i++) for (int j = 0; j < i; j++) skewed[i * wide + j] *= 1 + 1e-9;
        float[] w = weights(rnd, 3, wide);
        Quantizer q4 = new Quantizer(QuantSpec.weights(4, false, 0));
        assertThat(GptqSolver.quantize(w, 3, wide, skewed, q4, Gptq.Options.defaults(), "w").weights()).hasSize(3 * wide);
        assertThatThrownBy(() -> h13.add(Tensor.zeros(3, 4))).hasMessageContaining("[tokens, " + (Hessian.PANEL + 45) + "]");
        assertThatThrownBy(() -> new Hessian(3).matrix()).hasMessageContaining("no calibration tokens");
    }
}
