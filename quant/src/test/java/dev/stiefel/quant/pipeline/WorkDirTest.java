package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkDirTest {

    @Test void aWorkDirectoryStateOfAnotherRunIsRefused(@TempDir Path dir) throws Exception {
        WorkDir w = WorkDir.open(dir, "run", "fingerprint A");
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 7, Rope.Layout.HALF, false);
        w.commit(0, RandomModels.random(c, 1).layer(0), Map.of("mse_before", 1.0));
        assertThat(WorkDir.open(dir, "run", "fingerprint A").finished()).isEqualTo(1);
        Path state = w.dir().resolve("state.json");
        Files.writeString(state, Files.readString(state).replace("fingerprint A", "fingerprint B"));
        assertThatThrownBy(() -> WorkDir.open(dir, "run", "fingerprint A")).hasMessageContaining("belongs to another run");
    }
}
