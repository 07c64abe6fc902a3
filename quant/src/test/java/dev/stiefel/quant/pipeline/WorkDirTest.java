package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkDirTest {

    @Test void aWorkDirectoryStateOfAnotherRunIsRefused(@TempDir Path dir) throws Exception {
        WorkDir w = WorkDir.open(dir, "run", "fingerprint A");
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 7, Rope.Layout.HALF, false);
        Report.BlockFigures figures = Report.BlockFigures.learned(1.0, java.util.List.of(0.75, 0.5), 0.25).withSeconds(3);
        w.commit(0, RandomModels.random(c, 1).layer(0), figures);
        WorkDir again = WorkDir.open(dir, "run", "fingerprint A");
        assertThat(again.finished()).isEqualTo(1);
        assertThat(again.blockFigures()).as("the figures read back typed").containsExactly(figures);
        assertThat(Files.readString(w.dir().resolve("state.json"))).as("snake_case, no nulls").contains("\"mse_before\"").doesNotContain("kind");
        Path state = w.dir().resolve("state.json");
        Files.writeString(state, Files.readString(state).replace("fingerprint A", "fingerprint B"));
        assertThatThrownBy(() -> WorkDir.open(dir, "run", "fingerprint A")).hasMessageContaining("belongs to another run");
    }
}
