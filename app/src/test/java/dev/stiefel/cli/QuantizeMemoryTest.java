package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.SyntheticWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 19's memory regression test: {@code quantize --method rtn,gptq} on a mid-size synthetic checkpoint
 * (SmolLM-135M's shape, 16 blocks, bf16, memory-mapped) in a JVM whose heap is smaller than the quantized blocks in f32
 * (216 MiB). RTN and GPTQ keep each quantized weight as packed codes, so it fits (it also runs at -Xmx160m); the code
 * before (an f32 copy of every quantized weight) ran out of heap on this same command even at -Xmx192m, and GPTQ alone
 * on 12 blocks needed more than 256m (measured 2026-12-05).
 */
class QuantizeMemoryTest {
    private static final String HEAP = "-Xmx176m";

    @TempDir Path dir;

    @Test void rtnAndGptqOfAMidSizeModelFitInAHeapSmallerThanTheirF32Weights() throws Exception {
        Path model = dir.resolve("smollm-16.gguf"), json = dir.resolve("report.json");
        CliRun.run("bench", "checkpoint", "--preset", "smollm-135m", "--layers", "16", "--dtype", "bf16", "--out", model.toString());
        LlamaConfig c = SyntheticWeights.preset("smollm-135m");
        long blockWeights = 16L * ((long) c.dim() * c.qDim() * 2 + 2L * c.dim() * c.kvDim() + 3L * c.dim() * c.hiddenDim());
        assertThat(4 * blockWeights).as("the quantized block weights in f32, bytes").isGreaterThan(176L << 20);

        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), HEAP, "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "quantize", "--model", model.toString(), "--method", "rtn,gptq",
                "--config", "W4A16g128", "--calib", "stories-calib", "--nsamples", "2", "--eval", "stories", "--eval-windows", "1", "--seqlen", "64", "--json", json.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("quantize under %s:%n%s", HEAP, out).isZero();
        JsonNode results = new ObjectMapper().readTree(json.toFile()).path("results");
        assertThat(results.findValuesAsText("method")).contains("rtn", "gptq");
    }
}
