package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The commands end to end, in-process, on a small generated Hugging Face checkpoint. */
class CliTest {
    @TempDir static Path dir;
    static Path model, text;

    @BeforeAll static void writeCheckpointAndText() throws Exception {
        CliRun.Fixture f = CliRun.checkpoint(dir, 5, 120, 3);
        model = f.model();
        text = f.text();
    }

    private static String[] run(String... args) { return CliRun.run(args); }

    @Test void generateStreamsTokensAndReportsSpeed() {
        String[] r = run("generate", "--model", model.toString(), "--prompt", "Once upon", "-n", "12");
        assertThat(r[0]).isEqualTo("0");
        assertThat(r[1]).startsWith("Once upon");
        assertThat(r[2]).contains("tokens/s");
    }

    @Test void evalPplWritesJsonWithTheProtocolDetails() throws Exception {
        Path json = dir.resolve("ppl.json");
        String[] r = run("eval", "ppl", "--model", model.toString(), "--dataset", text.toString(), "--seqlen", "32", "--limit", "5", "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertThat(n.get("windows").asInt()).isEqualTo(5);
        assertThat(n.get("seqlen").asInt()).isEqualTo(32);
        assertThat(n.get("tokens_scored").asInt()).isEqualTo(5 * 31);
        assertThat(n.get("perplexity").asDouble()).isBetween(50.0, 1000.0); // an untrained 300-token model: near uniform
    }

    @Test void quantizeComparesMethodsInOneRunAndSavesALoadableModel() throws Exception {
        Path json = dir.resolve("q.json"), saved = dir.resolve("saved");
        String[] r = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "8", "--eval-windows", "4", "--config", "W4A16g16,W8A8", "--method", "rtn,gptq", "--json", json.toString(),
                "--save", saved.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("fp16", "W4A16 g16", "W8A8", "rtn", "gptq");
        assertThat(r[2]).contains("calibration tokens"); // the same file serves both: split, and said so
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        assertThat(n.get("results")).hasSize(1 + 2 * 2);
        assertThat(n.get("results").get(1).get("settings").get("weights").asText()).startsWith("int4");
        assertThat(Files.exists(saved.resolve("config.json"))).isTrue();
        String[] again = run("eval", "ppl", "--model", saved.toString(), "--tokenizer", model.resolve("tokenizer.bin").toString(),
                "--dataset", text.toString(), "--seqlen", "32", "--limit", "2");
        assertThat(again[0]).as(again[2]).isEqualTo("0");
    }

    @Test void quantizeSavesAGptqCheckpointThatLoadsBack() throws Exception {
        Path saved = dir.resolve("gptq-format"), json = dir.resolve("gptq.json");
        String[] r = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "2", "--config", "W4A16g16", "--wsym", "--method", "rtn", "--save-format", "gptq",
                "--save", saved.toString(), "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[2]).contains("as a GPTQ checkpoint (14 linears, 4-bit, group 16, symmetric)").contains("perplexity of the file read back");
        assertThat(Files.readString(saved.resolve("config.json"))).contains("\"quant_method\" : \"gptq\"");
        assertThat(new ObjectMapper().readTree(json.toFile()).get("gptq_file").get("perplexity")).isNotNull();
        String[] again = run("eval", "ppl", "--model", saved.toString(), "--tokenizer", model.resolve("tokenizer.bin").toString(),
                "--dataset", text.toString(), "--seqlen", "32", "--limit", "2");
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        // refused before anything loads: activations quantized; after quantizing: act-order groups (dynamic groups are written)
        String[] act = run("quantize", "--model", dir.resolve("no-such-model").toString(), "--config", "W4A8", "--save-format", "gptq", "--save", saved.toString());
        assertThat(act[0]).isEqualTo("2");
        assertThat(act[2]).contains("weight-only").doesNotContain("no-such-model");
        String[] dynamic = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "2", "--config", "W4A16g16", "--wsym", "--method", "gptq", "--save-format", "gptq",
                "--save", dir.resolve("dynamic").toString());
        assertThat(dynamic[0]).as(dynamic[2]).isEqualTo("0");
        assertThat(dynamic[2]).contains("as a GPTQ checkpoint").contains("perplexity of the file read back");
        String[] actOrder = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "2", "--config", "W4A16g16", "--wsym", "--method", "gptq", "--act-order", "--save-format", "gptq",
                "--save", dir.resolve("act-order").toString());
        assertThat(actOrder[0]).isEqualTo("2");
        assertThat(actOrder[2]).contains("--static-groups");
    }

    @Test void quantizeSavesAPackedModelThatRunsWithItsOnlineTransforms() throws Exception {
        Path saved = dir.resolve("packed"), json = dir.resolve("packed.json");
        String[] r = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "3", "--config", "W4A4KV4", "--method", "quarot", "--save", saved.toString(), "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[2]).contains("as a packed model: 14 matrices in int4 per row asymmetric codes").contains("tokenizer tokenizer.bin copied");
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        double evaluated = n.get("results").get(1).get("perplexity").elements().next().asDouble();
        double file = n.get("packed_file").get("perplexity").elements().next().asDouble();
        // the products' summation order differs (packed kernels), so the doubles may too (5e-9 relative seen); the
        // printed figure may not
        assertThat(String.format(java.util.Locale.ROOT, "%.4f", file)).as("the packed file read back, on the packed kernels")
                .isEqualTo(String.format(java.util.Locale.ROOT, "%.4f", evaluated));
        // the tokenizer travelled with it: no --tokenizer needed
        Path pplJson = dir.resolve("packed-ppl.json");
        String[] again = run("eval", "ppl", "--model", saved.toString(), "--dataset", text.toString(), "--seqlen", "32", "--limit", "3", "--json", pplJson.toString());
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        assertThat(again[1]).contains("(packed)");
        String[] gen = run("generate", "--model", saved.toString(), "--prompt", "Once upon", "-n", "5");
        assertThat(gen[0]).as(gen[2]).isEqualTo("0");
        String[] info = run("info", "--model", saved.toString());
        assertThat(info[0]).as(info[2]).isEqualTo("0");
        assertThat(info[1]).contains("packed      quarot, W4A4KV4").contains("online      MLP_OUT: x·Hadamard 48").contains("weights     ");
        // what the other formats cannot hold is refused, and says where it can go
        String[] hf = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "1", "--config", "W4A4KV4", "--method", "quarot", "--save-format", "hf", "--save", dir.resolve("hf").toString());
        assertThat(hf[0]).isEqualTo("2");
        assertThat(hf[2]).contains("run at inference time").contains("packed format");
        String[] g16 = run("quantize", "--model", dir.resolve("no-such-model").toString(), "--config", "W4A16g16", "--save", dir.resolve("g16").toString());
        assertThat(g16[0]).isEqualTo("2");
        assertThat(g16[2]).contains("multiple of 32").doesNotContain("no-such-model");
        String[] again2 = run("quantize", "--model", saved.toString(), "--config", "W4A16", "--eval", text.toString(), "--calib", text.toString());
        assertThat(again2[0]).isEqualTo("2");
        assertThat(again2[2]).contains("already quantized");
    }

    /** The bench commands on a one-block SmolLM-135M shape: a synthetic GGUF, quantize on it (written once, reused), the packed runtime timed. */
    @Test void benchCommandsWriteTheirCheckpointAndTimeThePackedRuntime() throws Exception {
        Path gguf = dir.resolve("smol.gguf"), cache = dir.resolve("synthetic");
        String[] ck = run("bench", "checkpoint", "--preset", "smollm-135m", "--layers", "1", "--dtype", "bf16", "--out", gguf.toString());
        assertThat(ck[0]).as(ck[2]).isEqualTo("0");
        assertThat(Files.size(gguf)).isGreaterThan(2L * 49152 * 576);
        String[] q = run("bench", "quantize", "--preset", "smollm-135m", "--layers", "1", "--cache", cache.toString(), "--method", "rtn",
                "--config", "W4A16g32", "--calib", text.toString(), "--eval", text.toString(), "--nsamples", "1", "--seqlen", "16", "--eval-windows", "1");
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        assertThat(q[1]).contains("W4A16 g32", "rtn");
        assertThat(q[2]).contains("writing smollm-135m").contains("time: load").contains("memory: peak heap");
        String[] again = run("bench", "quantize", "--preset", "smollm-135m", "--layers", "1", "--cache", cache.toString(), "--method", "rtn",
                "--config", "W4A16g32", "--calib", text.toString(), "--eval", text.toString(), "--nsamples", "1", "--seqlen", "16", "--eval-windows", "1");
        assertThat(again[2]).contains("reusing");
        String[] g = run("bench", "generate", "--preset", "smollm-135m", "--layers", "1", "--quant", "W4A16g32", "--prompt", "4", "--tokens", "2", "--reps", "1");
        assertThat(g[0]).as(g[2]).isEqualTo("0");
        assertThat(g[1]).contains("then RTN to W4A16 g32 codes").contains("prefill:").contains("decode:").containsPattern("peak heap [0-9.]+ MiB while generating")
                .containsPattern("% of the [0-9.]+ GB/s this machine streams on [0-9]+ threads");
        String[] bad = run("bench", "generate", "--quant", "W4A16g16");
        assertThat(bad[0]).isEqualTo("2");
        assertThat(bad[2]).contains("multiple of 32");
    }

    @Test void everyMethodRunsEndToEndOnAGeneratedCheckpoint() throws Exception {
        Path json = dir.resolve("all.json");
        String[] r = run("quantize", "--model", model.toString(), "--calib", text.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "2", "--config", "W4A4KV4", "--method", String.join(",", dev.stiefel.quant.catalog.Methods.NAMES),
                "--json", json.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        JsonNode n = new ObjectMapper().readTree(json.toFile());
        JsonNode rows = n.get("results");
        assertThat(rows).hasSize(1 + dev.stiefel.quant.catalog.Methods.NAMES.size());
        assertThat(rows.get(0).get("method").asText()).isEqualTo("fp");
        // the run's cost: seconds per stage (one per method), the peak heap, the model file's size
        assertThat(r[2]).contains("time: load").contains("quantize flatquant").contains("memory: peak heap");
        JsonNode cost = n.get("cost");
        assertThat(cost.get("seconds").size()).isEqualTo(3 + dev.stiefel.quant.catalog.Methods.NAMES.size());
        assertThat(cost.get("model_file_bytes").asLong()).isEqualTo(Files.size(model.resolve("model.safetensors")));
        assertThat(cost.get("peak_heap_bytes").asLong()).isGreaterThan(1 << 20);
        double fp = rows.get(0).get("perplexity").elements().next().asDouble();
        for (int i = 1; i < rows.size(); i++) {
            JsonNode row = rows.get(i);
            String method = row.get("method").asText();
            double ppl = row.get("perplexity").elements().next().asDouble();
            assertThat(method).isEqualTo(dev.stiefel.quant.catalog.Methods.NAMES.get(i - 1));
            // The generated model is untrained (GPT-2 init, logits near 0), so W4A4KV4 moves its perplexity little: measured
            // within 0.3% of fp for every method. NaN, blown-up logits or a model that predicts nothing (uniform, ppl = the
            // vocabulary size, 2.4% above fp here) fall outside 1%.
            assertThat(Math.abs(ppl / fp - 1)).as("%s: ppl %s vs fp %s", method, ppl, fp).isLessThan(0.01);
            // and the method did quantize: a model handed back unchanged would give fp's figure exactly
            assertThat(ppl).as("%s", method).isNotEqualTo(fp);
        }
    }

    @Test void trainWritesALoadableModelAndResumes() throws Exception {
        Path out = dir.resolve("trained");
        String[] common = {"train", "--corpus", text.toString(), "--vocab", "300", "--dim", "16", "--hidden", "24", "--layers", "1",
                "--heads", "2", "--kv-heads", "1", "--context", "32", "--seqlen", "16", "--batch", "2", "--checkpoint-every", "3",
                "--eval-every", "3", "--out", out.toString()};
        String[] r = run(concat(common, "--steps", "3"));
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(Files.readAllLines(out.resolve("train_log.csv"))).hasSize(1 + 3);
        String[] resumed = run(concat(common, "--steps", "6", "--resume"));
        assertThat(resumed[0]).as(resumed[2]).isEqualTo("0");
        assertThat(resumed[2]).contains("resumed from").contains("at step 3");
        assertThat(Files.readAllLines(out.resolve("train_log.csv"))).hasSize(1 + 6);
        assertThat(run("generate", "--model", out.toString(), "-n", "5")[0]).isEqualTo("0");
    }

    /** The README's main command, on the model inside the program: it tells the learned stories and predicts them well. */
    @Test void demoRunsOnTheEmbeddedModel() {
        String[] r = run("demo", "--windows", "5");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("embedded story model", "260,032 parameters", "Once upon a time, there was");
        double ppl = Double.parseDouble(r[1].replaceAll("(?s).*perplexity ([0-9.]+) on.*", "$1"));
        assertThat(ppl).isBetween(1.0, 1.6);
        String[] q = run("quantize", "--nsamples", "8", "--eval-windows", "5", "--config", "W8A8");
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        assertThat(q[1]).contains("W8A8", "gptq");
    }

    @Test void badInputIsAMessageNotAStackTrace() {
        String[] r = run("eval", "ppl", "--model", dir.resolve("nope").toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("stiefel:").contains("nope").doesNotContain("\tat ");
        String[] q = run("quantize", "--model", model.toString(), "--config", "W9A16", "--calib", text.toString(), "--eval", text.toString());
        assertThat(q[0]).isEqualTo("2");
        assertThat(q[2]).contains("bits must be 2..8");
        String[] rot = run("quantize", "--model", model.toString(), "--config", "W8A8", "--method", "quarot-rtn", "--calib", text.toString(),
                "--eval", text.toString(), "--seqlen", "32", "--nsamples", "4", "--eval-windows", "2", "--save-format", "hf", "--save", dir.resolve("rotated").toString());
        assertThat(rot[0]).isEqualTo("2");
        assertThat(rot[2]).contains("cannot hold them");
        assertThat(Files.exists(dir.resolve("rotated"))).isFalse();
    }

    /** Configs and methods are checked before anything is loaded: with a model that does not exist, the typo is what is reported. */
    @Test void badConfigsAndMethodsFailBeforeAnyLoading() {
        String missing = dir.resolve("no-such-model").toString();
        String[] config = run("quantize", "--model", missing, "--config", "W4A16g32,W9A16");
        assertThat(config[0]).isEqualTo("2");
        assertThat(config[2]).contains("bits must be 2..8").doesNotContain("no-such-model");
        String[] method = run("quantize", "--model", missing, "--method", "rtn,nosuch");
        assertThat(method[0]).isEqualTo("2");
        assertThat(method[2]).contains("unknown method 'nosuch'").doesNotContain("no-such-model");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
