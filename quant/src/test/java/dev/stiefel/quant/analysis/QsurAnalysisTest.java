package dev.stiefel.quant.analysis;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.analysis.QsurAnalysis.Case;
import dev.stiefel.quant.analysis.QsurAnalysis.Entry;
import dev.stiefel.quant.analysis.QsurAnalysis.Site;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.Qsur;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.linalg.DMatrix;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class QsurAnalysisTest {

    @Test void momentsMatchATwoPassReferenceOnOddSizes() {
        Random rnd = new Random(4);
        for (int d : new int[]{1, 7, 33}) {
            for (int n : new int[]{d + 2, 257}) {
                // a large common offset and unequal spreads: what makes one-pass sums lose digits without the shift
                double[][] rows = new double[n][d];
                float[] flat = new float[n * d];
                for (int r = 0; r < n; r++)
                    for (int j = 0; j < d; j++) {
                        flat[r * d + j] = (float) (100 + j + (1 + j % 3) * rnd.nextGaussian());
                        rows[r][j] = flat[r * d + j];
                    }
                QsurAnalysis.Moments m = new QsurAnalysis.Moments(d);
                int half = n / 2;
                m.add(flat, 0, d, half, "test");
                m.add(flat, half * d, d, n - half, "test");
                double[] mean = new double[d];
                for (double[] row : rows) for (int j = 0; j < d; j++) mean[j] += row[j] / n;
                DMatrix ref = new DMatrix(d, d);
                for (double[] row : rows)
                    for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) ref.data[i * d + j] += (row[i] - mean[i]) * (row[j] - mean[j]) / (n - 1);
                assertThat(m.mean()).containsExactly(mean, within(1e-9));
                assertThat(m.covariance().maxAbsDiff(ref)).as("d=%d n=%d", d, n).isLessThan(1e-9);
                DMatrix x = new DMatrix(n, d);
                for (int r = 0; r < n; r++) System.arraycopy(rows[r], 0, x.data, r * d, d);
                assertThat(m.qsur().log()).isCloseTo(Qsur.ofSamples(x).log(), within(1e-7 * Math.max(1, Math.abs(m.qsur().log()))));
            }
        }
        // no more vectors than features: no QSUR (the covariance is singular)
        QsurAnalysis.Moments few = new QsurAnalysis.Moments(4);
        few.add(new float[]{1, 2, 3, 4, 2, 3, 1, 5}, 0, 4, 2, "few");
        assertThat(few.qsur()).isNull();
    }

    /** A model with injected outlier channels: rotation and smoothing both raise QSUR where the outliers are. */
    @Test void rotationAndSmoothingRaiseItOnAModelWithOutlierChannels() {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.withOutliers(RandomModels.random(c, 3), 30, 2, 5);
        CalibrationData data = random(c, 6, 40, 9);
        QsurAnalysis.Result r = QsurAnalysis.run(w, data, QsurAnalysis.Options.defaults(), List.of(Case.NONE, Case.SMOOTH, Case.ROTATION), ProgressFactory.SILENT);
        assertThat(r.entries()).hasSize(2 * Site.values().length);
        for (Site s : List.of(Site.ATTN_IN, Site.MLP_IN, Site.MLP_OUT))
            assertThat(r.mean(Case.ROTATION, s)).as("%s: rotation vs none", s).isGreaterThan(1.5 * r.mean(Case.NONE, s));
        for (Site s : List.of(Site.ATTN_IN, Site.MLP_IN))
            assertThat(r.mean(Case.SMOOTH, s)).as("%s: smoothing vs none", s).isGreaterThan(1.5 * r.mean(Case.NONE, s));
        // smoothing touches only the norms' readers: down_proj's input is the same as without it
        for (Entry e : r.entries())
            if (e.site() == Site.MLP_OUT) assertThat(e.perDimension().get(Case.SMOOTH)).isCloseTo(e.perDimension().get(Case.NONE), within(1e-4));
        for (Entry e : r.entries()) {
            assertThat(e.groups()).isEqualTo(e.site() == Site.KEY || e.site() == Site.VALUE ? 2 : 1);
            for (Case k : r.cases()) assertThat(e.perDimension().get(k)).as(e.name() + " " + k).isBetween(0.0, 1.0);
        }
    }

    /** K's entry is the mean over KV heads of each head's ln(QSUR/max)/d, each head's QSUR from its own key vectors. */
    @Test void keysAreMeasuredPerHeadAndAveraged() {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 8);
        CalibrationData data = random(c, 3, 30, 1);
        QsurAnalysis.Result r = QsurAnalysis.run(w, data, QsurAnalysis.Options.defaults(), List.of(Case.NONE), ProgressFactory.SILENT);
        List<float[]> keys = new ArrayList<>();
        LlamaModel m = new LlamaModel(w).withHooks(new Hooks() {
            @Override public Var key(int l, Var k) {
                if (l == 1) keys.add(k.value().contiguous().toFloatArray());
                return k;
            }
        });
        try (var _ = Grad.off()) {
            for (int i = 0; i < data.size(); i++) m.forward(data.ids(i), null);
        }
        int heads = c.kvHeads(), d = c.headDim(), tokens = data.size() * data.seqLen();
        double sum = 0;
        for (int h = 0; h < heads; h++) {
            DMatrix x = new DMatrix(tokens, d);
            int row = 0;
            for (float[] k : keys)
                for (int t = 0; t < k.length / (heads * d); t++, row++)
                    for (int j = 0; j < d; j++) x.data[row * d + j] = k[(t * heads + h) * d + j];
            Qsur q = Qsur.ofSamples(x);
            sum += (q.log() - q.logMax()) / d;
        }
        Entry key = r.entries().stream().filter(e -> e.layer() == 1 && e.site() == Site.KEY).findFirst().orElseThrow();
        assertThat(key.dimensions()).isEqualTo(d);
        assertThat(key.perDimension().get(Case.NONE)).isCloseTo(Math.exp(sum / heads), within(1e-9));
    }

    @Test void ostQuantCaseRunsWithoutLearningSteps() {
        LlamaConfig c = RandomModels.config(32, 64, 1, 4, 2, 50, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 2);
        QsurAnalysis.Options o = new QsurAnalysis.Options(0.5, 0, dev.stiefel.quant.method.OstQuant.Options.ostquant().withEpochs(0),
                dev.stiefel.quant.QuantConfig.parse("W4A4KV4"));
        QsurAnalysis.Result r = QsurAnalysis.run(w, random(c, 3, 40, 2), o, List.of(Case.OSTQUANT), ProgressFactory.SILENT);
        assertThat(r.learning().steps()).isZero();
        for (Entry e : r.entries()) assertThat(e.perDimension().get(Case.OSTQUANT)).as(e.name()).isBetween(0.0, 1.0);
    }

    @Test void twoDimensionalIllustration() {
        List<QsurIllustration.Panel> p = QsurIllustration.panels(0, 3000);
        double original = Math.exp(p.get(0).qsur().log()), smooth = Math.exp(p.get(1).qsur().log()),
                rotated = Math.exp(p.get(2).qsur().log()), ost = Math.exp(p.get(3).qsur().log());
        // a cloud long along one feature: each transform uses more of the square, rotation + scaling nearly all of π/4
        assertThat(smooth).isGreaterThan(original);
        assertThat(rotated).isGreaterThan(original);
        assertThat(ost).isGreaterThan(Math.max(smooth, rotated)).isGreaterThan(0.85 * Math.PI / 4).isLessThanOrEqualTo(Math.PI / 4);
        // whitened: unit covariance
        assertThat(p.get(3).cov().maxAbsDiff(DMatrix.identity(2))).isLessThan(1e-9);
        // the drawn ellipse is the 99% contour: (x − μ)ᵀΣ⁻¹(x − μ) = c² at every point
        for (QsurIllustration.Panel panel : p) {
            double[][] e = QsurIllustration.ellipse(panel, 50);
            DMatrix s = panel.cov();
            double det = s.data[0] * s.data[3] - s.data[1] * s.data[2];
            for (int i = 0; i < e[0].length; i++) {
                double a = e[0][i] - panel.mean()[0], b = e[1][i] - panel.mean()[1];
                double q = (s.data[3] * a * a - 2 * s.data[1] * a * b + s.data[0] * b * b) / det;
                assertThat(q).isCloseTo(Qsur.chiSquare99(2), within(1e-9));
            }
        }
        assertThat(QsurIllustration.render(p, 3).getWidth()).isEqualTo(840);
    }

    static CalibrationData random(LlamaConfig c, int n, int t, long seed) {
        Random rnd = new Random(seed);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] ids = new int[t];
            for (int j = 0; j < t; j++) ids[j] = rnd.nextInt(c.vocabSize());
            s.add(ids);
        }
        return new CalibrationData(s, "random tokens", seed);
    }
}
