package dev.stiefel.quant.calib;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** A resumable run must not resume another model's or another data's work: every weight and token counts. */
class FingerprintsTest {

    @Test void oneChangedValueInAnyTensorChangesTheModelChecksum() {
        LlamaConfig c = RandomModels.config(16, 24, 2, 2, 1, 37, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 5);
        long base = Fingerprints.model(w);
        assertThat(Fingerprints.model(RandomModels.random(c, 5))).isEqualTo(base);
        Set<Long> seen = new HashSet<>(List.of(base));
        for (Tensor t : w.tensors()) {
            float[] f = t.contiguous().toFloatArray();
            int last = f.length - 1; // the last value, far from the first rows a partial checksum would read
            Tensor copy = Tensor.wrap(f.clone(), t.shape());
            float old = f[last];
            t.copyFrom(Tensor.wrap(withValue(f, last, old + 1e-3f), t.shape()));
            assertThat(seen.add(Fingerprints.model(w))).as("a change in a tensor of shape %s", java.util.Arrays.toString(t.shape())).isTrue();
            t.copyFrom(copy);
        }
        assertThat(Fingerprints.model(w)).isEqualTo(base);
    }

    @Test void tokensAndRunDirectories() {
        CalibrationData a = RandomCalibration.of(3, 9, 50, 1), b = RandomCalibration.of(3, 9, 50, 2);
        assertThat(Fingerprints.tokens(a)).isEqualTo(Fingerprints.tokens(RandomCalibration.of(3, 9, 50, 1))).isNotEqualTo(Fingerprints.tokens(b));
        Path root = Path.of("work");
        assertThat(Fingerprints.runDirectory(root, "W4A4 g32/x", "f1").getFileName().toString()).matches("W4A4_g32_x-[0-9a-f]{12}");
        assertThat(Fingerprints.runDirectory(root, "a", "f1")).isNotEqualTo(Fingerprints.runDirectory(root, "a", "f2"));
    }

    private static float[] withValue(float[] f, int i, float v) {
        float[] g = f.clone();
        g[i] = v;
        return g;
    }
}
