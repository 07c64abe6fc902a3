package dev.stiefel.quant.method;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.transform.EquivalenceCheck;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** GPTQ with a work directory: a run interrupted after a block resumes after it and ends in the uninterrupted run's model. */
class GptqResumeTest {
    private static final LlamaConfig C = RandomModels.config(64, 96, 3, 4, 2, 41, Rope.Layout.HALF, false);
    private static final LlamaWeights FP = RandomModels.random(C, 21);
    private static final CalibrationData CALIBRATION = RandomCalibration.of(3, 24, 41, 5);

    private static final class Interrupted extends RuntimeException {}

    /** Throws after block {@code layer} was committed, as a kill right after the commit would stop the run. */
    private static BlockDriver.Listener interruptAfter(int layer) {
        return new BlockDriver.Listener() {
            @Override public void blockSaved(int l) { if (l == layer) throw new Interrupted(); }
        };
    }

    private static BlockDriver.Listener recording(List<Integer> blocks) {
        return new BlockDriver.Listener() {
            @Override public void blockSaved(int l) { blocks.add(l); }
        };
    }

    /** Every tensor the same bit for bit, of the same storage kind, and packed matrices with the same codes, scales and zero points. */
    private static void assertSameModel(QuantizedModel a, QuantizedModel b) {
        EquivalenceCheck.assertSameWeights(a.weights(), b.weights());
        List<Tensor> x = a.weights().tensors(), y = b.weights().tensors();
        for (int i = 0; i < x.size(); i++) {
            assertThat(y.get(i).storage().getClass()).as("tensor %d's storage", i).isEqualTo(x.get(i).storage().getClass());
            if (x.get(i).storage() instanceof PackedStorage px) {
                PackedMatrix p = px.matrix(), q = ((PackedStorage) y.get(i).storage()).matrix();
                assertThat(q.toString()).isEqualTo(p.toString());
                assertThat(q.codes().toArray(ValueLayout.JAVA_BYTE)).as("tensor %d's codes", i).isEqualTo(p.codes().toArray(ValueLayout.JAVA_BYTE));
                assertThat(q.scales()).isEqualTo(p.scales());
                assertThat(q.zeros()).isEqualTo(p.zeros());
            }
        }
    }

    private static List<Report.BlockFigures> untimed(QuantizedModel q) {
        return q.report().blocks().stream().map(f -> f.withSeconds(0)).toList();
    }

    @Test void anInterruptedRunResumesAfterItsLastCommittedBlockAndEndsInTheSameModel(@TempDir Path dir) throws Exception {
        // packed 4 bits in groups, packed 8 bits with activations quantized at run time, f32 (6 bits: no packed width)
        for (String shorthand : List.of("W4A16g32", "W8A8", "W6A16")) {
            QuantConfig config = QuantConfig.parse(shorthand);
            Path work = dir.resolve(shorthand);
            QuantizedModel reference = new Gptq().apply(FP, CALIBRATION, config, ProgressFactory.SILENT);

            Gptq onDisk = new Gptq(Gptq.Options.defaults(), work);
            assertThatThrownBy(() -> onDisk.withListener(interruptAfter(0)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT)).isInstanceOf(Interrupted.class);
            // what a kill in the middle of block 1 leaves (its scratch activations, half written), and an activation
            // file no block of GPTQ writes again: the resumed run deletes both before it starts
            Path run;
            try (Stream<Path> runs = Files.list(work)) { run = runs.findFirst().orElseThrow(); }
            Files.write(run.resolve("residual-1.act"), new byte[]{1, 2, 3});
            Files.write(run.resolve("fp-1.act"), new byte[]{1, 2, 3});
            List<Integer> redone = new ArrayList<>();
            QuantizedModel resumed = onDisk.withListener(recording(redone)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT);
            try (Stream<Path> files = Files.list(run)) {
                assertThat(files.map(p -> p.getFileName().toString()).sorted().toList()).as("what stays: the blocks and the state")
                        .containsExactly("block-0.safetensors", "block-1.safetensors", "block-2.safetensors", "state.json");
            }

            assertThat(redone).as("%s: only the blocks after the committed one run again", shorthand).containsExactly(1, 2);
            assertThat(resumed.report().resumed().afterBlocks()).isEqualTo(1);
            assertThat(reference.weights().layer(1).wq().storage() instanceof PackedStorage).as(shorthand).isEqualTo(!shorthand.equals("W6A16"));
            assertSameModel(reference, resumed);
            assertThat(resumed.report().gptqLoss()).as("losses, block 0's read back from the work directory").isEqualTo(reference.report().gptqLoss());
            assertThat(resumed.report().gptqLoss()).hasSize(3 * 7);
            assertThat(untimed(resumed)).isEqualTo(untimed(reference));
            assertThat(resumed.model().forward(Tensor.ofInts(new int[]{3, 1, 4, 1, 5}, 1, 5), null).value().toFloatArray())
                    .as("%s: the same logits", shorthand)
                    .isEqualTo(reference.model().forward(Tensor.ofInts(new int[]{3, 1, 4, 1, 5}, 1, 5), null).value().toFloatArray());

            // the finished run is found whole: nothing runs again, and the model is the same
            List<Integer> again = new ArrayList<>();
            QuantizedModel whole = onDisk.withListener(recording(again)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT);
            assertThat(again).isEmpty();
            assertThat(whole.report().resumed().afterBlocks()).isEqualTo(3);
            assertSameModel(reference, whole);
        }
    }

