package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

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

    private static String[] quantize(String killAt, String... extra) {
        String[] common = {"quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "3"};
        String[] all = java.util.Arrays.copyOf(common, common.length + extra.length);
        System.arraycopy(extra, 0, all, common.length, extra.length);
        return CliRun.runUntil(killAt, all);
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
}
