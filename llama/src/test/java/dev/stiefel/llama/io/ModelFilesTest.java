package dev.stiefel.llama.io;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ModelFilesTest {
    @TempDir Path dir;

    @Test void detectsEveryFormatByPathAndMagic() throws IOException {
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 11, Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = RandomModels.random(c, 1, DType.F32);
        HuggingFaceWriter.write(w, dir.resolve("hf"));
        GgufModelWriter.write(w, null, dir.resolve("model.weights"), GgmlType.F32); // GGUF by magic, whatever the name
        Llama2cWriter.write(w, dir.resolve("legacy.bin"), Llama2cWriter.Version.LEGACY);
        Llama2cWriter.write(w, dir.resolve("v1.model"), Llama2cWriter.Version.V1);    // "ak42" by magic

        assertThat(ModelFiles.detect(dir.resolve("hf"))).isEqualTo(ModelFormat.HUGGING_FACE);
        assertThat(ModelFiles.detect(dir.resolve("hf/config.json"))).isEqualTo(ModelFormat.HUGGING_FACE);
        assertThat(ModelFiles.detect(dir.resolve("model.weights"))).isEqualTo(ModelFormat.GGUF);
        assertThat(ModelFiles.detect(dir.resolve("legacy.bin"))).isEqualTo(ModelFormat.LLAMA2C);
        assertThat(ModelFiles.detect(dir.resolve("v1.model"))).isEqualTo(ModelFormat.LLAMA2C);
        for (String p : new String[]{"hf", "hf/config.json", "model.weights", "legacy.bin", "v1.model"})
            try (LoadedModel m = ModelFiles.load(dir.resolve(p))) {
                IoFixtures.assertSameWeights(RopePermutation.toLayout(m.weights(), Rope.Layout.INTERLEAVED), w, null);
                // the checkpoint's folder for Hugging Face (given the folder or a file in it), else the file itself
                Path source = p.startsWith("hf") ? dir.resolve("hf") : dir.resolve(p);
                assertThat(m.source().toAbsolutePath().normalize()).isEqualTo(source.toAbsolutePath().normalize());
                assertThat(m.format()).isEqualTo(ModelFiles.detect(dir.resolve(p)));
            }
    }

    /** Issue 5's cross-format check: a bf16 HF checkpoint (random, GQA, untied) and the same weights as GGUF and llama2.c. */
    @Test void theSameWeightsGiveTheSameLogitsInEveryFormat() throws IOException {
        LlamaConfig c = RandomModels.config(48, 72, 2, 6, 2, 53, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 31, DType.BF16);
        HuggingFaceWriter.write(w, dir.resolve("hf"));
        GgufModelWriter.write(w, null, dir.resolve("m.gguf"), GgmlType.BF16);
        Llama2cWriter.write(w, dir.resolve("m.bin"), Llama2cWriter.Version.V1); // f32 holds every bf16 value exactly
        Tensor ids = Tensor.ofInts(new java.util.Random(5).ints(10, 0, c.vocabSize()).toArray(), 1, 10);
        try (LoadedModel hf = ModelFiles.load(dir.resolve("hf")); LoadedModel gg = ModelFiles.load(dir.resolve("m.gguf"));
             LoadedModel l2 = ModelFiles.load(dir.resolve("m.bin")); var off = Grad.off()) {
            assertThat(hf.weights().embedding().dtype()).isEqualTo(DType.BF16);
            assertThat(gg.weights().layer(0).wq().dtype()).isEqualTo(DType.BF16);
            Tensor reference = new LlamaModel(w).forward(ids, null).value();
            for (LoadedModel m : new LoadedModel[]{hf, gg, l2})
                assertThat(new LlamaModel(m.weights()).forward(ids, null).value().maxAbsDiff(reference)).as(m.format().name()).isLessThan(1e-4);
            assertThat(gg.weights().config().ropeLayout()).isEqualTo(Rope.Layout.INTERLEAVED);
            assertThat(l2.weights().config().ropeLayout()).isEqualTo(Rope.Layout.INTERLEAVED);
        }
    }

    @Test void unknownPathsAreExplained() throws IOException {
        assertThatThrownBy(() -> ModelFiles.load(dir.resolve("absent.gguf"))).isInstanceOf(NoSuchFileException.class);
        assertThatThrownBy(() -> ModelFiles.load(dir)).isInstanceOf(ModelFormatException.class).hasMessageContaining("without config.json");
        Path st = Files.write(dir.resolve("model.safetensors"), new byte[16]);
        assertThatThrownBy(() -> ModelFiles.load(st)).hasMessageContaining("pass its Hugging Face directory");
        Path txt = Files.writeString(dir.resolve("notes.txt"), "hello");
        assertThatThrownBy(() -> ModelFiles.load(txt)).isInstanceOf(ModelFormatException.class).hasMessageContaining("unrecognized model file");
    }
}
