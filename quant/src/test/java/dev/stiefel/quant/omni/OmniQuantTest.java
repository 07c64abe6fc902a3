package dev.stiefel.quant.omni;

import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.method.Rtn;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** OmniQuant end to end on small random models: it learns, it beats round-to-nearest where the paper says it should, it resumes. */
class OmniQuantTest {

    private static CalibrationData calibration(int n, int t, int vocab, long seed) { return RandomCalibration.of(n, t, vocab, seed); }

    /** ‖logits − logits_fp‖ / ‖logits_fp‖ on sequences never seen in calibration. */
    private static double logitError(LlamaWeights fp, QuantizedModel q, int vocab) {
        return LogitError.relative(new LlamaModel(fp), q.model(), RandomModels.sequences(new Random(99), 3, 40, vocab));
    }

    private static OmniQuant omni(int epochs) { return new OmniQuant(OmniQuant.Options.defaults().withEpochs(epochs)); }

    private static List<Report.BlockFigures> blocks(QuantizedModel q) { return q.report().blocks(); }

    // ------------------------------------------------------------ it learns

    /**
     * The block MSE after training is below its value at the initial parameters, for LWC alone at 3 bits and for LWC
     * with LET at W6A6 on a model with activation outliers. (On a random Gaussian model at 4 bits σ(4) ≈ 0.982 is
     * already about the best clipping there is, and the straight-through gradient has nothing to find.)
     */
    @Test void trainingLowersEveryBlocksMseAndReportsIt() {
        LlamaWeights fp = RandomModels.random(RandomModels.config(64, 96, 2, 4, 2, 53, Rope.Layout.HALF, false), 20);
        QuantizedModel q = omni(20).apply(fp, calibration(8, 32, 53, 11), QuantConfig.parse("W3A16 g32"), ProgressFactory.SILENT);
        assertLowered(q, 0.95, 20);
        LlamaWeights outliers = RandomModels.withOutliers(RandomModels.random(RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false), 10), 25f, new int[]{3, 17, 30});
        QuantizedModel w6a6 = omni(10).apply(outliers, calibration(8, 32, 53, 9), QuantConfig.parse("W6A6"), ProgressFactory.SILENT);
        assertLowered(w6a6, 0.97, 10);
        // the result is held as a packed model holds it: codes for 3 bits in groups of 32, f32 for 6 bits (no code width)
        for (Linear which : Linears.BLOCK) {
            assertThat(Linears.weight(q.weights(), 1, which).storage()).as("W3 g32 %s", which).isInstanceOf(dev.stiefel.tensor.PackedStorage.class);
            assertThat(Linears.weight(w6a6.weights(), 1, which).storage()).as("W6 %s", which).isInstanceOf(dev.stiefel.tensor.FloatStorage.class);
        }
        OmniQuant.Section settings = w6a6.report().section(OmniQuant.Section.class);
        assertThat(settings.lwc()).isTrue();
        assertThat(settings.let()).isTrue();
        assertThat(settings.epochs()).isEqualTo(10);
        assertThat(w6a6.report().resumed()).as("no work directory").isNull();
    }

    private static void assertLowered(QuantizedModel q, double factor, int epochs) {
        List<Report.BlockFigures> blocks = blocks(q);
        assertThat(blocks).hasSize(2);
        for (Report.BlockFigures b : blocks) {
            assertThat(b.mseAfter()).as("%s", b).isLessThan(factor * b.mseBefore());
            assertThat(b.epochLoss()).hasSize(epochs);
            assertThat(b.kind()).isNull();
            assertThat(b.seconds()).isPositive();
        }
    }

    /** LET migrates injected activation outliers into the weights: W4A4 logits much closer to full precision than RTN's. */
    @Test void beatsRoundToNearestAtW4A4OnAModelWithActivationOutliers() {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(c, 8), 25f, new int[]{3, 17, 30});
        QuantConfig w4a4 = QuantConfig.parse("W4A4");
        double rtn = logitError(fp, new Rtn().apply(fp, null, w4a4, ProgressFactory.SILENT), 53);
        double omni = logitError(fp, omni(5).apply(fp, calibration(6, 32, 53, 9), w4a4, ProgressFactory.SILENT), 53);
        assertThat(omni).as("omniquant %s vs rtn %s", omni, rtn).isLessThan(0.7 * rtn);
    }

    /** LWC at 2 bits: learned clipping beats the full-range grid of round-to-nearest, and beats its own starting point. */
    @Test void beatsRoundToNearestAtW2A16WithGroupsOf32() {
        LlamaConfig c = RandomModels.config(64, 96, 2, 4, 2, 53, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 10);
        QuantConfig w2 = QuantConfig.parse("W2A16 g32");
        CalibrationData calib = calibration(8, 32, 53, 11);
        double rtn = logitError(fp, new Rtn().apply(fp, null, w2, ProgressFactory.SILENT), 53);
        double untrained = logitError(fp, omni(0).apply(fp, calib, w2, ProgressFactory.SILENT), 53);
        QuantizedModel q = omni(20).apply(fp, calib, w2, ProgressFactory.SILENT);
        double omni = logitError(fp, q, 53);
        assertThat(omni).as("omniquant %s vs rtn %s", omni, rtn).isLessThan(0.95 * rtn);
        assertThat(omni).as("omniquant %s vs its initial clipping %s", omni, untrained).isLessThan(0.95 * untrained);
        OmniQuant.Section settings = q.report().section(OmniQuant.Section.class);
        assertThat(settings.let()).as("weight-only: LWC only, as the reference scripts").isFalse();
        assertThat(settings.augLoss()).as("2-bit weight-only: the reference scripts' aug_loss").isTrue();
    }

    // ------------------------------------------------------------ what it trains is what it ships

    @Test void theFoldedModelComputesWhatTheLastTrainingForwardComputed() {
        LlamaConfig c = RandomModels.config(32, 48, 1, 4, 2, 41, Rope.Layout.HALF, false).withRopeLayout(Rope.Layout.INTERLEAVED);
        LlamaWeights fp = RandomModels.random(c, 12);
        Random rnd = new Random(13);
        Let let = Let.of(c, uniform(rnd, c.dim()), uniform(rnd, c.dim()), uniform(rnd, c.kvDim()), uniform(rnd, c.kvHeads() * c.headDim() / 2));
        Map<Linear, WeightQuantizer> wq = new java.util.EnumMap<>(Linear.class);
        QuantSpec w4 = QuantSpec.weights(4, false, 16);
        for (Linear which : Linears.BLOCK) {
            Tensor t = Linears.weight(fp, 0, which);
            wq.put(which, new Lwc(w4, t.size(0), t.size(1)));
        }
        BlockHooks training = new BlockHooks(0, let, wq, null, null, null, null);
        LlamaWeights folded = RandomModels.withLayers(fp, List.of(training.fold(fp.layer(0))));
        Tensor x = Tensor.randn(new Random(14), 1, 20, c.dim());
        try (var off = Grad.off()) {
            Tensor trained = new LlamaModel(fp, training).block(0, Var.of(x), 0, null).value();
            Tensor shipped = new LlamaModel(folded).block(0, Var.of(x), 0, null).value();
            // the weights are bit-identical; only the RMSNorm gain (g/s folded vs ·g then /s) rounds differently
            assertThat(shipped.maxAbsDiff(trained) / trained.abs().max().item()).isLessThan(1e-5);
        }
        for (Linear which : Linears.BLOCK)
            try (var off = Grad.off()) {
                Tensor onTape = training.weight(0, which, Var.of(Linears.weight(fp, 0, which))).value();
                assertThat(Linears.weight(folded, 0, which).toFloatArray()).as("%s", which).isEqualTo(onTape.toFloatArray());
            }
    }

    /**
     * Recomputing each weight's quantization in backward (the tape of a 7B block's fake quantization is gigabytes) gives
     * the same gradients to LWC's and LET's parameters, bit for bit, and the same OmniQuant models, LWC alone and with LET.
     */
    @Test void recomputedWeightQuantizationGivesTheSameGradientsAndModels() {
        LlamaConfig c = RandomModels.config(32, 48, 2, 4, 2, 41, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 31);
        Random rnd = new Random(32);
        Map<Linear, WeightQuantizer> wq = new java.util.EnumMap<>(Linear.class);
        for (Linear which : Linears.BLOCK) {
            Tensor t = Linears.weight(fp, 0, which);
            wq.put(which, new Lwc(QuantSpec.weights(3, false, 16), t.size(0), t.size(1)));
        }
        Let let = Let.of(c, uniform(rnd, c.dim()), uniform(rnd, c.dim()), uniform(rnd, c.kvDim()), uniform(rnd, c.kvHeads() * c.headDim() / 2));
        Tensor x = Tensor.randn(new Random(33), 1, 9, c.dim());
        List<Tensor> grads = new java.util.ArrayList<>();
        for (boolean recompute : new boolean[]{false, true}) {
            BlockHooks hooks = new BlockHooks(0, let, wq, null, null, null, null).recomputingWeights(recompute);
            List<Var> params = new java.util.ArrayList<>(hooks.lwcParameters());
            params.addAll(hooks.letParameters());
            for (Var p : params) p.zeroGrad();
            try (var on = Grad.on()) {
                new LlamaModel(fp, hooks).block(0, Var.of(x), 0, null).square().mean().backward();
            }
            for (Var p : params) grads.add(p.grad().contiguous());
        }
        int half = grads.size() / 2;
        for (int i = 0; i < half; i++) assertThat(grads.get(half + i).toFloatArray()).as("parameter %d", i).isEqualTo(grads.get(i).toFloatArray());

        CalibrationData calib = calibration(3, 12, 41, 34);
        for (QuantConfig config : List.of(QuantConfig.parse("W3A16 g16"), QuantConfig.parse("W4A8"))) {
            List<List<Tensor>> models = new java.util.ArrayList<>();
            for (boolean forced : new boolean[]{false, true})
                models.add(dev.stiefel.quant.MemoryPolicy.rules().withCheckpointWeights(forced)
                        .call(() -> omni(2).apply(fp, calib, config, dev.stiefel.quant.ProgressFactory.SILENT).weights().tensors()));
            for (int i = 0; i < models.get(0).size(); i++)
                assertThat(models.get(1).get(i).toFloatArray()).as("%s tensor %d", config.shorthand(), i).isEqualTo(models.get(0).get(i).toFloatArray());
        }
    }

    private static float[] uniform(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = 0.5f + 1.5f * rnd.nextFloat();
        return f;
    }

    // ------------------------------------------------------------ resuming

    /** Interrupted after block 0 was saved, and again in the middle of block 2's training: the resumed runs end in the same weights. */
    @Test void resumedRunsEndInTheSameWeightsAsAnUninterruptedOne(@TempDir Path dir) {
        LlamaConfig c = RandomModels.config(16, 24, 3, 2, 1, 29, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 15);
        CalibrationData calib = calibration(3, 12, 29, 16);
        QuantConfig config = QuantConfig.parse("W4A4KV4");
        OmniQuant.Options o = OmniQuant.Options.defaults().withEpochs(2);
        QuantizedModel reference = new OmniQuant(o).apply(fp, calib, config, ProgressFactory.SILENT);

        class Interrupted extends RuntimeException {}
        OmniQuant onDisk = new OmniQuant(o.withWorkDir(dir));
        assertThatThrownBy(() -> onDisk.withListener(new OmniQuant.Listener() {
            @Override public void blockSaved(int layer) { if (layer == 0) throw new Interrupted(); }
        }).apply(fp, calib, config, ProgressFactory.SILENT)).isInstanceOf(Interrupted.class);
        assertThatThrownBy(() -> onDisk.withListener(new OmniQuant.Listener() {
            @Override public void step(int layer, int epoch, int sample) { if (layer == 2 && epoch == 1) throw new Interrupted(); }
        }).apply(fp, calib, config, ProgressFactory.SILENT)).isInstanceOf(Interrupted.class);
        List<Integer> trainedBlocks = new ArrayList<>();
        QuantizedModel resumed = onDisk.withListener(new OmniQuant.Listener() {
            @Override public void blockSaved(int layer) { trainedBlocks.add(layer); }
        }).apply(fp, calib, config, ProgressFactory.SILENT);

        assertThat(trainedBlocks).as("only the unfinished block is trained again").containsExactly(2);
        assertThat(resumed.report().resumed().afterBlocks()).isEqualTo(2);
        // the figures read back from the work directory are the ones the uninterrupted run reported (the times aside)
        List<Report.BlockFigures> want = new ArrayList<>();
        for (int l = 0; l < blocks(reference).size(); l++) want.add(blocks(reference).get(l).withSeconds(blocks(resumed).get(l).seconds()));
        assertThat(blocks(resumed)).isEqualTo(want);
        List<Tensor> a = reference.weights().tensors(), b = resumed.weights().tensors();
        assertThat(b).hasSameSizeAs(a);
        for (int i = 0; i < a.size(); i++) assertThat(b.get(i).toFloatArray()).as("tensor %d", i).isEqualTo(a.get(i).toFloatArray());
    }

    // ------------------------------------------------------------ settings and errors

    @Test void theAblationVariantsAreRegisteredWithTheirSwitches() {
        Methods.Options o = Methods.Options.defaults();
        QuantConfig w4a4 = QuantConfig.parse("W4A4"), w4 = QuantConfig.parse("W4A16");
        for (String name : List.of("omniquant", "omniquant-lwc", "omniquant-let", "omniquant-lwc-let")) {
            Method m = Methods.byName(name, o);
            assertThat(m.name()).isEqualTo(name);
            assertThat(m).isInstanceOf(OmniQuant.class);
        }
        OmniQuant.Settings auto4a4 = ((OmniQuant) Methods.byName("omniquant", o)).options().resolve(w4a4);
        OmniQuant.Settings auto4 = ((OmniQuant) Methods.byName("omniquant", o)).options().resolve(w4);
        assertThat(auto4a4).isEqualTo(new OmniQuant.Settings(20, true, true, false, false));
        assertThat(auto4).isEqualTo(new OmniQuant.Settings(20, true, false, false, false));
        assertThat(((OmniQuant) Methods.byName("omniquant", o)).options().resolve(QuantConfig.parse("W2A16 g128")).epochs()).isEqualTo(40);
        assertThat(((OmniQuant) Methods.byName("omniquant-let", o)).options().resolve(w4)).isEqualTo(new OmniQuant.Settings(20, false, true, false, false));
        assertThat(((OmniQuant) Methods.byName("omniquant-lwc", o)).options().resolve(w4a4)).isEqualTo(new OmniQuant.Settings(20, true, false, false, false));
        assertThat(((OmniQuant) Methods.byName("omniquant", o)).options().resolve(QuantConfig.parse("W4A4KV4")).quantizeQuery()).isTrue();
    }

    @Test void refusesMissingCalibrationStaticActivationsAndNothingToLearn() {
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 7, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 1);
        CalibrationData calib = calibration(1, 4, 7, 1);
        assertThatThrownBy(() -> omni(1).apply(fp, null, QuantConfig.parse("W4A16"), ProgressFactory.SILENT)).hasMessageContaining("calibration");
        QuantConfig staticActs = QuantConfig.parse("W8A8").withActivation(QuantSpec.activations(8, false, 0)
                .withGranularity(QuantSpec.Granularity.PER_TENSOR).withDynamic(false));
        assertThatThrownBy(() -> omni(1).apply(fp, calib, staticActs, ProgressFactory.SILENT)).hasMessageContaining("static");
        assertThatThrownBy(() -> new OmniQuant(OmniQuant.Options.defaults().withEpochs(1).withLwc(false)).apply(fp, calib, QuantConfig.parse("W4A16"), ProgressFactory.SILENT))
                .hasMessageContaining("nothing to learn");
    }
}
