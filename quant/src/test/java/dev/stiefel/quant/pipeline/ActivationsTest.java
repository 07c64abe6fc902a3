package dev.stiefel.quant.pipeline;

import dev.stiefel.quant.pipeline.Activations;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ActivationsTest {

    @Test void samplesWrittenToAFileReadBackBitForBitOneAtATime(@TempDir Path dir) throws IOException {
        Random rnd = new Random(1);
        List<Tensor> samples = List.of(Tensor.randn(rnd, 1, 7, 33), Tensor.randn(rnd, 1, 7, 33), Tensor.randn(rnd, 1, 7, 33));
        Activations.Writer w = Activations.file(dir.resolve("fp-3.act"));
        for (Tensor t : samples) w.put(t);
        assertThat(dir.resolve("fp-3.act")).as("nothing under the final name before finish").doesNotExist();
        try (Activations a = w.finish(); Activations again = Activations.open(dir.resolve("fp-3.act"))) {
            assertThat(a.size()).isEqualTo(3);
            for (int i = 2; i >= 0; i--) {
                assertThat(a.get(i).shape()).containsExactly(1, 7, 33);
                assertThat(a.get(i).toFloatArray()).isEqualTo(samples.get(i).toFloatArray());
                assertThat(again.get(i).toFloatArray()).isEqualTo(samples.get(i).toFloatArray());
            }
            assertThatThrownBy(() -> a.get(3)).hasMessageContaining("sample 3 of 3");
        }
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).as("no temporary file left").containsExactly("fp-3.act");
        }
    }

    @Test void inMemoryOutputsReplaceTheInputsTheyWereComputedFrom() {
        Random rnd = new Random(2);
        Activations.Memory m = Activations.Memory.of(List.of(Tensor.randn(rnd, 1, 2, 3), Tensor.randn(rnd, 1, 2, 3)));
        Activations.Writer w = m.overwrite();
        Tensor first = m.get(0).mul(2f);
        w.put(first);
        assertThat(m.get(0)).isSameAs(first);
        assertThatThrownBy(w::finish).hasMessageContaining("1 of 2");
        w.put(m.get(1).mul(2f));
        assertThat(w.finish()).isSameAs(m);
    }

    @Test void malformedFilesNameTheFileTheOffsetAndWhatWasExpected(@TempDir Path dir) throws IOException {
        Activations.Writer w = Activations.file(dir.resolve("a.act"));
        w.put(Tensor.randn(new Random(3), 1, 4, 5));
        w.put(Tensor.randn(new Random(4), 1, 4, 5));
        w.finish().close();
        byte[] good = Files.readAllBytes(dir.resolve("a.act"));

        Path truncated = dir.resolve("truncated.act");
        Files.write(truncated, java.util.Arrays.copyOf(good, good.length - 4));
        assertThatThrownBy(() -> Activations.open(truncated)).hasMessageContaining(truncated.toString())
                .hasMessageContaining(good.length + " bytes for 2 samples of [1, 4, 5]");

        Path magic = dir.resolve("magic.act");
        byte[] bad = good.clone();
        bad[0] = 'X';
        Files.write(magic, bad);
        assertThatThrownBy(() -> Activations.open(magic)).hasMessageContaining(magic.toString()).hasMessageContaining("at offset 0").hasMessageContaining("OMNIACT1");

        Path tiny = dir.resolve("tiny.act");
        Files.write(tiny, new byte[3]);
        assertThatThrownBy(() -> Activations.open(tiny)).hasMessageContaining("header");

        Activations.Writer mixed = Activations.file(dir.resolve("mixed.act"));
        mixed.put(Tensor.zeros(1, 4, 5));
        assertThatThrownBy(() -> mixed.put(Tensor.zeros(1, 4, 6))).hasMessageContaining("sample 1 is [1, 4, 6]");
    }
}
