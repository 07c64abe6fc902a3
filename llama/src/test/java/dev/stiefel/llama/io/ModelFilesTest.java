package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
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
        LlamaConfig c = IoFixtures.config(8, 12, 1, 2, 1, 11, Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = IoFixtures.random(c, 1, DType.F32);
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
                assertThat(m.source()).isNotNull();
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
