package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkDirTest {

    @Test void aWorkDirectoryStateOfAnotherRunIsRefused(@TempDir Path dir) throws Exception {
        WorkDir w = WorkDir.open(dir, "run", "fingerprint A", "test");
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 7, Rope.Layout.HALF, false);
        Report.BlockFigures figures = Report.BlockFigures.learned(1.0, java.util.List.of(0.75, 0.5), 0.25).withSeconds(3);
        w.commit(0, RandomModels.random(c, 1).layer(0), figures);
        WorkDir again = WorkDir.open(dir, "run", "fingerprint A", "test");
        assertThat(again.finished()).isEqualTo(1);
        assertThat(again.blockFigures()).as("the figures read back typed").containsExactly(figures);
        assertThat(Files.readString(w.dir().resolve("state.json"))).as("snake_case, no nulls").contains("\"mse_before\"").doesNotContain("kind");
        Path state = w.dir().resolve("state.json");
        Files.writeString(state, Files.readString(state).replace("fingerprint A", "fingerprint B"));
        assertThatThrownBy(() -> WorkDir.open(dir, "run", "fingerprint A", "test")).hasMessageContaining("belongs to another run");
    }

    /** A block's packed matrices come back packed (the same codes, scales and zero points), the rest in f32. */
    @Test void packedMatricesAreCommittedAsTheirCodes(@TempDir Path dir) {
        LlamaConfig c = RandomModels.config(64, 96, 1, 4, 2, 7, Rope.Layout.HALF, false);
        LlamaWeights.Layer fp = RandomModels.random(c, 3).layer(0);
        java.util.Random rnd = new java.util.Random(9);
        Tensor wq = packed(fp.wq(), 4, 32, false, rnd), wDown = packed(fp.wDown(), 8, 0, true, rnd), wGate = packed(fp.wGate(), 2, 64, false, rnd);
        LlamaWeights.Layer block = fp.withMatrices(fp.attnNorm(), wq, fp.wk(), fp.wv(), fp.wo(), fp.ffnNorm(), wGate, fp.wUp(), wDown);
        WorkDir w = WorkDir.open(dir, "run", "fingerprint", "test");
        w.commit(0, block, Report.BlockFigures.gptq(java.util.Map.of("model.layers.0.self_attn.q_proj", 0.5)));
        LlamaWeights.Layer back = WorkDir.open(dir, "run", "fingerprint", "test").loadBlock(0, fp);
        for (Tensor[] pair : new Tensor[][]{{wq, back.wq()}, {wGate, back.wGate()}, {wDown, back.wDown()}}) {
            PackedMatrix a = ((PackedStorage) pair[0].storage()).matrix();
            assertThat(pair[1].storage()).isInstanceOf(PackedStorage.class);
            PackedMatrix b = ((PackedStorage) pair[1].storage()).matrix();
            assertThat(b.toString()).isEqualTo(a.toString());
            assertThat(b.codes().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(a.codes().toArray(ValueLayout.JAVA_BYTE));
            assertThat(b.scales()).isEqualTo(a.scales());
            assertThat(b.zeros()).isEqualTo(a.zeros());
        }
        for (Tensor[] pair : new Tensor[][]{{fp.wk(), back.wk()}, {fp.wUp(), back.wUp()}, {fp.attnNorm(), back.attnNorm()}})
            assertThat(pair[1].toFloatArray()).isEqualTo(pair[0].toFloatArray());
        assertThat(WorkDir.open(dir, "run", "fingerprint", "test").blockFigures().get(0).gptqLoss()).containsEntry("model.layers.0.self_attn.q_proj", 0.5);
    }

    private static Tensor packed(Tensor w, int bits, int group, boolean symmetric, java.util.Random rnd) {
        int rows = w.size(0), cols = w.size(1), groups = group == 0 ? 1 : (cols + group - 1) / group;
        int[] codes = new int[rows * cols];
        for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(1 << bits);
        float[] scales = new float[rows * groups], zeros = new float[rows * groups];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = 0.01f + rnd.nextFloat();
            if (!symmetric) zeros[i] = rnd.nextInt(1 << bits);
        }
        return PackedStorage.tensor(PackedMatrix.ofCodes(codes, rows, cols, bits, group, symmetric, scales, zeros));
    }
}
