package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code quantize --method omniquant} with OmniQuant's flags, in-process on a small generated checkpoint, as {@link CliTest}. */
class OmniQuantFlagsTest {
    @TempDir static Path dir;
    static Path model, text;

    @BeforeAll static void writeCheckpointAndText() throws Exception {
        CliRun.Fixture f = CliRun.checkpoint(dir, 7, 100, 5);
        model = f.model();
        text = f.text();
    }

    /** Thrown by the standard error stream of a run the test interrupts, as a kill would stop it. */
    private static final class Killed extends RuntimeException {
        Killed() { super("killed by the test"); }
    }

    /** Runs a command; returns {exit code, stdout, stderr}, exit code "killed" when {@code killAt} appeared on stderr. */
    private static String[] run(String killAt, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        // stderr that throws the first time the marker has been written: the run stops at that point of its work
        OutputStream errSink = new OutputStream() {
            boolean killed;

            @Override public void write(int b) {
                err.write(b);
                if (killAt != null && !killed && b == '\n' && err.toString(StandardCharsets.UTF_8).contains(killAt)) {
                    killed = true;
                    throw new Killed();
                }
            }
        };
        String code, out = "";
        try {
            String[] r = CliRun.run(new PrintStream(errSink, true, StandardCharsets.UTF_8), err, args);
            code = r[0];
            out = r[1];
        } catch (Killed k) {
            code = "killed"; // what it printed to stdout before the kill is not needed
        }
        if (killAt != null && err.toString(StandardCharsets.UTF_8).contains(killAt)) code = "killed";
        return new String[]{code, out, err.toString(StandardCharsets.UTF_8)};
    }

