package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.io.GgufFile;
import dev.stiefel.llama.io.GgufLoader;
import dev.stiefel.llama.io.HuggingFaceWriter;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.llama.train.Init;
import dev.stiefel.llama.train.StoryCorpus;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.stiefel.cli.CliRun.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code quantize --save model.gguf} of a Hugging Face checkpoint whose tokenizer.json is Qwen's kind (byte-level BPE
 * split by Qwen's regex): the file carries the vocabulary with tokenizer.ggml.pre "qwen2" and tokenizes as the
 * tokenizer.json does, and a rotation method's file scores what its row scored.
 */
class GgufSaveCliTest {
    @TempDir Path dir;

    private static final String QWEN2_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** GPT-2's byte-to-unicode map (openai/gpt-2 encoder.py): printable bytes stand for themselves, the rest for 256 + n. */
    private static char byteChar(int b) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (char) b;
        int n = 0;
        for (int x = 0; x < b; x++) if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        return (char) (256 + n);
    }

    /** 256 byte tokens, merges of a few frequent pairs of the stories, and <|endoftext|> (special). */
    private static void writeQwenStyleTokenizer(Path file) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        ObjectNode model = root.putObject("model").put("type", "BPE");
        ObjectNode vocab = model.putObject("vocab");
        ArrayNode merges = model.putArray("merges");
        int id = 0;
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(byteChar(b)), id++);
        String sp = String.valueOf(byteChar(' '));
        for (String[] m : new String[][]{{"t", "h"}, {"th", "e"}, {sp, "the"}, {"a", "n"}, {sp, "an"}, {"e", "d"}, {"1", "2"}}) {
            merges.add(m[0] + " " + m[1]);
            vocab.put(m[0] + m[1], id++);
        }
        root.putArray("added_tokens").addObject().put("id", id).put("content", "<|endoftext|>").put("special", true);
        ArrayNode steps = root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
        steps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false).putObject("pattern").put("Regex", QWEN2_REGEX);
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
        root.putObject("decoder").put("type", "ByteLevel");
        Files.writeString(file, json.writeValueAsString(root));
    }

    @Test void aByteLevelTokenizerJsonIsWrittenWithItsPreTokenizerAndARotationMethodsFileScoresItsRow() throws Exception {
        // 300 embedding rows for 264 tokens: the file pads the vocabulary to the model's size
        LlamaConfig c = new LlamaConfig(32, 48, 2, 4, 2, 8, 300, 1e-5f, 10000, null, Rope.Layout.HALF, false, 64);
        Path model = dir.resolve("model"), text = dir.resolve("text.txt"), calib = dir.resolve("calib.txt"), json = dir.resolve("q.json");
        HuggingFaceWriter.write(Init.gpt2(c, 3), model);
        writeQwenStyleTokenizer(model.resolve("tokenizer.json"));
        Files.writeString(text, new StoryCorpus(2).stories(20) + " 12 and 2024.");
        Files.writeString(calib, new StoryCorpus(5).stories(20));
        String pattern = dir.resolve("{method}-{config}.gguf").toString();
        String[] r = run("quantize", "--model", model.toString(), "--calib", calib.toString(), "--eval", text.toString(), "--seqlen", "32",
                "--nsamples", "4", "--eval-windows", "3", "--config", "Q8_0", "--method", "rtn,quarot-rtn", "--json", json.toString(), "--save", pattern);
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[2]).doesNotContain("without tokenizer.ggml");

        JsonNode rows = new ObjectMapper().readTree(json.toFile()).get("results");
        for (int i = 1; i < rows.size(); i++)   // the file read back scores what the evaluated model scored, to the last bit
            assertThat(rows.get(i).get("gguf_file").get("perplexity")).as(rows.get(i).get("method").asText()).isEqualTo(rows.get(i).get("perplexity"));
        assertThat(rows.get(2).get("report").get("online_at_run_time")).as("nothing online on llama.cpp's grids").isEmpty();
        assertThat(rows.get(2).get("report").get("transforms").get("online_left_out")).isNotEmpty();

        Tokenizer original = Tokenizers.load(model.resolve("tokenizer.json"));
        Path file = dir.resolve("quarot-rtn-Q8_0.gguf");
        try (GgufFile f = GgufFile.open(file)) {
            assertThat(f.metadata().string("tokenizer.ggml.pre")).isEqualTo("qwen2");
            assertThat(f.metadata().strings("tokenizer.ggml.tokens")).hasSize(300);
        }
        try (LoadedModel m = GgufLoader.load(file)) {
            Tokenizer back = m.embeddedTokenizer();
            String sample = Files.readString(text).substring(0, 400) + "<|endoftext|> 12 and 2024.";
            assertThat(back.encode(sample, false)).isEqualTo(original.encode(sample, false));
            assertThat(back.eos()).isEqualTo(original.eos());
        }
        String[] again = run("eval", "ppl", "--model", file.toString(), "--dataset", text.toString(), "--seqlen", "32", "--limit", "3");
        assertThat(again[0]).as(again[2]).isEqualTo("0");
        assertThat(new ObjectMapper().readTree(again[1]).get("perplexity")).isEqualTo(rows.get(2).get("perplexity").get(text.toString()));
    }
}
