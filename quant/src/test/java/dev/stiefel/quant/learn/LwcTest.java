package dev.stiefel.quant.learn;

import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.Ste;
import dev.stiefel.autograd.GradCheck;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Learnable weight clipping against an f64 implementation of OmniQuant's eq. 2 written here from the paper and the
 * reference's {@code UniformAffineQuantizer}: values, the scale/zero table it hands to the quant core, and gradients
 * of W, γ and β by finite differences.
 */
class LwcTest {

    /** The f64 reference: parameters of group j of row r sit at {@link #paramIndex}. */
    private record Ref(int rows, int cols, int g, int bits, boolean sym) {
        int full() { return cols / g; }

        int groups() { return (cols + g - 1) / g; }

        /** Index in the flat parameter list: whole groups row-major ([rows × full]), then the narrower last group [rows]. */
        int paramIndex(int r, int j) { return j < full() ? r * full() + j : rows * full() + r; }

        int qmin() { return sym ? -(1 << (bits - 1)) : 0; }

        int qmax() { return sym ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }

        /** h and z of group j of row r for the given W, γ, β (flat). */
        double[] stepZero(double[] w, double[] gamma, double[] beta, int r, int j) {
            double mx = Double.NEGATIVE_INFINITY, mn = Double.POSITIVE_INFINITY;
            for (int c = j * g; c < Math.min(cols, (j + 1) * g); c++) {
                mx = Math.max(mx, w[r * cols + c]);
                mn = Math.min(mn, w[r * cols + c]);
            }
            int k = paramIndex(r, j);
            double xmax = sigmoid(gamma[k]) * mx, xmin = sigmoid(beta[k]) * mn;
            if (sym) return new double[]{Math.min(Math.max(Math.max(xmax, -xmin) / qmax(), 1e-5), 1e4), 0};
            double h = Math.min(Math.max((xmax - xmin) / qmax(), 1e-5), 1e4);
            return new double[]{h, Math.rint(-xmin / h)};
        }

