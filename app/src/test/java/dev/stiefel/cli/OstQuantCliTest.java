package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The --ost-* flags of quantize, in-process on a small generated checkpoint. */
class OstQuantCliTest {
    @TempDir static Path dir;
    static Path model, text;

    @BeforeAll static void writeCheckpointAndText() throws Exception {
        CliRun.Fixture f = CliRun.checkpoint(dir, 6, 80, 4);
        model = f.model();
        text = f.text();
    }

    private static String[] run(String... args) { return CliRun.run(args); }

    private static String[] quantize(String... extra) {
        String[] base = {"quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "16",
                "--nsamples", "4", "--eval-windows", "2", "--config", "W4A4KV4"};
        String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return run(all);
    }

    /** The learning options of a result row as "field=value" lines (the report writes them as a snake_case object). */
    private static String options(Path json, int row) throws Exception {
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        JsonNode o = n.get("results").get(row).get("report").get("learning").get("options");
        StringBuilder b = new StringBuilder();
        o.properties().forEach(e -> b.append(e.getKey()).append('=').append(e.getValue().asText()).append('\n'));
        return b.toString();
    }

    @Test void flagsOverrideEachMethodsPresetAndReachTheReport() throws Exception {
        Path json = dir.resolve("flags.json");
        String[] r = quantize("--method", "ostquant,spinquant", "--ost-steps", "3", "--ost-batch", "2", "--ost-loss", "kl", "--ost-top-k", "7",
                "--ost-init", "hadamard", "--ost-no-scalings", "--ost-scale-lr", "0.003", "--ost-top-k-softmax", "topk", "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        String ost = options(json, 1), spin = options(json, 2);
        assertThat(ost).contains("scalings=false", "init=HADAMARD", "loss=KL", "top_k=7", "SOFTMAX_OVER_TOPK", "steps=3", "batch=2",
                "rotation_optimizer=RIEMANNIAN_ADAM", "rotation_lr=0.05", "scale_lr=0.003");
        // SpinQuant keeps its own optimizer and learning rate under the same flags
        assertThat(spin).contains("rotation_optimizer=CAYLEY_SGD", "rotation_lr=1.5", "loss=KL", "steps=3");
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertThat(n.get("results").get(1).get("report").get("learning").get("steps").asInt()).isEqualTo(3);

        String[] alt = quantize("--method", "spinquant-rtn", "--ost-optimizer", "radam", "--ost-rotation-lr", "0.02", "--ost-scalings",
                "--ost-init", "womi", "--ost-weights-while-learning", "on", "--ost-epochs", "1", "--json", json.toString());
        assertThat(alt[0]).as(alt[2]).isEqualTo("0");
        assertThat(options(json, 1)).contains("scalings=true", "init=WOMI", "rotation_optimizer=RIEMANNIAN_ADAM", "rotation_lr=0.02",
                "weights_during_learning=true", "epochs=1", "steps=0", "use_gptq=false");
    }

    @Test void aStoppedRunResumesFromItsWorkDirectoryToTheSamePerplexity() throws Exception {
        Path work = dir.resolve("work"), straight = dir.resolve("straight.json"), resumed = dir.resolve("resumed.json");
        String[] common = {"--method", "ostquant-rtn", "--ost-steps", "4", "--ost-batch", "2", "--ost-checkpoint-every", "1"};
        String[] a = quantize(concat(common, "--json", straight.toString()));
        assertThat(a[0]).as(a[2]).isEqualTo("0");
        String[] stopped = quantize(concat(common, "--work-dir", work.toString(), "--ost-stop-after", "3"));
        assertThat(stopped[0]).isEqualTo("2");
        assertThat(stopped[2]).contains("paused after step 3 of 4").doesNotContain("\tat ");
        String[] b = quantize(concat(common, "--work-dir", work.toString(), "--json", resumed.toString()));
        assertThat(b[0]).as(b[2]).isEqualTo("0");
        assertThat(b[2]).contains("resuming from step 3 of 4");
        JsonNode x = new ObjectMapper().readTree(straight.toFile()).get("results").get(1), y = new ObjectMapper().readTree(resumed.toFile()).get("results").get(1);
        assertThat(y.get("perplexity")).isEqualTo(x.get("perplexity"));
        assertThat(y.get("report").get("learning").get("calibration_loss_after")).isEqualTo(x.get("report").get("learning").get("calibration_loss_after"));
    }

    @Test void badFlagsAreMessages() {
        String[] loss = quantize("--method", "ostquant", "--ost-loss", "hinge");
        assertThat(loss[0]).isEqualTo("2");
        assertThat(loss[2]).contains("--ost-loss").contains("hinge").contains("kl-top, kl, ce, mse");
        String[] stop = quantize("--method", "ostquant", "--ost-stop-after", "2");
        assertThat(stop[0]).isEqualTo("2");
        assertThat(stop[2]).contains("needs a work directory");
        String[] both = quantize("--method", "ostquant", "--ost-scalings", "--ost-no-scalings");
        assertThat(both[0]).isEqualTo("2");
        assertThat(both[2]).contains("contradict");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
