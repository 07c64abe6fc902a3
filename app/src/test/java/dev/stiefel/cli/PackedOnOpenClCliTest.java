package dev.stiefel.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.opencl.OpenClBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A packed model that {@code quantize --save} wrote, evaluated with {@code --backend opencl}: its codes stay packed in
 * device memory, and its perplexity is the CPU packed runtime's within 1e-4 (relative), for weight-only grids and for
 * activations and K/V quantized with online Hadamards (QuaRot); and it generates there.
 */
class PackedOnOpenClCliTest {
    @TempDir static Path dir;
    static Path model, text;

    @BeforeAll static void writeCheckpointAndText() throws Exception {
        Assumptions.assumeTrue(OpenClBackend.shared().isPresent(), () -> "skipped: no OpenCL backend here: " + OpenClBackend.unavailableReason());
        CliRun.Fixture f = CliRun.checkpoint(dir, 5, 120, 3);
        model = f.model();
        text = f.text();
    }

    static double perplexity(Path saved, String backend, String name) throws Exception {
        Path json = dir.resolve(name + "-" + backend + ".json");
        String[] r = CliRun.run("eval", "ppl", "--model", saved.toString(), "--tokenizer", model.resolve("tokenizer.bin").toString(),
                "--dataset", text.toString(), "--seqlen", "32", "--limit", "3", "--backend", backend, "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        var n = new ObjectMapper().readTree(json.toFile());
        assertThat(n.get("backend").asText()).isEqualTo(backend);
        return n.get("perplexity").asDouble();
    }

    @Test void aPackedModelScoresTheSameOnTheDevice() throws Exception {
        String[][] cases = {{"rtn", "W4A16g32"}, {"gptq", "W3A16"}, {"quarot-rtn", "W4A4KV4"}};
        for (String[] c : cases) {
            Path saved = dir.resolve(c[0] + "-" + c[1]);
            String[] q = CliRun.run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                    "--nsamples", "4", "--eval-windows", "2", "--config", c[1], "--method", c[0], "--save", saved.toString());
            assertThat(q[0]).as(q[2]).isEqualTo("0");
            double cpu = perplexity(saved, "cpu", saved.getFileName().toString()), gpu = perplexity(saved, "opencl", saved.getFileName().toString());
            assertThat(Math.abs(gpu - cpu) / cpu).as("%s %s: cpu %s, opencl %s", c[0], c[1], cpu, gpu).isLessThan(1e-4);
            String[] g = CliRun.run("generate", "--model", saved.toString(), "--tokenizer", model.resolve("tokenizer.bin").toString(),
                    "--prompt", "Once upon", "-n", "6", "--backend", "opencl");
            assertThat(g[0]).as(g[2]).isEqualTo("0");
            assertThat(g[2]).contains("6 generated");
        }
    }
}
