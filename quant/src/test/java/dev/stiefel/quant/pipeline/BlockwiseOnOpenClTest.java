package dev.stiefel.quant.pipeline;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.opencl.Transfers;
import dev.stiefel.quant.OnOpenCl;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.quant.omni.OmniQuant;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The block-wise methods (OmniQuant's LWC + LET, FlatQuant, the adaptive search) learning on the OpenCL device: every block's losses are
 * the CPU's up to f32 rounding order, and the block being trained has its weights on the device for the whole of its
 * training (uploaded once, not with every step).
 */
class BlockwiseOnOpenClTest extends OnOpenCl {
    static final LlamaWeights FP = RandomModels.withOutliers(RandomModels.random(RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false), 10),
            25f, new int[]{3, 17, 30});
    static final CalibrationData CALIBRATION = RandomCalibration.of(4, 24, 53, 9);

    record Run(QuantizedModel model, Transfers moved) {}

    Run run(Supplier<QuantizedModel> method) {
        Transfers start = cl.transfers();
        QuantizedModel q = method.get();
        return new Run(q, cl.transfers().minus(start));
    }

    /** Runs method on the CPU and on the device, asserts the same block figures, and returns them: CPU's, then device's. */
    List<List<Report.BlockFigures>> assertSameLearning(String name, Supplier<QuantizedModel> method) {
        Backends.use(CpuBackend.INSTANCE);
        QuantizedModel cpu = method.get();
        Backends.use(cl);
        Run gpu = run(method);
        List<Report.BlockFigures> c = cpu.report().blocks(), g = gpu.model().report().blocks();
        assertThat(g).hasSameSizeAs(c);
        for (int b = 0; b < c.size(); b++) {
            // the report keeps 6 significant digits; f32 summation order moves a loss far less than that here
            assertThat(relative(g.get(b).mseBefore(), c.get(b).mseBefore())).as("%s block %d before: cpu %s, opencl %s", name, b, c.get(b), g.get(b)).isLessThan(1e-4);
            assertThat(relative(g.get(b).mseAfter(), c.get(b).mseAfter())).as("%s block %d after: cpu %s, opencl %s", name, b, c.get(b), g.get(b)).isLessThan(1e-4);
            List<Double> ce = c.get(b).epochLoss(), ge = g.get(b).epochLoss();
            assertThat(ge).hasSameSizeAs(ce);
            for (int e = 0; e < ce.size(); e++) assertThat(relative(ge.get(e), ce.get(e))).as("%s block %d epoch %d", name, b, e).isLessThan(1e-4);
        }
        assertThat(gpu.moved().uploads()).as("%s computed on the device", name).isPositive();
        return List.of(c, g);
    }

    static double relative(double a, double b) { return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12); }

    @Test void omniQuantLearnsOnTheDeviceAsOnTheCpu() {
        int epochs = 4;
        assertSameLearning("omniquant", () -> new OmniQuant(OmniQuant.Options.defaults().withEpochs(epochs))
                .apply(FP, CALIBRATION, QuantConfig.parse("W4A4"), ProgressFactory.SILENT));
    }

    @Test void flatQuantLearnsOnTheDeviceAsOnTheCpu() {
        int epochs = 2;
        assertSameLearning("flatquant", () -> FlatQuant.flatquant(FlatQuant.Options.defaults().withEpochs(epochs).withBatch(1))
                .apply(FP, CALIBRATION, QuantConfig.parse("W4A4KV4"), ProgressFactory.SILENT));
    }

    /**
     * The adaptive search on the device: each block's mixture of candidate transforms learns as on the CPU (its loss, its
     * kind logits and so the kind it picks, the candidates' errors), and the block's figures are the CPU's. One search
     * epoch and no training of the picked kind (FlatQuant's, tested above): a square rotation's Cayley step is matrix
     * products on the device and an f64 solve on the CPU below 256 columns, and from there on the 4-bit objective
     * amplifies that f32-level difference (measured: after two search epochs and one of training, a block's final
     * error differs by up to 5% between the CPU's two forms alone; docs/BENCHMARKS.md, session 15).
     */
    @Test void theAdaptiveSearchLearnsOnTheDeviceAsOnTheCpu() {
        Supplier<QuantizedModel> search = () -> FlatQuant.search(FlatQuant.Options.defaults().withEpochs(0).withBatch(1)
                .withSearch(1, 1.0, 0.1, false, 1e-2)).apply(FP, CALIBRATION, QuantConfig.parse("W4A4KV4"), ProgressFactory.SILENT);
        List<List<Report.BlockFigures>> figures = assertSameLearning("adaptive-search", search);
        List<Report.BlockFigures> c = figures.get(0), g = figures.get(1);
        for (int b = 0; b < c.size(); b++) {
            Report.KindSearch cs = c.get(b).search(), gs = g.get(b).search();
            assertThat(g.get(b).kind()).as("block %d's kind", b).isEqualTo(c.get(b).kind());
            assertThat(relative(gs.epochLoss().getFirst(), cs.epochLoss().getFirst())).as("block %d search loss", b).isLessThan(1e-4);
            for (String kind : cs.logits().keySet()) {
                assertThat(gs.logits().get(kind)).as("block %d logit of %s", b, kind).isCloseTo(cs.logits().get(kind), org.assertj.core.data.Offset.offset(1e-6));
                assertThat(relative(gs.candidateMse().get(kind), cs.candidateMse().get(kind))).as("block %d error of %s", b, kind).isLessThan(1e-2);
            }
        }
    }

    @Test void aBlockHasItsWeightsOnTheDeviceWhileTrainedAndRun() {
        List<String> seen = new java.util.ArrayList<>();
        Hooks recording = new Hooks() {
            @Override public Var weight(int layer, Hooks.Linear which, Var w) {
                seen.add(layer + " " + which + " " + (w.value().isOnDevice() ? "device" : "heap"));
                return w;
            }
        };
        BlockwiseCalibration.Recipe recipe = (layer, maxima) -> new BlockwiseCalibration.Block() {
            @Override public Report.BlockFigures train(BlockwiseCalibration.Trainer trainer) {
                double loss = trainer.loss(recording, () -> {});
                return Report.BlockFigures.learned(loss, List.of(), loss);
            }

            @Override public LlamaWeights.Layer fold() { return FP.layer(layer); }
        };
        // quantized inputs propagated (as OmniQuant): the pass of each trained block over every sample records too
        new BlockwiseCalibration("recording", null, true, false, ProgressFactory.SILENT, null).run(FP, CALIBRATION, recipe, online -> recording);
        int layers = FP.config().layers(), perPass = 7 * CALIBRATION.size();
        assertThat(seen).hasSize(layers * perPass + (layers - 1) * perPass).allSatisfy(s -> assertThat(s).endsWith("device"));
    }
}
