package dev.stiefel.bench;

import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Tokenizers;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Encoding and decoding the whole WikiText-2 test split (1.29 M characters) in one call, the way perplexity
 * evaluation tokenizes it. Tokenizers and text come from ../shared (or {@code -Dstiefel.shared=DIR}); tokens/s is
 * the token count printed at setup divided by the time per op.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
public class TokenizerBench {
    @Param({"tokenizers/llama2/tokenizer.model", "models/stories260K/tok512.bin"}) String tokenizer;

    Tokenizer t;
    String text;
    int[] ids;

    @Setup public void setup() throws IOException {
        Path shared = Path.of(System.getProperty("stiefel.shared", "../shared"));
        t = Tokenizers.load(shared.resolve(tokenizer));
        text = Files.readString(shared.resolve("data/wikitext2/wiki.test.raw"), StandardCharsets.UTF_8);
        ids = t.encode(text, true);
        System.out.println("\n" + tokenizer + ": " + text.length() + " chars -> " + ids.length + " tokens");
    }

    @Benchmark public int[] encodeWikiText() { return t.encode(text, true); }

    @Benchmark public String decodeWikiText() { return t.decode(ids); }
}