    private static String[] quantize(String killAt, String... extra) {
        String[] common = {"quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "3"};
        String[] all = java.util.Arrays.copyOf(common, common.length + extra.length);
        System.arraycopy(extra, 0, all, common.length, extra.length);
        return run(killAt, all);
    }

    @Test void everyFlagReachesTheMethodAndItsReport() throws Exception {
        Path json = dir.resolve("flags.json");
        String[] r = quantize(null, "--config", "W3A16g16", "--method", "omniquant", "--omni-epochs", "3", "--lwc-lr", "0.02", "--let-lr", "0.001",
                "--omni-alpha", "0.75", "--let", "--no-aug-loss", "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        JsonNode q = new ObjectMapper().readTree(json.toFile()).get("results").get(1).get("report");
        JsonNode o = q.get("omniquant");
        assertThat(o.get("epochs").asInt()).isEqualTo(3);
        assertThat(o.get("lwc_lr").asDouble()).isEqualTo(0.02);
        assertThat(o.get("let_lr").asDouble()).isEqualTo(0.001);
        assertThat(o.get("alpha").asDouble()).isEqualTo(0.75);
        assertThat(o.get("lwc").asBoolean()).isTrue();
        assertThat(o.get("let").asBoolean()).as("--let turns LET on for a weight-only setting").isTrue();
        assertThat(o.get("aug_loss").asBoolean()).isFalse();
        assertThat(q.get("blocks").get("model.layers.1").get("epoch_loss")).hasSize(3);
        assertThat(q.has("work_dir")).isFalse();

        // the defaults, and the switches the other way: 2-bit weights get 40 epochs and the augmented loss
        Path defaults = dir.resolve("defaults.json");
        String[] d = quantize(null, "--config", "W2A16g16,W4A4KV4", "--method", "omniquant", "--omni-epochs", "0", "--no-lwc", "--no-omni-query",
                "--json", defaults.toString());
        assertThat(d[0]).as(d[2]).isEqualTo("0");
        JsonNode rows = new ObjectMapper().readTree(defaults.toFile()).get("results");
        JsonNode w2 = rows.get(1).get("report").get("omniquant"), w4a4 = rows.get(2).get("report").get("omniquant");
        assertThat(w2.get("lwc").asBoolean()).isFalse();
        assertThat(w2.get("aug_loss").asBoolean()).isTrue();
        assertThat(w2.get("let").asBoolean()).isFalse();
        assertThat(w4a4.get("let").asBoolean()).isTrue();
        assertThat(w4a4.get("quantize_query").asBoolean()).isFalse();
        assertThat(w4a4.get("lwc_lr").asDouble()).isEqualTo(1e-2);
        assertThat(w4a4.get("let_lr").asDouble()).isEqualTo(5e-3);
        assertThat(w4a4.get("alpha").asDouble()).isEqualTo(0.5);
    }

    @Test void badFlagValuesAreMessagesNamingTheOption() {
        String[] alpha = quantize(null, "--config", "W4A16", "--method", "omniquant", "--omni-alpha", "1.5");
        assertThat(alpha[0]).isEqualTo("2");
        assertThat(alpha[2]).contains("alpha must be in [0, 1]", "1.5").doesNotContain("\tat ");
        String[] lr = quantize(null, "--config", "W4A16", "--method", "omniquant", "--lwc-lr", "-1");
        assertThat(lr[0]).isEqualTo("2");
        assertThat(lr[2]).contains("learning rates must be finite and >= 0");
        String[] nothing = quantize(null, "--config", "W4A16", "--method", "omniquant", "--no-lwc");
        assertThat(nothing[0]).isEqualTo("2");
        assertThat(nothing[2]).contains("nothing to learn");
    }

    /**
     * A run with --work-dir killed during block 2's training (block 1 saved), then the same command again: it resumes
     * after block 1 and ends in the uninterrupted run's model, byte for byte, and its perplexity.
     */
    @Test void anInterruptedRunResumesFromTheWorkDirectoryAndEndsInTheSameModel() throws Exception {
        Path work = dir.resolve("work"), savedOnce = dir.resolve("once"), savedResumed = dir.resolve("resumed");
        Path jsonOnce = dir.resolve("once.json"), jsonResumed = dir.resolve("resumed.json");
        String[] settings = {"--config", "W4A4KV4", "--method", "omniquant", "--omni-epochs", "2"};

        String[] once = quantize(null, concat(settings, "--save", savedOnce.toString(), "--json", jsonOnce.toString()));
        assertThat(once[0]).as(once[2]).isEqualTo("0");

        String[] killed = quantize("omniquant block 2/2", concat(settings, "--work-dir", work.toString()));
        assertThat(killed[0]).as(killed[2]).isEqualTo("killed");
        Path run;
        try (Stream<Path> runs = Files.list(work)) {
            List<Path> l = runs.toList();
            assertThat(l).as("one run directory").hasSize(1);
            run = l.get(0);
        }
        assertThat(new ObjectMapper().readTree(run.resolve("state.json").toFile()).get("finished_blocks").asInt()).isEqualTo(1);
        assertThat(run.resolve("block-0.safetensors")).exists();
        assertThat(run.resolve("block-1.safetensors")).doesNotExist();

        String[] resumed = quantize(null, concat(settings, "--work-dir", work.toString(), "--save", savedResumed.toString(), "--json", jsonResumed.toString()));
        assertThat(resumed[0]).as(resumed[2]).isEqualTo("0");
        assertThat(resumed[2]).doesNotContain("omniquant block 1/2").contains("omniquant block 2/2");
        JsonNode a = new ObjectMapper().readTree(jsonOnce.toFile()).get("results").get(1), b = new ObjectMapper().readTree(jsonResumed.toFile()).get("results").get(1);
        assertThat(b.get("report").get("resumed_after_blocks").asInt()).isEqualTo(1);
        assertThat(b.get("report").get("work_dir").asText()).isEqualTo(run.toString());
        assertThat(b.get("perplexity")).isEqualTo(a.get("perplexity"));
        for (String block : List.of("model.layers.0", "model.layers.1"))
            for (String key : List.of("mse_before", "mse_after", "epoch_loss"))
                assertThat(b.get("report").get("blocks").get(block).get(key)).as(block + " " + key).isEqualTo(a.get("report").get("blocks").get(block).get(key));
        try (Stream<Path> files = Files.list(savedOnce)) {
            for (Path f : files.toList())
                assertThat(Files.readAllBytes(savedResumed.resolve(f.getFileName()))).as(f.getFileName().toString()).isEqualTo(Files.readAllBytes(f));
        }

        // a finished run in the work directory is found whole: nothing is trained again
        String[] again = quantize(null, concat(settings, "--work-dir", work.toString()));
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        assertThat(again[2]).doesNotContain("omniquant block");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
