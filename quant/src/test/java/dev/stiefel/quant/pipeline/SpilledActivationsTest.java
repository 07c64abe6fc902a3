package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.Awq;
import dev.stiefel.quant.method.Gptq;
import dev.stiefel.quant.omni.OmniQuant;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Calibration activations too large for the heap go to a scratch directory: the block driver's methods give the same
 * model bit for bit (the files hold the f32 values exactly), and the directory is gone afterwards.
 */
class SpilledActivationsTest {
    @Test void spilledActivationsGiveTheSameModelAndLeaveNothingBehind() throws Exception {
        LlamaWeights fp = RandomModels.random(RandomModels.config(32, 48, 2, 4, 2, 41, Rope.Layout.HALF, false), 3);
        Random rnd = new Random(4);
        CalibrationData calib = new CalibrationData(List.of(RandomModels.tokens(rnd, 12, 41), RandomModels.tokens(rnd, 12, 41), RandomModels.tokens(rnd, 12, 41)), "r", 1);
        QuantConfig w3 = QuantConfig.parse("W3A16 g16");
        List<Supplier<dev.stiefel.quant.pipeline.QuantizedModel>> runs = List.of(
                () -> new Gptq().apply(fp, calib, w3, ProgressFactory.SILENT),
                () -> new Awq().apply(fp, calib, w3, ProgressFactory.SILENT),
                () -> new OmniQuant(OmniQuant.Options.defaults().withEpochs(1).withLet(true)).apply(fp, calib, QuantConfig.parse("W4A8"), ProgressFactory.SILENT));
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        for (Supplier<dev.stiefel.quant.pipeline.QuantizedModel> run : runs) {
            List<Tensor> inMemory = run.get().weights().tensors();
            List<Path> before = scratch(tmp);
            java.io.PrintStream err = System.err;
            java.io.ByteArrayOutputStream said = new java.io.ByteArrayOutputStream();
            List<Tensor> spilled;
            try {
                System.setErr(new java.io.PrintStream(said, true, java.nio.charset.StandardCharsets.UTF_8));
                spilled = dev.stiefel.quant.MemoryPolicy.rules().withSpillActivationsAbove(0L).call(() -> run.get().weights().tensors());
            } finally {
                System.setErr(err);
            }
            assertThat(said.toString(java.nio.charset.StandardCharsets.UTF_8)).as("the run says where the activations went").contains("calibration activations");
            assertThat(scratch(tmp)).as("the scratch directory is removed").isEqualTo(before);
            assertThat(spilled).hasSameSizeAs(inMemory);
            for (int i = 0; i < spilled.size(); i++) assertThat(spilled.get(i).toFloatArray()).isEqualTo(inMemory.get(i).toFloatArray());
        }
    }

    private static List<Path> scratch(Path tmp) throws IOException {
        try (var files = Files.list(tmp)) {
            return files.filter(p -> p.getFileName().toString().matches("stiefel-.*-activations.*")).sorted().toList();
        }
    }

    /** A directory without room for the activations a run holds at once is refused up front, saying what it needs and has. */
    @Test void aDirectoryWithoutRoomForTheActivationsIsRefusedUpFront() {
        Path dir = Path.of("/scratch/run");
        assertThat(BlockDriver.spaceShortage("gptq", dir, 28_720_000_000L, 0, 20_000_000_000L))
                .isEqualTo("gptq: the calibration activations take 28.72 GB at once in /scratch/run, which has 20.00 GB free; free some space, "
                        + "point the work directory (or -Djava.io.tmpdir) elsewhere, or calibrate on fewer or shorter samples");
        assertThat(BlockDriver.spaceShortage("gptq", dir, 28_720_000_000L, 4_300_000_000L, 24_000_000_000L))
                .as("a resumed run's inputs are there already").contains("(4.30 GB of them there already), which has 24.00 GB free");
        assertThat(BlockDriver.spaceShortage("gptq", dir, 28_720_000_000L, 4_300_000_000L, 24_420_000_000L)).isNull();
        assertThat(BlockDriver.spaceShortage("gptq", dir, 1, 0, 1)).isNull();
    }
}
