package dev.stiefel.quant;

import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantSpec.Clipping;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QuantizerTest {
    private static final int[][] SIZES = {{1, 1}, {7, 33}, {33, 7}, {3, 257}};

    /** Every combination the tests sweep: bits × symmetry × granularity/group × clipping. */
    static List<QuantSpec> allSpecs() {
        List<QuantSpec> out = new ArrayList<>();
        for (int bits = 2; bits <= 8; bits++)
            for (boolean sym : new boolean[]{false, true})
                for (int gran = 0; gran < 5; gran++)
                    for (Clipping clip : List.of(Clipping.NONE, Clipping.fixed(0.9), Clipping.search())) {
                        QuantSpec s = switch (gran) {
                            case 0 -> QuantSpec.weights(bits, sym, 0).withGranularity(Granularity.PER_TENSOR);
                            case 1 -> QuantSpec.weights(bits, sym, 0);
                            case 2 -> QuantSpec.weights(bits, sym, 5);       // ragged last group on every odd row length
                            case 3 -> QuantSpec.activations(bits, sym, 8);
                            default -> QuantSpec.kv(bits, sym, 0);            // per head: rows of the last axis
                        };
                        out.add(s.withClipping(clip));
                    }
        return out;
    }

    /** Rows of mixed scale: Gaussian, with a shifted mean (asymmetric), and an occasional outlier. */
    static float[] data(Random rnd, int rows, int cols) {
        float[] x = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            double shift = r % 3 == 1 ? 2.0 : 0, scale = Math.exp(rnd.nextGaussian());
            for (int c = 0; c < cols; c++) x[r * cols + c] = (float) ((rnd.nextGaussian() + shift) * scale);
            if (r % 4 == 3) x[r * cols + rnd.nextInt(cols)] *= 20;
        }
        return x;
    }

    // ------------------------------------------------------------ the naive f64 reference

    /** [lo, hi] of a group in f64, widened to contain 0. */
    private static double[] range(float[] x, int from, int to) {
        double lo = 0, hi = 0;
        for (int i = from; i < to; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
        return new double[]{lo, hi};
    }

    /** The reference's scale, zero and the quantity rounded into the zero (to spot near-ties), for range × ratio. */
    private static double[] refParams(QuantSpec s, double lo, double hi, double ratio) {
        lo *= ratio;
        hi *= ratio;
        if (s.symmetric()) {
            double m = Math.max(-lo, hi);
            return new double[]{m == 0 ? 1 : m / s.qmax(), 0, 0};
        }
        if (lo == 0 && hi == 0) { lo = -1; hi = 1; }
        double scale = (hi - lo) / s.qmax();
        return new double[]{scale, Math.rint(-lo / scale), -lo / scale};
    }

    /** f64 quantize–dequantize of x with scale and zero. */
    private static double refFq(double x, double scale, double zero, int qmin, int qmax) {
        double q = Math.min(Math.max(Math.rint(x / scale) + zero, qmin), qmax);
        return (q - zero) * scale;
    }

    private static double refLpError(float[] x, int from, int to, double scale, double zero, QuantSpec s, double p) {
        double e = 0;
        for (int i = from; i < to; i++) e += Math.pow(Math.abs(refFq(x[i], scale, zero, s.qmin(), s.qmax()) - x[i]), p);
        return e;
    }

    private static boolean nearHalf(double t) {
        double f = t - Math.floor(t);
        return Math.abs(f - 0.5) < 1e-4;
    }

    /**
     * Checks the quantizer against the f64 reference on one matrix: each group's scale and zero against the
     * reference's (the clip search by the error it reaches, to 0.1%: near-equal candidates may swap, and f32 rounding
     * of small errors moves their p-th powers), then every
     * element against the f64 quantization with those parameters: equal to f32 rounding, or one step apart
     * exactly where x/s sits on a rounding tie (within 1e-4).
     */
    private static void checkAgainstReference(QuantSpec spec, float[] x, int rows, int cols) {
        Quantizer q = new Quantizer(spec);
        QuantParams p = q.fit(x, rows, cols, "x");
        float[] y = Quantizer.apply(x, p);
        int g = spec.granularity() == Granularity.PER_TENSOR ? rows * cols : spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        int qmin = spec.qmin(), qmax = spec.qmax();
        // groups as contiguous runs of the row-major array
        List<int[]> runs = new ArrayList<>();
        if (spec.granularity() == Granularity.PER_TENSOR) runs.add(new int[]{0, rows * cols});
        else for (int r = 0; r < rows; r++) for (int c0 = 0; c0 < cols; c0 += g) runs.add(new int[]{r * cols + c0, r * cols + Math.min(cols, c0 + g)});
        for (int[] run : runs) {
            int r = run[0] / cols, c = run[0] % cols;
            double s = p.scale(r, c), z = p.zero(r, c);
            double[] lohi = range(x, run[0], run[1]);
            String what = spec + " group at element " + run[0];
            Clipping clip = spec.clipping();
            if (clip.kind() == Clipping.Kind.SEARCH) {
                double best = Double.POSITIVE_INFINITY;
                for (int i = 0; i < clip.candidates(); i++) {
                    double[] rp = refParams(spec, lohi[0], lohi[1], clip.ratio(i));
                    best = Math.min(best, refLpError(x, run[0], run[1], rp[0], rp[1], spec, clip.norm()));
                }
                double reached = refLpError(x, run[0], run[1], s, z, spec, clip.norm());
                double tolerance = 1e-3 * best + 1e-9 * Math.pow(s, clip.norm()) * (run[1] - run[0]);
                assertThat(reached).as(what + ": Lp error of the chosen clip").isCloseTo(best, org.assertj.core.data.Offset.offset(tolerance));
            } else {
                double[] rp = refParams(spec, lohi[0], lohi[1], clip.ratio(0));
                assertThat(s).as(what + ": scale").isCloseTo(rp[0], org.assertj.core.data.Offset.offset(1e-6 * rp[0]));
                if (!nearHalf(rp[2])) assertThat(z).as(what + ": zero").isEqualTo(rp[1]);
            }
            assertThat(z).as(what + ": zero on the grid").isBetween((double) Math.min(0, qmin), (double) qmax).isEqualTo(Math.rint(z));
            for (int i = run[0]; i < run[1]; i++) {
                double ref = refFq(x[i], s, z, qmin, qmax);
                double diff = Math.abs(y[i] - ref);
                // f32 arithmetic: x/s, the product (q − z)·s and its rounding are each within an ulp
                if (diff > 1e-6 * s + 4e-7 * Math.abs(ref)) {
                    assertThat(nearHalf(x[i] / s)).as(what + ": element " + i + " x=" + x[i] + " y=" + y[i] + " ref=" + ref).isTrue();
                    assertThat(diff).as(what + ": tie at element " + i).isCloseTo(s, org.assertj.core.data.Offset.offset(1e-6 * s));
                }
            }
        }
    }

    @Test void everyQuantizerMatchesTheF64ReferenceOnOddSizes() {
        Random rnd = new Random(1);
        for (int[] size : SIZES) {
            float[] x = data(rnd, size[0], size[1]);
            for (QuantSpec spec : allSpecs()) checkAgainstReference(spec, x, size[0], size[1]);
        }
    }

    /**
     * The tensor and tape paths give the same bits; the packed form (codes, scales, zero points) is tied to this
     * quantizer by PackedAgreementTest and export.PackedExportTest (GridFit), which is what the runtime reads.
     */
    @Test void fakeQuantAndStraightThroughAgreeBitForBit() {
        Random rnd = new Random(2);
        for (int[] size : SIZES) {
            float[] x = data(rnd, size[0], size[1]);
            Tensor t = Tensor.wrap(x.clone(), size[0], size[1]);
            for (QuantSpec spec : allSpecs()) {
                Quantizer q = new Quantizer(spec);
                float[] fake = q.fakeQuant(t, "x").toFloatArray();
                float[] ste = q.fakeQuant(Var.param(t), "x").value().toFloatArray();
                for (int i = 0; i < x.length; i++)
                    assertThat(Float.floatToRawIntBits(ste[i])).as("%s straight-through, element %d", spec, i)
                            .isEqualTo(Float.floatToRawIntBits(fake[i]));
            }
        }
    }

    // ------------------------------------------------------------ edge cases

    @Test void aRowOfConstantsIsReproducedExactly() {
        for (int bits = 2; bits <= 8; bits++)
            for (boolean sym : new boolean[]{false, true}) {
                float[] x = new float[3 * 9];
                java.util.Arrays.fill(x, 9, 18, 0.37f);
                java.util.Arrays.fill(x, 18, 27, -5f);
                QuantSpec spec = QuantSpec.weights(bits, sym, 0);
                float[] y = new Quantizer(spec).fakeQuant(Tensor.wrap(x, 3, 9), "constants").toFloatArray();
                for (int i = 0; i < 9; i++) assertThat(y[i]).as("%s zeros", spec).isEqualTo(0f);
                for (int i = 9; i < 27; i++)
                    assertThat((double) y[i]).as("%s constant %s", spec, x[i]).isCloseTo(x[i], org.assertj.core.data.Offset.offset(Math.ulp(x[i]) * 2.0));
            }
    }

    @Test void aHugeOutlierSetsTheScaleAndSmallValuesRoundToTheNearestStep() {
        Random rnd = new Random(3);
        float[] x = new float[41];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        x[17] = 1e6f;
        for (boolean sym : new boolean[]{false, true}) {
            QuantSpec spec = QuantSpec.weights(4, sym, 0);
            Quantizer q = new Quantizer(spec);
            QuantParams p = q.fit(x, 1, 41, "outlier");
            float s = p.scale()[0];
            double expected = sym ? 1e6 / 7 : (1e6 - Math.min(0, minOf(x))) / 15;
            assertThat((double) s).isCloseTo(expected, org.assertj.core.data.Offset.offset(expected * 1e-6));
            float[] y = Quantizer.apply(x, p);
            assertThat((double) y[17]).as("the outlier").isCloseTo(1e6, org.assertj.core.data.Offset.offset(s / 2.0));
            for (int i = 0; i < x.length; i++) assertThat((double) Math.abs(y[i] - x[i])).as("element %d", i).isLessThanOrEqualTo(s / 2.0 * (1 + 1e-6));
            // everything else lands on the one level nearest 0: the step is far larger than the values
            for (int i = 0; i < x.length; i++) if (i != 17) assertThat(Math.abs(y[i])).isLessThan(s);
        }
    }

    private static double minOf(float[] x) {
        double m = Double.POSITIVE_INFINITY;
        for (float v : x) m = Math.min(m, v);
        return m;
    }

    @Test void nanAndInfinityAreRefusedWithTheTensorAndPosition() {
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] x = new float[5 * 6];
            x[2 * 6 + 3] = bad;
            Tensor t = Tensor.wrap(x, 5, 6);
            for (QuantSpec spec : List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(4, true, 4).withClipping(Clipping.search()),
                    QuantSpec.weights(8, false, 0).withGranularity(Granularity.PER_TENSOR))) {
                Quantizer q = new Quantizer(spec);
                assertThatThrownBy(() -> q.fakeQuant(t, "model.layers.3.self_attn.q_proj.weight"))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("model.layers.3.self_attn.q_proj.weight").hasMessageContaining(String.valueOf(bad))
                        .hasMessageContaining("row 2, column 3");
                assertThatThrownBy(() -> q.fakeQuant(Var.param(t), "w")).hasMessageContaining("row 2, column 3");
            }
        }
    }

    @Test void clipSearchNeverLosesToTheFullRangeAndUsuallyClipsGaussianRows() {
        Random rnd = new Random(4);
        int rows = 16, cols = 128;
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        QuantSpec plain = QuantSpec.weights(3, false, 0), searched = plain.withClipping(Clipping.search());
        QuantParams a = new Quantizer(plain).fit(x, rows, cols, "x"), b = new Quantizer(searched).fit(x, rows, cols, "x");
        int clipped = 0;
        for (int r = 0; r < rows; r++) {
            double ea = refLpError(x, r * cols, (r + 1) * cols, a.scale()[r], a.zero()[r], plain, 2.4);
            double eb = refLpError(x, r * cols, (r + 1) * cols, b.scale()[r], b.zero()[r], plain, 2.4);
            assertThat(eb).isLessThanOrEqualTo(ea);
            if (b.scale()[r] < a.scale()[r]) clipped++;
        }
        assertThat(clipped).as("rows where a narrower range won").isGreaterThan(rows / 2);
    }

    @Test void straightThroughGradientPassesInsideTheGridAndStopsWhereClamped() {
        Random rnd = new Random(5);
        int rows = 6, cols = 19;
        Tensor x = Tensor.randn(rnd, rows, cols);
        Tensor g = Tensor.randn(rnd, rows, cols);
        QuantSpec spec = QuantSpec.activations(3, false, 0).withClipping(Clipping.fixed(0.5));
        Quantizer q = new Quantizer(spec);
        Var xv = Var.param(x);
        q.fakeQuant(xv, "x").mul(Var.of(g)).sum().backward();
        QuantParams p = q.fit(x.toFloatArray(), rows, cols, "x");
        float[] xs = x.toFloatArray(), gs = g.toFloatArray(), grad = xv.grad().toFloatArray();
        int clamped = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                float s = p.scale(r, c), z = p.zero(r, c);
                float level = (float) Math.rint(xs[i] / s) + z;
                boolean inside = level >= spec.qmin() && level <= spec.qmax();
                if (!inside) clamped++;
                // inside: d/dx of ((x/s) rounded straight through)·s is s·g/s, g to an ulp
                if (inside) assertThat(grad[i]).as("element (%d, %d)", r, c).isCloseTo(gs[i], org.assertj.core.data.Offset.offset(Math.ulp(gs[i]) * 2f));
                else assertThat(grad[i]).as("element (%d, %d)", r, c).isZero();
            }
        assertThat(clamped).as("a clip ratio of 0.5 clamps some elements").isPositive();
    }

    @Test void staticRangeParamsQuantizeAnyNumberOfTokens() {
        QuantSpec spec = QuantSpec.activations(8, false, 0).withGranularity(Granularity.PER_TENSOR).withDynamic(false);
        Quantizer q = new Quantizer(spec);
        QuantParams p = q.fitRange(-2, 6, 1, 1, "site");
        assertThat((double) p.scale()[0]).isCloseTo(8.0 / 255, org.assertj.core.data.Offset.offset(1e-7));
        assertThat(p.zero()[0]).isEqualTo(64f);
        float[] x = {-3, -2, 0, 1.5f, 6, 7};
        float[] y = Quantizer.fakeQuant(Tensor.wrap(x, 2, 3), p, "site").toFloatArray();
        for (int i = 0; i < x.length; i++) assertThat(y[i]).isEqualTo(Quantizer.fakeQuant(x[i], p.scale()[0], 64f, 0, 255));
        assertThat(y[0]).isEqualTo(y[1]);   // below the range: clamped to its bottom
        assertThat((double) y[5]).isCloseTo(6, org.assertj.core.data.Offset.offset(0.02));
        assertThatThrownBy(() -> new Quantizer(spec.withClipping(Clipping.search())).fitRange(-1, 1, 1, 1, "site"))
                .hasMessageContaining("clip search needs the values");
        assertThatThrownBy(() -> q.fitRange(Double.NaN, 1, 1, 1, "site")).hasMessageContaining("not finite");
    }
}
