package dev.stiefel.quant.adaptive;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.stiefel.quant.adaptive.TransformKind.AFFINE;
import static dev.stiefel.quant.adaptive.TransformKind.NONE;
import static dev.stiefel.quant.adaptive.TransformKind.ROTATION;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class OutlierGuidedTest {

    /** Plain kurtosis the textbook way, on doubles, nothing shared with the code under test. */
    private static double naiveKurtosis(double[] x) {
        double mean = 0;
        for (double v : x) mean += v;
        mean /= x.length;
        double m2 = 0, m4 = 0;
        for (double v : x) { m2 += Math.pow(v - mean, 2); m4 += Math.pow(v - mean, 4); }
        m2 /= x.length;
        m4 /= x.length;
        return m4 / (m2 * m2);
    }

    /** 0.6745·(x − median)/MAD with the median by selection from a sorted copy. */
    private static double[] naiveZ(double[] x) {
        double med = naiveMedian(x);
        double[] dev = new double[x.length];
        for (int i = 0; i < x.length; i++) dev[i] = Math.abs(x[i] - med);
        double mad = naiveMedian(dev);
        double[] z = new double[x.length];
        for (int i = 0; i < x.length; i++) z[i] = 0.6745 * (x[i] - med) / mad;
        return z;
    }

    private static double naiveMedian(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
    }

    private static double[] widen(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** A skewed, heavy-tailed mixture so that every moment matters. */
    private static float[] mixture(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (rnd.nextDouble() < 0.1 ? 4 + 3 * rnd.nextGaussian() : rnd.nextGaussian() * 0.5 - 0.2);
        return f;
    }

    @Test void kurtosisMatchesTheNaiveReferenceOnOddSizesAndAcrossSlabs() {
        Random rnd = new Random(11);
        for (int[] shape : new int[][]{{2}, {7}, {33}, {257}, {7, 33}, {257, 3}, {1, 1001}}) {
            int n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            float[] f = mixture(rnd, n);
            double ref = naiveKurtosis(widen(f));
            Tensor t = Tensor.of(f, shape);
            assertThat(OutlierGuided.kurtosis(List.of(t), "t")).as(Arrays.toString(shape)).isCloseTo(ref, within(1e-10 * ref));
            // slabs of a few rows: the same numbers in another grouping
            assertThat(OutlierGuided.kurtosis(List.of(t), "t", 5)).isCloseTo(ref, within(1e-10 * ref));
            assertThat(OutlierGuided.kurtosis(widen(f))).isCloseTo(ref, within(1e-10 * ref));
        }
        // several tensors pooled = one array of all their elements; a bf16 tensor is widened first
        float[] a = mixture(rnd, 7 * 33), b = mixture(rnd, 257);
        Tensor bHalf = Tensor.of(b, 257).to(DType.BF16);
        float[] bRounded = bHalf.toFloatArray();
        double[] all = new double[a.length + b.length];
        for (int i = 0; i < a.length; i++) all[i] = a[i];
        for (int i = 0; i < b.length; i++) all[a.length + i] = bRounded[i];
        assertThat(OutlierGuided.kurtosis(List.of(Tensor.of(a, 7, 33), bHalf), "pool", 10)).isCloseTo(naiveKurtosis(all), within(1e-10 * naiveKurtosis(all)));
    }

    @Test void knownDistributions() {
        Random rnd = new Random(5);
        int n = 400_000;
        double[] gauss = new double[n], laplace = new double[n], uniform = new double[n];
        for (int i = 0; i < n; i++) {
            gauss[i] = rnd.nextGaussian();
            laplace[i] = -Math.log(1 - rnd.nextDouble()) * (rnd.nextBoolean() ? 1 : -1);
            uniform[i] = rnd.nextDouble() * 2 - 1;
        }
        // standard errors of the sample kurtosis at this n: ~0.008 (Gaussian), ~0.08 (Laplace), ~0.002 (uniform)
        assertThat(OutlierGuided.kurtosis(gauss)).isCloseTo(3.0, within(0.04));
        assertThat(OutlierGuided.kurtosis(laplace)).isCloseTo(6.0, within(0.4));
        assertThat(OutlierGuided.kurtosis(uniform)).isCloseTo(1.8, within(0.01));
    }

    @Test void kurtosisRefusesValuesWithoutSpreadOrNotFinite() {
        assertThatThrownBy(() -> OutlierGuided.kurtosis(new double[]{2, 2, 2})).hasMessageContaining("all 3 values are equal");
        assertThatThrownBy(() -> OutlierGuided.kurtosis(new double[]{1})).hasMessageContaining("1 value(s)");
        assertThatThrownBy(() -> OutlierGuided.kurtosis(List.of(Tensor.of(new float[]{1, 2, Float.NaN, 4}, 2, 2)), "block 3"))
                .hasMessageContaining("block 3").hasMessageContaining("NaN");
    }

    @Test void robustZMatchesTheNaiveReference() {
        Random rnd = new Random(2);
        for (int n : new int[]{2, 3, 7, 8, 33, 64, 257}) {
            double[] x = new double[n];
            for (int i = 0; i < n; i++) x[i] = 3 + rnd.nextGaussian() + (rnd.nextDouble() < 0.1 ? 20 : 0);
            OutlierGuided.RobustZ z = OutlierGuided.robustZ(x);
            assertThat(z.scale()).isEqualTo(OutlierGuided.Scale.MAD);
            assertThat(z.median()).isEqualTo(naiveMedian(x));
            double[] ref = naiveZ(x);
            for (int i = 0; i < n; i++) assertThat(z.z()[i]).as("n=%d i=%d", n, i).isCloseTo(ref[i], within(1e-12 * Math.max(1, Math.abs(ref[i]))));
        }
        // by hand: median 3, deviations {2, 1, 0, 1, 7} → MAD 1; z(10) = 0.6745·7
        OutlierGuided.RobustZ h = OutlierGuided.robustZ(new double[]{1, 2, 3, 4, 10});
        assertThat(h.mad()).isEqualTo(1.0);
        assertThat(h.z()).containsExactly(new double[]{-1.349, -0.6745, 0, 0.6745, 4.7215}, within(1e-12));
    }

    @Test void madOfZeroFallsBackToTheMeanAbsoluteDeviationThenToNoOutliers() {
        // more than half equal: MAD = 0; mean |x − 3| = 7/5 → z(10) = 7 / (1.253314 · 1.4)
        OutlierGuided.RobustZ z = OutlierGuided.robustZ(new double[]{3, 3, 10, 3, 3});
        assertThat(z.mad()).isZero();
        assertThat(z.scale()).isEqualTo(OutlierGuided.Scale.MEAN_ABSOLUTE_DEVIATION);
        assertThat(z.z()[2]).isCloseTo(7 / (1.253314 * 1.4), within(1e-12));
        assertThat(z.z()[0]).isZero();
        // all equal (or one block): nothing stands out, every z is 0, nothing gets the high kind
        OutlierGuided.RobustZ flat = OutlierGuided.robustZ(new double[]{4, 4, 4});
        assertThat(flat.scale()).isEqualTo(OutlierGuided.Scale.NONE);
        assertThat(flat.z()).containsOnly(0.0);
        assertThat(OutlierGuided.robustZ(new double[]{5}).z()).containsExactly(0.0);
        assertThatThrownBy(() -> OutlierGuided.robustZ(new double[]{1, Double.NaN})).hasMessageContaining("value 1 is NaN");
    }

    /** A random model whose blocks 2 and 6 have 0.5% of their weights blown up 15×: those two, and only those, stand out. */
    @Test void plantedHeavyTailedBlocksGetTheRotation() {
        LlamaConfig c = RandomModels.config(32, 64, 9, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = plant(RandomModels.random(c, 7), List.of(2, 6), 0.005, 15, 9);
        OutlierGuided.Analysis a = OutlierGuided.analyze(w);
        assertThat(a.scale()).isEqualTo(OutlierGuided.Scale.MAD);
        for (OutlierGuided.BlockStats b : a.blocks()) {
            if (b.block() == 2 || b.block() == 6) assertThat(b.kurtosis()).as("block %d", b.block()).isGreaterThan(20);
            else assertThat(b.kurtosis()).as("block %d", b.block()).isBetween(3.0, 4.5); // Gaussians of two variances pooled
            assertThat(b.weights()).isEqualTo(4L * 32 * 32 - 2L * 32 * 16 + 3L * 32 * 64);
            assertThat(b.perLinear()).containsOnlyKeys(Linear.Q, Linear.K, Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN);
        }
        assertThat(OutlierGuided.select(w)).containsExactly(AFFINE, AFFINE, ROTATION, AFFINE, AFFINE, AFFINE, ROTATION, AFFINE, AFFINE);
        assertThat(OutlierGuided.select(w, OutlierGuided.DEFAULT_THRESHOLD, AFFINE, ROTATION))
                .containsExactly(ROTATION, ROTATION, AFFINE, ROTATION, ROTATION, ROTATION, AFFINE, ROTATION, ROTATION);
        // a threshold above every z: nothing is an outlier
        double maxZ = a.blocks().stream().mapToDouble(OutlierGuided.BlockStats::z).max().orElseThrow();
        assertThat(a.kinds(maxZ)).containsOnly(AFFINE);
        // the statistics are the naive ones on the pooled weights
        assertThat(a.blocks().get(6).kurtosis()).isCloseTo(naiveKurtosis(pooled(w, 6)), within(1e-9 * a.blocks().get(6).kurtosis()));
        double[] kappa = a.blocks().stream().mapToDouble(OutlierGuided.BlockStats::kurtosis).toArray();
        double[] ref = naiveZ(kappa);
        for (int l = 0; l < kappa.length; l++) assertThat(a.blocks().get(l).z()).isCloseTo(ref[l], within(1e-9 * Math.max(1, Math.abs(ref[l]))));
    }

    /** adaptive-kurtosis runs FlatQuant on the plan the rule (with the command line's settings) gives for the model at hand. */
    @Test void adaptiveKurtosisPlansWithTheRuleItIsGiven() {
        LlamaConfig c = RandomModels.config(32, 64, 9, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = plant(RandomModels.random(c, 7), List.of(2, 6), 0.005, 15, 9);
        assertThat(Methods.NAMES).contains("adaptive-kurtosis");
        FlatQuant defaults = (FlatQuant) Methods.byName("adaptive-kurtosis", Methods.Options.defaults());
        assertThat(defaults.name()).isEqualTo("adaptive-kurtosis");
        assertThat(defaults.plan(w)).containsExactly(AFFINE, AFFINE, ROTATION, AFFINE, AFFINE, AFFINE, ROTATION, AFFINE, AFFINE);
        OutlierGuided.Rule swapped = new OutlierGuided.Rule(OutlierGuided.DEFAULT_THRESHOLD, AFFINE, NONE, OutlierGuided.Pooling.RAW);
        FlatQuant other = (FlatQuant) Methods.byName("adaptive-kurtosis", Methods.Options.defaults().withKurtosisRule(swapped));
        assertThat(other.plan(w)).containsExactly(NONE, NONE, AFFINE, NONE, NONE, NONE, AFFINE, NONE, NONE);
        assertThatThrownBy(() -> new OutlierGuided.Rule(Double.NaN, AFFINE, ROTATION, OutlierGuided.Pooling.RAW)).hasMessageContaining("finite");
        assertThatThrownBy(() -> OutlierGuided.Pooling.parse("mean")).hasMessageContaining("raw or standardized");
    }

    /** Standardised pooling: κ of the seven matrices each scaled to zero mean and unit variance, pooled, by brute force. */
    @Test void standardizedPoolingIsTheKurtosisOfStandardizedMatricesPooled() {
        LlamaConfig c = RandomModels.config(32, 64, 3, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = plant(RandomModels.random(c, 4), List.of(1), 0.01, 8, 3);
        OutlierGuided.Analysis raw = OutlierGuided.analyze(w), std = OutlierGuided.analyze(w, OutlierGuided.Pooling.STANDARDIZED);
        for (int l = 0; l < 3; l++) {
            LlamaWeights.Layer b = w.layer(l);
            List<Double> all = new ArrayList<>();
            for (Tensor t : List.of(b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown())) {
                double[] x = widen(t.toFloatArray());
                double mean = Arrays.stream(x).average().orElseThrow(), var = Arrays.stream(x).map(v -> (v - mean) * (v - mean)).average().orElseThrow();
                for (double v : x) all.add((v - mean) / Math.sqrt(var));
            }
            double ref = naiveKurtosis(all.stream().mapToDouble(Double::doubleValue).toArray());
            assertThat(std.blocks().get(l).kurtosis()).as("block %d", l).isCloseTo(ref, within(1e-9 * ref));
        }
        // Gaussian blocks of two variances: raw pooling sees the mixture (κ > 3.1), standardised pooling does not (≈ 3)
        assertThat(raw.blocks().get(0).kurtosis()).isGreaterThan(std.blocks().get(0).kurtosis() + 0.1);
        assertThat(std.blocks().get(0).kurtosis()).isCloseTo(3, within(0.15));
    }

    private static double[] pooled(LlamaWeights w, int l) {
        LlamaWeights.Layer b = w.layer(l);
        List<Double> all = new ArrayList<>();
        for (Tensor t : List.of(b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown())) for (float v : t.toFloatArray()) all.add((double) v);
        return all.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static LlamaWeights plant(LlamaWeights w, List<Integer> blocks, double fraction, float factor, long seed) {
        Random rnd = new Random(seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < w.config().layers(); l++) {
            LlamaWeights.Layer b = w.layer(l);
            if (blocks.contains(l))
                b = new LlamaWeights.Layer(b.attnNorm(), blow(b.wq(), rnd, fraction, factor), blow(b.wk(), rnd, fraction, factor),
                        blow(b.wv(), rnd, fraction, factor), blow(b.wo(), rnd, fraction, factor), b.ffnNorm(), blow(b.wGate(), rnd, fraction, factor),
                        blow(b.wUp(), rnd, fraction, factor), blow(b.wDown(), rnd, fraction, factor));
            layers.add(b);
        }
        return RandomModels.withLayers(w, layers);
    }

    private static Tensor blow(Tensor t, Random rnd, double fraction, float factor) {
        float[] f = t.toFloatArray();
        for (int i = 0; i < f.length; i++) if (rnd.nextDouble() < fraction) f[i] *= factor;
        return Tensor.of(f, t.shape());
    }
}
