package dev.stiefel.quant.method;

import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.MemoryPolicy;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OstQuantTest {
    private final Random rnd = new Random(23);
    private static final LlamaConfig C = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);

    private CalibrationData calibration(int n, int len) {
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < n; i++) s.add(RandomModels.tokens(rnd, len, C.vocabSize()));
        return new CalibrationData(s, "random tokens", 23);
    }

    @Test void learningLowersTheLossForEveryObjectiveAndBothOptimizers() {
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(C, 7), 10, 2, 3);
        CalibrationData calib = calibration(4, 24);
        QuantConfig w4a4 = QuantConfig.parse("W4A4KV4");
        for (OstQuant.Options o : List.of(OstQuant.Options.ostquant().withEpochs(5).withBatch(2).withInit(OstQuant.Init.HADAMARD),
                OstQuant.Options.ostquant().withEpochs(5).withBatch(2).withLoss(OstQuant.Loss.KL),
                OstQuant.Options.ostquant().withEpochs(5).withBatch(2).withLoss(OstQuant.Loss.MSE),
                OstQuant.Options.spinquant().withEpochs(5).withBatch(2))) {
            OstQuantView view = OstQuant.initialView(fp, w4a4, o);
            OstQuant.Learning l = OstQuant.learn(fp, view, calib, w4a4, o, ProgressFactory.SILENT);
            assertThat(l.steps()).isEqualTo(10);
            // measured on every calibration window without a tape, before and after (the same windows, deterministic)
            assertThat(l.lossAfter()).as("%s: %s", o.loss(), l).isLessThan(l.lossBefore());
            // learning keeps the rotations orthogonal and the view exact in full precision
            List<Tensor> ids = RandomModels.sequences(rnd, 1, 16, C.vocabSize());
            assertThat(LogitError.relative(new LlamaModel(fp), view.model(QuantConfig.FP, true), ids)).isLessThan(1e-4);
            assertThat(LogitError.relative(view.model(QuantConfig.FP, true), view.fuse().model(), ids)).isLessThan(1e-4);
        }
    }

    /**
     * Learning with each block recomputed in backward (what a model too large for the tape gets) learns the same
     * transforms up to the order gradient terms are summed in: the same losses and rotations to f32 round-off, for the
     * KL-Top objective (through the logits) and MSE (through the last hidden state), which both run the blocks.
     */
    @Test void checkpointedLearningLearnsTheSameTransforms() {
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(C, 8), 10, 2, 3);
        CalibrationData calib = calibration(4, 20);
        QuantConfig w4a4 = QuantConfig.parse("W4A4KV4");
        for (OstQuant.Options o : List.of(OstQuant.Options.ostquant().withEpochs(2).withBatch(2),
                OstQuant.Options.ostquant().withEpochs(2).withBatch(2).withLoss(OstQuant.Loss.MSE))) {
            List<OstQuant.Learning> runs = new ArrayList<>();
            List<float[]> rotations = new ArrayList<>();
            assertThat(OstQuant.checkpointBlocks(C, 2, 20)).as("a small model's tape fits").isFalse();
            assertThat(OstQuant.checkpointBlocks(dev.stiefel.llama.SyntheticWeights.preset("tinyllama-1.1b"), 4, 2048))
                    .as("TinyLlama's tape on 4 × 2048 tokens (~87 GB) does not").isTrue();
            for (boolean forced : new boolean[]{false, true})
                MemoryPolicy.rules().withCheckpointBlocks(forced).run(() -> {
                    assertThat(OstQuant.checkpointBlocks(C, 2, 20)).isEqualTo(forced);
                    OstQuantView view = OstQuant.initialView(fp, w4a4, o);
                    runs.add(OstQuant.learn(fp, view, calib, w4a4, o, ProgressFactory.SILENT));
                    rotations.add(view.rotations().getFirst().value().toFloatArray());
                });
            assertThat(runs.get(1).lossBefore()).as("%s: the same forward", o.loss()).isEqualTo(runs.get(0).lossBefore());
            assertThat(runs.get(1).lossAfter()).as("%s", o.loss()).isCloseTo(runs.get(0).lossAfter(), org.assertj.core.data.Percentage.withPercentage(1e-3));
            for (int i = 0; i < rotations.get(0).length; i++)
                assertThat(rotations.get(1)[i]).as("%s rotation element %d", o.loss(), i).isCloseTo(rotations.get(0)[i], org.assertj.core.data.Offset.offset(1e-5f));
        }
    }

    /** The KL-Top variant option reaches the objective: each variant's loss is Losses.klTop with that variant, and they differ. */
    @Test void theKlTopVariantReachesTheLoss() {
        LlamaConfig c = RandomModels.config(16, 32, 1, 2, 1, 41, Rope.Layout.HALF, false);
        LlamaModel teacher = new LlamaModel(RandomModels.random(c, 1)), student = new LlamaModel(RandomModels.random(c, 2));
        int[] ids = RandomModels.tokens(new Random(3), 2 * 9, 41);
        Tensor batch = Tensor.ofInts(ids, 2, 9);
        Map<dev.stiefel.autograd.Losses.TopKVariant, Double> got = new java.util.EnumMap<>(dev.stiefel.autograd.Losses.TopKVariant.class);
        try (var off = dev.stiefel.autograd.Grad.off()) {
            Tensor target = teacher.forward(batch, null).value();
            for (var v : dev.stiefel.autograd.Losses.TopKVariant.values()) {
                OstQuant.Options o = OstQuant.Options.ostquant().withTopK(5).withTopKVariant(v); // k below the vocabulary, or the two coincide
                double loss = OstQuant.loss(o, teacher, student, batch, ids).value().item();
                double want = dev.stiefel.autograd.Losses.klTop(student.forward(batch, null), target, o.topK(), v).value().item();
                assertThat(loss).as(v.name()).isEqualTo(want);
                got.put(v, loss);
            }
        }
        assertThat(got.get(dev.stiefel.autograd.Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER))
                .isNotEqualTo(got.get(dev.stiefel.autograd.Losses.TopKVariant.SOFTMAX_OVER_TOPK));
    }

    @Test void weightOnlyConfigsLearnWithFakeQuantizedWeights() {
        LlamaWeights fp = RandomModels.random(C, 11);
        CalibrationData calib = calibration(4, 24);
        QuantConfig w3 = QuantConfig.parse("W3A16 g16");
        // from the random Hadamard start at lr 1e-2 (measured 0.0414 → 0.0404). From WOMI the same learning raises the loss
        // (0.039 → 0.051): the scales' AdamW steps random-walk at 1e-2, and near WOMI the straight-through gradient is no
        // descent direction for the rounded weights; docs/methods/ostquant.md, "Investigations", has the measurements
        OstQuant.Options o = OstQuant.Options.ostquant().withInit(OstQuant.Init.HADAMARD).withTopK(1000).withEpochs(10).withBatch(2)
                .withRotationLr(1e-2).withScaleLr(1e-2).withGptq(false);
        OstQuantView view = OstQuant.initialView(fp, w3, o);
        // weights are what the loss sees here (nothing else is quantized), so the start is not the original model
        assertThat(OstQuant.evaluate(fp, view, calib, w3, o)).isGreaterThan(1e-3);
        OstQuant.Learning l = OstQuant.learn(fp, view, calib, w3, o, ProgressFactory.SILENT);
        assertThat(l.lossAfter()).as("%s", l).isLessThan(l.lossBefore());
    }

    @Test void endToEndItReportsLearningAndEquivalenceAndBeatsRtn() {
        LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(C, 8), 10, 2, 3);
        CalibrationData calib = calibration(4, 24);
        List<Tensor> heldOut = RandomModels.sequences(rnd, 2, 24, C.vocabSize());
        LlamaModel ref = new LlamaModel(fp);
        QuantConfig config = QuantConfig.parse("W4A4KV4");
        double rtn = LogitError.relative(ref, new Rtn().apply(fp, calib, config, ProgressFactory.SILENT).model(), heldOut);
        for (String name : List.of("ostquant", "spinquant-rtn")) {
            OstQuant m = (OstQuant) Methods.byName(name, Methods.Options.defaults());
            m = new OstQuant(name, m.options().withEpochs(3).withBatch(2));
            QuantizedModel q = m.apply(fp, calib, config, ProgressFactory.SILENT);
            double err = LogitError.relative(ref, q.model(), heldOut);
            assertThat(err).as("%s %s vs RTN %s", name, err, rtn).isLessThan(rtn);
            assertThat(q.report().method()).isEqualTo(name);
            OstQuant.Learned learned = q.report().section(OstQuant.Learned.class);
            assertThat(learned.steps()).isEqualTo(3 * 2); // 3 epochs of 4 windows in batches of 2
            assertThat(learned.lossFirstEpoch()).isPositive();
            assertThat(learned.lossLastEpoch()).isPositive();
            Report.Transformed t = q.report().section(Report.Transformed.class);
            assertThat(t.folded()).isNotEmpty();
            assertThat(t.onlineLeftOut()).isEmpty();
            assertThat(q.online()).isNotEmpty();
            assertThat(t.equivalenceBeforeQuantization().relative()).isLessThan(1e-4);
        }
        assertThatThrownBy(() -> OstQuant.ostquant().apply(fp, null, config, ProgressFactory.SILENT)).hasMessageContaining("calibration");
        assertThat(Methods.NAMES).contains("ostquant", "spinquant");
    }
}
