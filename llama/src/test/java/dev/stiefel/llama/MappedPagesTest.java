package dev.stiefel.llama;

import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufLoader;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Releasing a block's mapped pages after each pass changes nothing the model computes: the pages come back from the file. */
class MappedPagesTest {

    @Test void releasedPagesReadBackTheSameWeights(@TempDir Path dir) throws Exception {
        LlamaConfig c = RandomModels.config(32, 48, 3, 4, 2, 41, Rope.Layout.INTERLEAVED, false);
        Path file = dir.resolve("m.gguf");
        GgufModelWriter.write(RandomModels.random(c, 5, DType.BF16), null, file, GgmlType.BF16);
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(3), 9, c.vocabSize()), 1, 9);
        try (LoadedModel m = GgufLoader.load(file)) {
            assertThat(m.weights().layer(0).wq().storage()).isInstanceOf(MappedStorage.class);
            LlamaModel model = new LlamaModel(m.weights());
            float[] kept = model.nextLogits(ids, null).toFloatArray();
            boolean before = MappedPages.releasingAfterEachBlock();
            try {
                MappedPages.releaseAfterEachBlock(true);
                for (int pass = 0; pass < 2; pass++) // the second pass reads every page released by the first
                    assertThat(model.nextLogits(ids, null).toFloatArray()).as("pass %d", pass).isEqualTo(kept);
            } finally {
                MappedPages.releaseAfterEachBlock(before);
            }
        }
    }
}
