package dev.stiefel.cli;

import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

import static dev.stiefel.cli.CliRun.run;
import static org.assertj.core.api.Assertions.assertThat;

/** {@code eval logits}: transformers' own logits of its reference checkpoints, the printed top-5, the atomic --out file. */
class EvalLogitsCliTest {
    @TempDir Path dir;

    private static Path reference(String name) {
        Path p = Path.of(System.getProperty("stiefel.shared", "../shared")).resolve("models/hf-reference").resolve(name);
        Assumptions.assumeTrue(Files.isRegularFile(p.resolve("reference.safetensors")), "shared folder " + p + " is absent");
        return p;
    }

    @Test void logitsOfTheQwen3ReferenceMatchTransformersAndTheFileHoldsThem() throws IOException {
        Path model = reference("qwen3-bf16");
        int[] ids;
        float[] expected;
        try (SafetensorsFile ref = SafetensorsFile.open(model.resolve("reference.safetensors"))) {
            IntBuffer b = ByteBuffer.wrap(ref.byteArray("input_ids")).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
            ids = new int[b.remaining()];
            b.get(ids);
            expected = ref.tensor("logits").contiguous().toFloatArray();
        }
        Path out = dir.resolve("logits.safetensors");
        String idList = Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
        String[] r = run("eval", "logits", "--model", model.toString(), "--ids", idList, "--out", out.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            Tensor logits = f.tensor("logits");
            assertThat(logits.shape()).containsExactly(ids.length, 384);
            float[] got = logits.contiguous().toFloatArray();
            double worst = 0;
            for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
            assertThat(worst).isLessThan(2e-3);
        }
        String[] lines = r[1].split("\n");
        assertThat(lines).hasSize(1 + ids.length);
        assertThat(lines[0]).contains("no tokenizer found");
        // position 0's line: its id, then the reference's five largest logits in order
        int[] top = EvalLogitsCommand.top(expected, 0, 384, 5);
        String[] cells = lines[1].split("->")[1].trim().split("\\s+");
        for (int k = 0; k < 5; k++) {
            assertThat(Integer.parseInt(cells[3 * k])).isEqualTo(top[k]);
            assertThat(Double.parseDouble(cells[3 * k + 2])).isCloseTo(expected[top[k]], org.assertj.core.data.Offset.offset(2e-3));
        }
        assertThat(Files.list(dir)).as("no temporary file is left").hasSize(1);
    }

    @Test void topKeepsTheLargestInOrderWithTiesToTheLowerId() {
        float[] l = {0, 3, -1, 3, 7, 2, 7, 1};
        assertThat(EvalLogitsCommand.top(l, 0, 8, 5)).containsExactly(4, 6, 1, 3, 5);
        assertThat(EvalLogitsCommand.top(l, 2, 3, 5)).containsExactly(2, 1, 0);
    }

    @Test void piecesArePrintedWithATokenizerAndBadIdsAreRefused() throws IOException {
        CliRun.Fixture f = CliRun.checkpoint(dir, 3, 20, 5);
        String[] r = run("eval", "logits", "--model", f.model().toString(), "--ids", "1,40,41");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1].split("\n")).hasSize(4);
        assertThat(r[1]).doesNotContain("no tokenizer").contains("\"");
        String[] bad = run("eval", "logits", "--model", f.model().toString(), "--ids", "1,100000");
        assertThat(bad[0]).isEqualTo("2");
        assertThat(bad[2]).contains("token id 100000");
    }
}