    /** Each block's bar names its place, and from the second block a run does on, the time its remaining blocks will take. */
    @Test void blockBarsShowTheRunsETAFromItsSecondBlockOn(@TempDir Path dir) {
        QuantConfig config = QuantConfig.parse("W4A16g32");
        Gptq onDisk = new Gptq(Gptq.Options.defaults(), dir);
        assertThatThrownBy(() -> onDisk.withListener(interruptAfter(0)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT)).isInstanceOf(Interrupted.class);
        List<String> labels = new ArrayList<>();
        onDisk.apply(FP, CALIBRATION, config, (label, total, unit) -> {
            labels.add(label);
            return dev.stiefel.llama.Progress.silent();
        });
        assertThat(labels).hasSize(2);
        assertThat(labels.get(0)).as("the first block this run does: no pace known yet").isEqualTo("gptq layer 2/3");
        assertThat(labels.get(1)).matches("gptq layer 3/3, run ETA \\d\\d:\\d\\d");
    }

    @Test void anotherSettingStartsItsOwnRunBesideTheFirst(@TempDir Path dir) throws Exception {
        QuantConfig config = QuantConfig.parse("W4A16g32");
        Gptq first = new Gptq(Gptq.Options.defaults(), dir);
        assertThatThrownBy(() -> first.withListener(interruptAfter(1)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT)).isInstanceOf(Interrupted.class);
        // other options, other calibration, other weights: none resumes the first run's blocks
        List<Integer> redone = new ArrayList<>();
        new Gptq(Gptq.Options.defaults().withDampRatio(0.1), dir).withListener(recording(redone)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT);
        new Gptq(Gptq.Options.defaults(), dir).withListener(recording(redone)).apply(FP, RandomCalibration.of(3, 24, 41, 6), config, ProgressFactory.SILENT);
        new Gptq(Gptq.Options.defaults(), dir).withListener(recording(redone)).apply(RandomModels.random(C, 22), CALIBRATION, config, ProgressFactory.SILENT);
        assertThat(redone).containsExactly(0, 1, 2, 0, 1, 2, 0, 1, 2);
        try (Stream<Path> runs = Files.list(dir)) {
            assertThat(runs.map(p -> p.getFileName().toString()).toList()).hasSize(4).allMatch(n -> n.startsWith("gptq-W4A16g32-"));
        }
        List<Integer> resumed = new ArrayList<>();
        QuantizedModel q = first.withListener(recording(resumed)).apply(FP, CALIBRATION, config, ProgressFactory.SILENT);
        assertThat(resumed).containsExactly(2);
        assertThat(q.report().resumed().afterBlocks()).isEqualTo(2);
    }

    @Test void whatAWorkDirectoryCannotResumeIsRefusedBeforeAnyWork(@TempDir Path dir) {
        Gptq onDisk = new Gptq(Gptq.Options.defaults(), dir);
        Hooks online = new Hooks() {};
        assertThatThrownBy(() -> onDisk.apply(FP, online, CALIBRATION, QuantConfig.parse("W4A16"), ProgressFactory.SILENT))
                .hasMessageContaining("plain GPTQ only");
        assertThatThrownBy(() -> onDisk.apply(FP, CALIBRATION, QuantConfig.parse("Q4_0"), ProgressFactory.SILENT))
                .hasMessageContaining("llama.cpp's grids");
        assertThat(dir).isEmptyDirectory();
        for (String name : List.of("rtn", "awq", "quarot-gptq", "smoothquant-gptq", "flatquant"))
            assertThatThrownBy(() -> Methods.byName(name, Methods.Options.defaults().withWorkDir(dir)))
                    .as(name).hasMessageContaining("--work-dir: " + name + " does not resume").hasMessageContaining("gptq, omniquant");
        assertThat(((OstQuant) Methods.byName("spinquant-rtn", Methods.Options.defaults().withWorkDir(dir))).options().workDir())
                .as("OSTQuant and SpinQuant checkpoint their learning there").isEqualTo(dir);
        assertThat(((Gptq) Methods.byName("gptq", Methods.Options.defaults().withWorkDir(dir))).workDir()).isEqualTo(dir);
        assertThat(((dev.stiefel.quant.omni.OmniQuant) Methods.byName("omniquant-lwc", Methods.Options.defaults().withWorkDir(dir))).options().workDir()).isEqualTo(dir);
    }
}