        double[] quantize(double[] w, double[] gamma, double[] beta) {
            double[] y = new double[w.length];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < groups(); j++) {
                    double[] hz = stepZero(w, gamma, beta, r, j);
                    for (int c = j * g; c < Math.min(cols, (j + 1) * g); c++) {
                        double q = Math.min(Math.max(Math.rint(w[r * cols + c] / hz[0]) + hz[1], qmin()), qmax());
                        y[r * cols + c] = (q - hz[1]) * hz[0];
                    }
                }
            return y;
        }
    }

    private static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    private static QuantSpec spec(int bits, boolean sym, int g) { return QuantSpec.weights(bits, sym, g); }

    private static double[] doubles(Tensor t) {
        float[] f = t.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Random γ, β around 4 (σ between 0.88 and 0.998), in the Lwc's parameter layout. */
    private static List<Tensor> params(Random rnd, Lwc lwc) {
        List<Tensor> out = new ArrayList<>();
        for (Var p : lwc.parameters()) out.add(Tensor.uniform(rnd, 2f, 6f, p.shape()));
        return out;
    }

    private static double[] flat(List<Tensor> params, int which) {
        List<Double> v = new ArrayList<>();
        for (int i = which; i < params.size(); i += 2) for (float f : params.get(i).toFloatArray()) v.add((double) f);
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @ParameterizedTest(name = "int{0} sym={1} g={2}")
    @CsvSource({"4,false,0", "3,false,8", "2,false,11", "4,true,8", "3,true,0", "8,false,5", "4,false,40"})
    void quantizesOntoTheClippedGridOfTheF64Reference(int bits, boolean sym, int g) {
        int rows = 7, cols = 33;
        Random rnd = new Random(bits * 100 + g);
        Tensor w = Tensor.randn(rnd, rows, cols);
        Lwc lwc = new Lwc(spec(bits, sym, g), rows, cols);
        List<Tensor> p = params(rnd, lwc);
        List<Var> vars = p.stream().map(Var::param).toList();
        Lwc given = new Lwc(spec(bits, sym, g), rows, cols, vars);
        float[] got = given.fold(w).toFloatArray();
        Ref ref = new Ref(rows, cols, g == 0 ? cols : Math.min(g, cols), bits, sym);
        double[] wd = doubles(w), gamma = flat(p, 0), beta = flat(p, 1), want = ref.quantize(wd, gamma, beta);
        int compared = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                double[] hz = ref.stepZero(wd, gamma, beta, r, c / ref.g());
                double u = wd[r * cols + c] / hz[0];
                // a rounding tie f32 may break either way; a one-element group (the tail of 33 = 4·8 + 1) has a tiny step,
                // and x/h + z large, so f32 keeps fewer digits of it: hence the tolerance relative to the value
                if (Math.abs(Math.abs(u - Math.floor(u)) - 0.5) < 1e-4) continue;
                compared++;
                assertThat((double) got[r * cols + c]).as("row %d col %d", r, c).isCloseTo(want[r * cols + c], org.assertj.core.data.Offset.offset(1e-5 * hz[0] * ref.qmax() + 2e-5 * Math.abs(want[r * cols + c])));
            }
        assertThat(compared).isGreaterThan(rows * cols * 98 / 100);
        assertThat(given.groups()).isEqualTo(ref.groups());
    }

    @Test void startsAtSigmoidFourOfTheRangeAsTheReference() {
        Lwc lwc = new Lwc(spec(4, false, 8), 5, 19);
        assertThat(lwc.groups()).isEqualTo(3);
        for (int r = 0; r < 5; r++)
            for (int j = 0; j < 3; j++) {
                assertThat(lwc.gamma(r, j)).isEqualTo(4f);
                assertThat(lwc.beta(r, j)).isEqualTo(4f);
            }
        assertThat(sigmoid(Lwc.INIT)).isCloseTo(0.982, org.assertj.core.data.Offset.offset(1e-3));
    }

    /** The learned grid hands over to the quant core: Quantizer.apply and the packed form reproduce the fold bit for bit. */
    @ParameterizedTest(name = "int{0} sym={1} g={2}")
    @CsvSource({"4,false,0", "3,false,8", "2,false,7", "4,true,8", "3,true,0"})
    void itsScaleTableReproducesTheFoldBitForBit(int bits, boolean sym, int g) {
        int rows = 9, cols = 37;
        Random rnd = new Random(31 + bits);
        Tensor w = Tensor.randn(rnd, rows, cols);
        Lwc base = new Lwc(spec(bits, sym, g), rows, cols);
        Lwc lwc = new Lwc(spec(bits, sym, g), rows, cols, params(rnd, base).stream().map(Var::param).toList());
        float[] folded = lwc.fold(w).toFloatArray();
        QuantParams p = lwc.params(w);
        assertThat(Quantizer.apply(w.toFloatArray(), p)).isEqualTo(folded);
    }

    /**
     * dŴ/dW, dŴ/dγ, dŴ/dβ against central differences of the f64 reference with the rounding offsets, the zero
     * points and the clamp decisions frozen at the base point: the function whose gradient the straight-through
     * estimator computes. Per channel, ragged groups, symmetric.
     */
    @ParameterizedTest(name = "int{0} sym={1} g={2}")
    @CsvSource({"4,false,0", "3,false,8", "3,true,5", "2,false,4"})
    void gradientsOfWeightGammaAndBetaAgainstTheFrozenF64Reference(int bits, boolean sym, int g) {
        int rows = 3, cols = 11;
        Random rnd = new Random(7 * bits + g);
        Tensor w = Tensor.randn(rnd, rows, cols);
        Lwc base = new Lwc(spec(bits, sym, g), rows, cols);
        List<Tensor> p = params(rnd, base);
        Ref ref = new Ref(rows, cols, g == 0 ? cols : g, bits, sym);
        // the base point's frozen quantities, in f64
        double[] w0 = doubles(w), gamma0 = flat(p, 0), beta0 = flat(p, 1);
        double[] offset = new double[w0.length], zero = new double[w0.length];
        boolean[] inside = new boolean[w0.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                double[] hz = ref.stepZero(w0, gamma0, beta0, r, c / ref.g());
                double u = w0[r * cols + c] / hz[0], q = Math.rint(u) + hz[1];
                offset[r * cols + c] = Math.rint(u) - u;
                zero[r * cols + c] = hz[1];
                inside[r * cols + c] = q >= ref.qmin() && q <= ref.qmax();
            }
        Tensor[] inputs = new Tensor[1 + p.size()];
        inputs[0] = w;
        for (int i = 0; i < p.size(); i++) inputs[1 + i] = p.get(i);
        GradCheck.Result result = GradCheck.check(v -> {
            List<Var> params = new ArrayList<>(List.of(v).subList(1, v.length));
            return new Lwc(spec(bits, sym, g), rows, cols, params).quantize(v[0], Ste.STRAIGHT_THROUGH);
        }, x -> {
            double[] wx = x[0];
            List<Tensor> shapes = p;
            double[] gamma = regroup(x, shapes, 0), beta = regroup(x, shapes, 1);
            double[] y = new double[wx.length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    int i = r * cols + c;
                    double h = ref.stepZero(wx, gamma, beta, r, c / ref.g())[0];
                    double q = inside[i] ? wx[i] / h + offset[i] + zero[i] : (Math.rint(w0[i] / ref.stepZero(w0, gamma0, beta0, r, c / ref.g())[0]) + zero[i] < ref.qmin() ? ref.qmin() : ref.qmax());
                    y[i] = (q - zero[i]) * h;
                }
            return y;
        }, inputs);
        assertThat(result.passed(GradCheck.REFERENCE_TOLERANCE)).as("%s", result).isTrue();
        // σ'(γ) is small near γ = 4, and a symmetric group's β matters only in rows where its side is the larger
        if (!sym) assertThat(result.smallestGradient()).as("every input has a gradient; %s", result).isGreaterThan(1e-6);
    }

    /** γ then β values of every segment from the checker's flat inputs (1 = W), in the reference's order. */
    private static double[] regroup(double[][] x, List<Tensor> shapes, int which) {
        List<Double> v = new ArrayList<>();
        for (int i = which; i < shapes.size(); i += 2) for (double d : x[1 + i]) v.add(d);
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @Test void refusesPerTensorSpecsAndMismatchedWeights() {
        assertThatThrownBy(() -> new Lwc(QuantSpec.weights(4, false, 0).withGranularity(QuantSpec.Granularity.PER_TENSOR), 3, 4))
                .hasMessageContaining("per tensor");
        Lwc lwc = new Lwc(spec(4, false, 0), 3, 4);
        assertThatThrownBy(() -> lwc.fold(Tensor.zeros(4, 3))).hasMessageContaining("3×4");
    }
}
