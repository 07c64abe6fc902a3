package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code quantize --work-dir DIR} for the methods that resume (GPTQ, OmniQuant), in-process on a small generated checkpoint. */
class WorkDirCliTest {
    @TempDir static Path dir;
    static Path model, text;

    @BeforeAll static void writeCheckpointAndText() throws Exception {
        CliRun.Fixture f = CliRun.checkpoint(dir, 7, 100, 5);
        model = f.model();
        text = f.text();
    }

    private static String[] quantize(String killAt, String method, String... extra) {
        String[] common = {"quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "3"};
        List<String> all = new java.util.ArrayList<>(List.of(common));
        all.addAll(List.of(method.split(" ")));
        all.addAll(List.of(extra));
        return CliRun.runUntil(killAt, all.toArray(String[]::new));
    }

    /** A report's per-block figures without their wall times. */
    private static JsonNode untimed(JsonNode report) {
        ObjectNode blocks = report.get("blocks").deepCopy();
        blocks.forEach(b -> ((ObjectNode) b).remove("seconds"));
        return blocks;
    }

    /**
     * A run killed while working on block 2 (block 1 committed), then the same command again: it resumes after block 1
     * and writes the uninterrupted run's packed model, byte for byte, with its perplexity, losses and block figures.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "--config W4A16g32 --method gptq | gptq-W4A16g32- | gptq layer",
            "--config W4A4KV4 --method omniquant --omni-epochs 2 | omniquant-W4A4KV4- | omniquant block"})
    void aKilledRunResumesAfterItsLastFinishedBlockAndWritesTheSameModel(String method, String runPrefix, String progress) throws Exception {
        Path root = dir.resolve(runPrefix);
        Path work = root.resolve("work"), savedOnce = root.resolve("once"), savedResumed = root.resolve("resumed");
        Path jsonOnce = root.resolve("once.json"), jsonResumed = root.resolve("resumed.json");
        Files.createDirectories(root);

        String[] once = quantize(null, method, "--save", savedOnce.toString(), "--json", jsonOnce.toString());
        assertThat(once[0]).as(once[2]).isEqualTo("0");

        String[] killed = quantize(progress + " 2/2", method, "--work-dir", work.toString());
        assertThat(killed[0]).as(killed[2]).isEqualTo("killed");
        Path run;
        try (Stream<Path> runs = Files.list(work)) {
            List<Path> l = runs.toList();
            assertThat(l).as("one run directory").hasSize(1);
            run = l.get(0);
        }
        assertThat(run.getFileName().toString()).startsWith(runPrefix);
        assertThat(new ObjectMapper().readTree(run.resolve("state.json").toFile()).get("finished_blocks").asInt()).isEqualTo(1);
        assertThat(run.resolve("block-0.safetensors")).exists();
        assertThat(run.resolve("block-1.safetensors")).doesNotExist();

        String[] resumed = quantize(null, method, "--work-dir", work.toString(), "--save", savedResumed.toString(), "--json", jsonResumed.toString());
        assertThat(resumed[0]).as(resumed[2]).isEqualTo("0");
        assertThat(resumed[2]).doesNotContain(progress + " 1/2").contains(progress + " 2/2");
        JsonNode a = new ObjectMapper().readTree(jsonOnce.toFile()).get("results").get(1), b = new ObjectMapper().readTree(jsonResumed.toFile()).get("results").get(1);
        assertThat(b.get("report").get("resumed_after_blocks").asInt()).isEqualTo(1);
        assertThat(b.get("report").get("work_dir").asText()).isEqualTo(run.toString());
        assertThat(b.get("perplexity")).isEqualTo(a.get("perplexity"));
        assertThat(b.get("report").get("gptq_loss")).isEqualTo(a.get("report").get("gptq_loss"));
        assertThat(untimed(b.get("report"))).as("block figures, block 0's read back from the work directory").isEqualTo(untimed(a.get("report")));
        try (Stream<Path> files = Files.list(savedOnce)) {
            for (Path f : files.toList())
                assertThat(Files.readAllBytes(savedResumed.resolve(f.getFileName()))).as(f.getFileName().toString()).isEqualTo(Files.readAllBytes(f));
        }

        // a finished run in the work directory is found whole: no block is processed again
        String[] again = quantize(null, method, "--work-dir", work.toString());
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        assertThat(again[2]).doesNotContain(progress);
    }

    /** Beside a method that resumes, a quick one runs in memory (and says so); a command with nothing to resume is refused. */
    @Test void methodsThatCannotResumeRunInMemoryBesideOneThatCan() throws Exception {
        String[] refused = quantize(null, "--config W4A16 --method rtn,awq", "--work-dir", dir.resolve("refused").toString());
        assertThat(refused[0]).isEqualTo("2");
        assertThat(refused[2]).contains("--work-dir: rtn, awq do not resume from a work directory; those that do: gptq, omniquant").doesNotContain("\tat ");
        assertThat(dir.resolve("refused")).doesNotExist();

        Path work = dir.resolve("mixed");
        String[] mixed = quantize(null, "--config W4A16 --method rtn,gptq", "--work-dir", work.toString());
        assertThat(mixed[0]).as(mixed[2]).isEqualTo("0");
        assertThat(mixed[2]).contains("--work-dir: rtn will run in memory (no resume)");
        try (Stream<Path> runs = Files.list(work)) {
            assertThat(runs.map(p -> p.getFileName().toString()).toList()).singleElement().asString().startsWith("gptq-W4A16-");
        }
    }
}
