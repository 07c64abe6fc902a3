package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.opencl.OpenClBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code quantize --method ostquant --backend opencl} on the real stories260K (TinyStories calibration and evaluation,
 * W4A4KV4, OSTQuant's defaults): the full-precision perplexity within 1e-4 of the CPU's and the quantized model's
 * within 1%. The learning runs on the device (a square rotation's Cayley step as matrix products, the CPU's f64 solve
 * below 256 columns), so the two runs agree to f32 rounding amplified through the 4-bit objective, not to the bit.
 */
class OstQuantOnOpenClCliTest {
    @TempDir Path dir;

    @Test void ostQuantOnTheDeviceScoresAsOnTheCpu() throws Exception {
        Assumptions.assumeTrue(OpenClBackend.shared().isPresent(), () -> "skipped: no OpenCL backend here: " + OpenClBackend.unavailableReason());
        Path shared = Path.of(System.getProperty("stiefel.shared", "../shared"));
        Path model = shared.resolve("models/stories260K/stories260K.bin");
        Assumptions.assumeTrue(Files.isRegularFile(model) && Files.isRegularFile(shared.resolve("data/tinystories/tinystories_val.txt")),
                "stories260K or TinyStories is not in ../shared (" + shared + "); skipped");
        JsonNode cpu = quantize(model, "cpu"), gpu = quantize(model, "opencl");
        double cpuFp = perplexity(cpu, "fp"), gpuFp = perplexity(gpu, "fp");
        double cpuOst = perplexity(cpu, "ostquant"), gpuOst = perplexity(gpu, "ostquant");
        assertThat(Math.abs(gpuFp - cpuFp) / cpuFp).as("fp: cpu %s, opencl %s", cpuFp, gpuFp).isLessThan(1e-4);
        assertThat(Math.abs(gpuOst - cpuOst) / cpuOst).as("ostquant: cpu %s, opencl %s", cpuOst, gpuOst).isLessThan(1e-2);
        assertThat(cpuOst).as("W4A4KV4 costs this tiny model perplexity").isGreaterThan(cpuFp);
    }

    private JsonNode quantize(Path model, String backend) throws Exception {
        Path json = dir.resolve(backend + ".json");
        String[] r = CliRun.run("quantize", "--model", model.toString(), "--calib", "tinystories", "--eval", "tinystories",
                "--nsamples", "8", "--seqlen", "128", "--eval-windows", "6", "--config", "W4A4KV4", "--method", "ostquant",
                "--backend", backend, "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        return new ObjectMapper().readTree(json.toFile());
    }

    private static double perplexity(JsonNode report, String method) {
        for (JsonNode r : report.get("results"))
            if (r.get("method").asText().equals(method)) return r.get("perplexity").get("tinystories").asDouble();
        throw new AssertionError("no " + method + " result in " + report);
    }
}
