package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.Llama2cTokenizerFile;
import dev.stiefel.llama.tokenizer.ProtoWriter;
import dev.stiefel.llama.tokenizer.SentencePieceModelFile;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.TokenizerFormatException;
import dev.stiefel.llama.tokenizer.TokenizerJsonFile;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import dev.stiefel.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Seeded mutation fuzzing of every file reader (docs/robustness.md). Each case takes a seed file, corrupts it
 * ({@link Mutations}), writes it into a fresh directory and loads it on a worker thread. The contract is only: the load
 * succeeds (and what it loaded can be used: a tokenizer encodes and decodes, tensors are cut), or it fails with the
 * reader's format exception ({@link ModelFormatException}, {@link TokenizerFormatException}) whose message names the
 * file; no other exception or error, no case running past its time limit, and no mapping or descriptor of the file left
 * open afterwards. Seeds are small files written here plus the files in ../shared when present.
 *
 * <p>The normal suite runs {@value #QUICK_CASES} cases per reader. The long campaign:
 * {@code ./stiefel test -o -pl llama -am -Dtest=LoaderFuzzTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dstiefel.fuzz.cases=10000} (optionally {@code -Dstiefel.fuzz.seed=N}, {@code -Dstiefel.fuzz.timeoutSeconds=S}) prints
 * and writes {@code llama/target/fuzz-report.md}: per reader the cases, clean loads, clean errors, contract failures
 * and the largest allocation a corrupted file made a reader ask for ({@link ReadLimits#largestRequest()}).
 */
class LoaderFuzzTest {
    static final int QUICK_CASES = 250;
    private static final int CASES = Integer.getInteger("stiefel.fuzz.cases", QUICK_CASES);
    private static final long SEED = Long.getLong("stiefel.fuzz.seed", 20_261_204L);
    private static final int TIMEOUT_S = Integer.getInteger("stiefel.fuzz.timeoutSeconds", 10);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Text every tokenizer that loads must encode and decode; the run of 'a' then 'b' trips backtracking regexes. */
    private static final String SAMPLE = "Hello world, 123 héllo ✓ <s> </s>\n\n  " + "a".repeat(40) + "b!";

    private static final Map<String, Stats> STATS = new LinkedHashMap<>();
    private static Path seedDir;

    @TempDir static Path tmp;

    /** One reader under test: its seeds, how to corrupt them, how to load one, and the exception that counts as clean. */
    private record Reader(String name, List<Seed> seeds, Function<byte[], List<Mutations.Field>> fields, Mutator mutator, Load load,
                          Class<? extends Exception> clean) {}

    private static final Function<byte[], List<Mutations.Field>> NO_FIELDS = b -> List.of();

    /** Files written into a case directory; {@code target} is the one that gets corrupted. */
    private record Seed(String name, Map<String, byte[]> files, String target) {
        static Seed of(String name, String fileName, byte[] bytes) { return new Seed(name, Map.of(fileName, bytes), fileName); }
    }

    /** Corrupts {@code in}, whose size and count fields are {@code fields}, appending what it did to {@code log}. */
    private interface Mutator { byte[] mutate(byte[] in, List<Mutations.Field> fields, Random r, StringBuilder log); }

    private static Mutator binary(int header) { return (b, fields, r, log) -> Mutations.binary(b, r, header, fields, log); }

    private static Mutator json() { return (b, fields, r, log) -> Mutations.json(b, r, log); }

    private interface Load { void load(Path dir, Path target) throws Exception; }

    private static final class Stats {
        long cases, loads, errors, failures, largestRequest, slowestNanos;
        String largestCase = "", slowestCase = "";
        final List<String> failureNotes = new ArrayList<>();
    }

    @BeforeAll static void seeds() throws IOException { seedDir = Files.createDirectories(tmp.resolve("seeds")); }

    // ---- the readers ----

    @Test void llama2cCheckpoints() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        for (Llama2cWriter.Version v : Llama2cWriter.Version.values())
            for (boolean tied : new boolean[]{true, false}) {
                Path p = seedDir.resolve("m-" + v + tied + ".bin");
                Llama2cWriter.write(tinyModel(tied, Rope.Layout.INTERLEAVED), p, v, 32);
                seeds.add(Seed.of(v + (tied ? " tied" : ""), "model.bin", Files.readAllBytes(p)));
            }
        shared("models/stories260K/stories260K.bin", "model.bin", seeds);
        campaign(new Reader("llama2.c .bin", seeds, FormatFields::llama2c, binary(300),
                (dir, f) -> { try (LlamaWeights w = Llama2cLoader.load(f)) { w.config(); } }, ModelFormatException.class));
    }

    @Test void ggufModels() throws Exception {
        campaign(new Reader("GGUF model", ggufSeeds(false), FormatFields::gguf, binary(512),
                (dir, f) -> {
                    try (LoadedModel m = GgufLoader.load(f)) { if (m.vocabulary() != null) exercise(Tokenizers.fromVocabulary(m.vocabulary())); }
                }, ModelFormatException.class));
    }

    @Test void ggufVocabularies() throws Exception {
        campaign(new Reader("GGUF vocabulary", ggufSeeds(true), FormatFields::gguf, binary(4096),
                (dir, f) -> {
                    try (GgufFile g = GgufFile.open(f)) {
                        Vocabulary v = GgufLoader.vocabulary(g);
                        if (v != null) exercise(Tokenizers.fromVocabulary(v));
                    }
                }, ModelFormatException.class));
    }

    @Test void safetensorsFiles() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        for (DType d : new DType[]{DType.F32, DType.BF16}) {
            Path dir = Files.createDirectories(seedDir.resolve("st-" + d));
            HuggingFaceWriter.write(tinyModel(false, Rope.Layout.HALF), dir, d, 0);
            seeds.add(Seed.of(d.lower(), "model.safetensors", Files.readAllBytes(dir.resolve(HuggingFaceLoader.SINGLE))));
        }
        for (String m : new String[]{"llama-bf16", "qwen2-f32", "mistral-f32"}) shared("models/hf-reference/" + m + "/model.safetensors", "model.safetensors", seeds);
        campaign(new Reader("safetensors", seeds, FormatFields::safetensors, LoaderFuzzTest::mutateSafetensors, (dir, f) -> {
            try (SafetensorsFile s = SafetensorsFile.open(f)) {
                for (SafetensorsFile.Entry e : s.entries()) {
                    if (e.dtype().tensorDType() != null) s.tensor(e.name());
                    else s.bytes(e.name());
                }
            }
        }, ModelFormatException.class));
    }

    @Test void huggingFaceConfigs() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        Path dir = Files.createDirectories(seedDir.resolve("hf-config"));
        HuggingFaceWriter.write(tinyModel(true, Rope.Layout.HALF), dir);
        seeds.add(Seed.of("tiny", "config.json", Files.readAllBytes(dir.resolve(HuggingFaceLoader.CONFIG))));
        Path refs = sharedRoot().resolve("models/hf-reference");
        if (Files.isDirectory(refs))
            try (Stream<Path> s = Files.list(refs)) {
                for (Path m : s.sorted().toList()) if (Files.isDirectory(m)) shared("models/hf-reference/" + m.getFileName() + "/config.json", "config.json", seeds);
            }
        campaign(new Reader("config.json", seeds, NO_FIELDS, json(), (d, f) -> HuggingFaceConfig.read(f), ModelFormatException.class));
    }

    @Test void huggingFaceShardedCheckpoints() throws Exception {
        Path dir = Files.createDirectories(seedDir.resolve("hf-sharded"));
        HuggingFaceWriter.write(tinyModel(false, Rope.Layout.HALF), dir, DType.F32, 20_000);
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) files.put(p.getFileName().toString(), Files.readAllBytes(p));
        }
        assertThat(files).containsKey(HuggingFaceLoader.INDEX);
        List<Seed> seeds = List.of(new Seed("index", files, HuggingFaceLoader.INDEX), new Seed("index", files, HuggingFaceLoader.INDEX),
                new Seed("config", files, HuggingFaceLoader.CONFIG));
        campaign(new Reader("safetensors index + config", seeds, NO_FIELDS, json(),
                (d, f) -> { try (LlamaWeights w = HuggingFaceLoader.load(d)) { w.config(); } }, ModelFormatException.class));
    }

    /**
     * Packed checkpoints (issue 17): config.json with its quantization section, and model.safetensors with codes,
     * scales, zero points and the section's f64 tensors, each corrupted in turn; loaded as the CLI loads them (the
     * weights, then the section's tensors) and every packed matrix decoded.
     */
    @Test void packedCheckpoints() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        for (boolean symmetric : new boolean[]{true, false}) {
            Path dir = Files.createDirectories(seedDir.resolve("packed-" + symmetric));
            PackedCheckpoint.write(packedModel(symmetric), new PackedCheckpoint.Packing(4, 32, symmetric),
                    JSON.createObjectNode().put("method", "rtn"), Map.of("quantization.online.0.left", new double[]{1, 0, 0, 1}), dir);
            Map<String, byte[]> files = new LinkedHashMap<>();
            for (String f : List.of(HuggingFaceLoader.CONFIG, HuggingFaceLoader.SINGLE)) files.put(f, Files.readAllBytes(dir.resolve(f)));
            seeds.add(new Seed("config " + symmetric, files, HuggingFaceLoader.CONFIG));
            seeds.add(new Seed("tensors " + symmetric, files, HuggingFaceLoader.SINGLE));
        }
        Mutator either = (b, fields, r, log) -> b.length > 0 && b[0] == '{' ? Mutations.json(b, r, log) : mutateSafetensors(b, fields, r, log);
        campaign(new Reader("packed checkpoint", seeds, b -> b.length > 0 && b[0] == '{' ? List.of() : FormatFields.safetensors(b), either, (d, f) -> {
            try (LoadedModel m = ModelFiles.load(d)) {
                for (Tensor t : m.weights().tensors()) t.toFloatArray();
                m.quantizationTensors().size();
            }
        }, ModelFormatException.class));
    }

    /** The tiny model with every block matrix as 4-bit codes (random scales), norms and embedding in f32. */
    private static LlamaWeights packedModel(boolean symmetric) {
        LlamaWeights w = tinyModel(false, Rope.Layout.HALF);
        java.util.List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers())
            layers.add(l.withMatrices(l.attnNorm(), pack(l.wq(), symmetric), pack(l.wk(), symmetric), pack(l.wv(), symmetric), pack(l.wo(), symmetric),
                    l.ffnNorm(), pack(l.wGate(), symmetric), pack(l.wUp(), symmetric), pack(l.wDown(), symmetric)));
        return new LlamaWeights(w.config(), w.embedding(), layers, w.finalNorm(), w.output(), List.of());
    }

    private static Tensor pack(Tensor t, boolean symmetric) {
        int rows = t.size(0), cols = t.size(1), groups = (cols + 31) / 32;
        float[] s = new float[rows * groups], z = new float[rows * groups];
        java.util.Arrays.fill(s, 0.01f);
        if (!symmetric) java.util.Arrays.fill(z, 8);
        return dev.stiefel.tensor.PackedStorage.tensor(dev.stiefel.tensor.packed.PackedMatrix.quantize(t.toFloatArray(), rows, cols, 4, 32, symmetric, s, z));
    }

    @Test void tokenizerJsonFiles() throws Exception {
        List<Seed> seeds = List.of(Seed.of("sentencepiece-style", "tokenizer.json", JSON.writeValueAsBytes(spmStyleTokenizerJson())),
                Seed.of("byte-level", "tokenizer.json", JSON.writeValueAsBytes(byteLevelTokenizerJson())));
        campaign(new Reader("tokenizer.json", seeds, NO_FIELDS, json(), (d, f) -> exercise(TokenizerJsonFile.load(f)), TokenizerFormatException.class));
    }

    @Test void sentencePieceModels() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        seeds.add(Seed.of("tiny", "tokenizer.model", tinySentencePieceModel()));
        shared("tokenizers/llama2/tokenizer.model", "tokenizer.model", seeds);
        campaign(new Reader("tokenizer.model", seeds, NO_FIELDS, binary(2048),
                (d, f) -> exercise(SentencePieceModelFile.load(f)), TokenizerFormatException.class));
    }

    @Test void llama2cTokenizers() throws Exception {
        List<Seed> seeds = new ArrayList<>();
        Path p = seedDir.resolve("tokenizer.bin");
        Llama2cTokenizerFile.write(IoFixtures.spmVocabulary(60, new Random(3)), p);
        seeds.add(Seed.of("tiny", "tokenizer.bin", Files.readAllBytes(p)));
        shared("models/stories260K/tok512.bin", "tokenizer.bin", seeds);
        shared("tokenizers/llama2/tokenizer.bin", "tokenizer.bin", seeds);
        campaign(new Reader("tokenizer.bin", seeds, FormatFields::llama2cTokenizer, binary(256),
                (d, f) -> exercise(Llama2cTokenizerFile.load(f)), TokenizerFormatException.class));
    }

    // ---- the campaign ----

    private static void campaign(Reader reader) throws Exception {
        assertThat(reader.seeds()).isNotEmpty();
        Stats st = new Stats();
        STATS.put(reader.name(), st);
        Path root = Files.createDirectories(tmp.resolve("cases-" + reader.name().replaceAll("[^A-Za-z0-9]+", "-")));
        Map<Seed, List<Mutations.Field>> fields = new java.util.IdentityHashMap<>();
        for (Seed seed : reader.seeds()) fields.put(seed, reader.fields().apply(seed.files().get(seed.target())));
        ExecutorService worker = newWorker();
        try {
            for (int i = 0; i < CASES; i++) {
                Random r = new Random(SEED * 1_000_003L + reader.name().hashCode() * 7919L + i);
                Seed seed = pickSeed(reader.seeds(), r);
                StringBuilder log = new StringBuilder();
                byte[] mutated = reader.mutator().mutate(seed.files().get(seed.target()), fields.get(seed), r, log);
                Path dir = Files.createDirectories(root.resolve("c" + i));
                for (var e : seed.files().entrySet()) Files.write(dir.resolve(e.getKey()), e.getKey().equals(seed.target()) ? mutated : e.getValue());
                Path target = dir.resolve(seed.target());
                String what = reader.name() + " case " + i + " (seed " + seed.name() + ": " + log + ")";

                ReadLimits.resetLargestRequest();
                long started = System.nanoTime();
                Future<?> run = worker.submit(() -> { reader.load().load(dir, target); return null; });
                String failure = null;
                try {
                    run.get(TIMEOUT_S, TimeUnit.SECONDS);
                    st.loads++;
                } catch (TimeoutException e) {
                    run.cancel(true);
                    worker.shutdownNow();
                    worker = newWorker(); // the stuck thread is abandoned (daemon)
                    failure = "no result within " + TIMEOUT_S + " s";
                } catch (ExecutionException e) {
                    Throwable t = e.getCause();
                    if (reader.clean().isInstance(t) && t.getMessage() != null && t.getMessage().contains(dir.toString())) st.errors++;
                    else failure = describe(t);
                }
                long took = System.nanoTime() - started;
                if (took > st.slowestNanos) {
                    st.slowestNanos = took;
                    st.slowestCase = what;
                }
                long largest = ReadLimits.largestRequest();
                if (largest > st.largestRequest) {
                    st.largestRequest = largest;
                    st.largestCase = what;
                }
                if (failure == null) {
                    List<String> open = OpenFiles.under(dir);
                    if (!open.isEmpty()) failure = "left open: " + open;
                }
                st.cases++;
                if (failure != null) {
                    st.failures++;
                    if (st.failureNotes.size() < 20) st.failureNotes.add(what + ": " + failure);
                    keep(reader, i, mutated, seed.target());
                }
                deleteTree(dir);
            }
        } finally {
            worker.shutdownNow();
        }
        report(); // after each reader, so a campaign stopped early keeps what it finished
        assertThat(st.failureNotes).as("contract failures of " + reader.name() + " (%d of %d cases)", st.failures, st.cases).isEmpty();
    }

    /**
     * A seed at random; in the normal suite the large files of ../shared (32,000-token vocabularies, stories260K)
     * are drawn a quarter as often as the small written ones, which keeps the suite fast. The campaign draws evenly.
     */
    private static Seed pickSeed(List<Seed> seeds, Random r) {
        Seed s = seeds.get(r.nextInt(seeds.size()));
        if (CASES == QUICK_CASES && s.files().get(s.target()).length > 200_000 && r.nextInt(4) != 0) {
            List<Seed> small = seeds.stream().filter(x -> x.files().get(x.target()).length <= 200_000).toList();
            if (!small.isEmpty()) s = small.get(r.nextInt(small.size()));
        }
        return s;
    }

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(null, r, "fuzz-case", 8L << 20); // the stack surefire's JVMs get (-Xss8m)
            t.setDaemon(true);
            return t;
        });
    }

    private static String describe(Throwable t) {
        StringBuilder b = new StringBuilder(t.toString());
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < Math.min(6, st.length); i++) b.append("\n      at ").append(st[i]);
        if (t.getCause() != null && t.getCause() != t) b.append("\n    caused by ").append(t.getCause());
        return b.toString();
    }

    /** A failing input, kept under target/fuzz-failures to reproduce it. */
    private static void keep(Reader reader, int i, byte[] mutated, String name) {
        try {
            Path dir = Files.createDirectories(Path.of("target", "fuzz-failures"));
            Files.write(dir.resolve(reader.name().replaceAll("[^A-Za-z0-9]+", "-") + "-" + i + "-" + name), mutated);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static void report() throws IOException {
        if (CASES == QUICK_CASES) return; // the normal suite stays quiet: its assertion says all there is
        StringBuilder b = new StringBuilder("| reader | cases | clean loads | clean errors | contract failures | largest allocation (bytes) |\n"
                + "|---|---:|---:|---:|---:|---:|\n");
        STATS.forEach((name, s) -> b.append("| ").append(name).append(" | ").append(s.cases).append(" | ").append(s.loads).append(" | ")
                .append(s.errors).append(" | ").append(s.failures).append(" | ").append(s.largestRequest).append(" |\n"));
        b.append("\n").append(LocalDate.now(ZoneOffset.UTC)).append(", seed ").append(SEED).append(", ").append(CASES).append(" cases per reader\n");
        STATS.forEach((name, s) -> b.append("\nlargest allocation of ").append(name).append(": ").append(s.largestCase).append('\n'));
        // how close a case came to the time limit, for the console only (timings on a shared machine are no figures)
        STATS.forEach((name, s) -> System.out.printf("slowest %s case: %d ms, %s%n", name, s.slowestNanos / 1_000_000, s.slowestCase));
        System.out.println(b);
        Files.writeString(Path.of("target", "fuzz-report.md"), b, StandardCharsets.UTF_8);
    }

    // ---- using what loaded ----

    /** Decodes every id and encodes and decodes the sample text; a text the vocabulary cannot cover may be refused. */
    private static void exercise(Tokenizer t) {
        for (int id = 0; id < t.vocabSize(); id++) t.tokenBytes(id, (id & 1) == 0);
        int[] ids;
        try {
            ids = t.encode(SAMPLE, true);
        } catch (IllegalArgumentException e) {
            if (!String.valueOf(e.getMessage()).contains("is not in the vocabulary")) throw e; // the one documented refusal of encode
            ids = t.encode("", true);
        }
        t.decode(ids);
        var decoder = t.streamDecoder(true);
        for (int id : ids) decoder.next(id);
    }

    // ---- seeds ----

    private static LlamaWeights tinyModel(boolean tied, Rope.Layout layout) {
        LlamaConfig c = new LlamaConfig(32, 64, 2, 4, 2, 8, 40, 1e-5f, 10000, null, layout, tied, 48);
        return dev.stiefel.llama.testing.RandomModels.random(c, 7, DType.F32);
    }

    private static List<Seed> ggufSeeds(boolean vocabularies) throws IOException {
        List<Seed> seeds = new ArrayList<>();
        Object[][] kinds = {{GgmlType.F32, IoFixtures.spmVocabulary(40, new Random(1))}, {GgmlType.Q8_0, IoFixtures.bpeVocabulary(40)},
                {GgmlType.F16, null}, {GgmlType.Q4_0, IoFixtures.spmVocabulary(40, new Random(2))}};
        for (Object[] k : kinds) {
            if (vocabularies && k[1] == null) continue;
            Path p = seedDir.resolve("m-" + k[0] + ".gguf");
            GgufModelWriter.write(tinyModel(k[1] == null, Rope.Layout.INTERLEAVED), (Vocabulary) k[1], p, (GgmlType) k[0]);
            seeds.add(Seed.of(k[0] + (k[1] == null ? "" : " " + ((Vocabulary) k[1]).kind()), "model.gguf", Files.readAllBytes(p)));
        }
        shared("models/stories260K/stories260K.gguf", "model.gguf", seeds);
        if (vocabularies) shared("tokenizers/llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf", "model.gguf", seeds);
        return seeds;
    }

    private static Path sharedRoot() { return Path.of(System.getProperty("stiefel.shared", "../shared")); }

    /** Adds a file under ../shared as a seed when it is there (the campaign still runs on the written seeds without it). */
    private static void shared(String relative, String fileName, List<Seed> seeds) throws IOException {
        Path p = sharedRoot().resolve(relative);
        if (Files.isRegularFile(p)) seeds.add(Seed.of(relative, fileName, Files.readAllBytes(p)));
        else System.out.println("LoaderFuzzTest: shared seed " + p + " is absent");
    }

    /** Half the cases corrupt the JSON header and re-frame it with the right length; the other half corrupt bytes. */
    private static byte[] mutateSafetensors(byte[] in, List<Mutations.Field> fields, Random r, StringBuilder log) {
        long n = java.nio.ByteBuffer.wrap(in).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
        if (r.nextBoolean() || n <= 0 || n > in.length - 8) return Mutations.binary(in, r, 64, fields, log);
        byte[] header = Mutations.json(java.util.Arrays.copyOfRange(in, 8, 8 + (int) n), r, log);
        byte[] out = new byte[8 + header.length + in.length - 8 - (int) n];
        java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        System.arraycopy(header, 0, out, 8, header.length);
        System.arraycopy(in, 8 + (int) n, out, 8 + header.length, in.length - 8 - (int) n);
        return out;
    }

    /** LLaMA-2 style: characters plus byte fallback, '▁' written by normalizers, BOS from the template. */
    private static ObjectNode spmStyleTokenizerJson() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode model = root.putObject("model").put("type", "BPE").put("byte_fallback", true).put("unk_token", "<unk>").put("fuse_unk", true);
        ObjectNode vocab = model.putObject("vocab");
        List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b));
        pieces.addAll(List.of("▁", "H", "e", "l", "o", "w", "r", "d", "▁H", "ll", "llo", "▁w", "or", "ld"));
        for (int i = 0; i < pieces.size(); i++) vocab.put(pieces.get(i), i);
        model.putArray("merges").add("▁ H").add("l l").add("ll o").add("▁ w").add("o r").add("l d");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < 3; i++)
            added.addObject().put("id", i).put("content", pieces.get(i)).put("special", true).put("lstrip", false).put("rstrip", false).put("single_word", false);
        ArrayNode norms = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
        norms.addObject().put("type", "Prepend").put("prepend", "▁");
        norms.addObject().put("type", "Replace").put("content", "▁").putObject("pattern").put("String", " ");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").add(JSON.createObjectNode().set("SpecialToken", JSON.createObjectNode().put("id", "<s>").put("type_id", 0)))
                .add(JSON.createObjectNode().set("Sequence", JSON.createObjectNode().put("id", "A").put("type_id", 0)));
        post.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(1);
        ArrayNode dec = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
        dec.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", "▁");
        dec.addObject().put("type", "ByteFallback");
        dec.addObject().put("type", "Fuse");
        dec.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        return root;
    }

    /** GPT-2 / LLaMA-3 style: the byte alphabet, a Split regex then ByteLevel, an added special token. */
    private static ObjectNode byteLevelTokenizerJson() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode model = root.putObject("model").put("type", "BPE").put("ignore_merges", true);
        model.putNull("unk_token");
        ObjectNode vocab = model.putObject("vocab");
        int id = 0;
        for (int b = 0; b < 256; b++) vocab.put(String.valueOf(byteChar(b)), id++);
        String[][] merges = {{"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}, {"H", "e"}, {"l", "l"}, {"He", "ll"}};
        ArrayNode m = model.putArray("merges");
        for (String[] x : merges) {
            vocab.put(x[0] + x[1], id++);
            m.addArray().add(x[0]).add(x[1]);
        }
        root.putArray("added_tokens").addObject().put("id", id).put("content", "<|begin_of_text|>").put("special", true)
                .put("lstrip", false).put("rstrip", false).put("single_word", false);
        root.putNull("normalizer");
        ArrayNode pre = root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
        ObjectNode split = pre.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false);
        split.putObject("pattern").put("Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
        pre.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").add(JSON.createObjectNode().set("SpecialToken", JSON.createObjectNode().put("id", "<|begin_of_text|>").put("type_id", 0)))
                .add(JSON.createObjectNode().set("Sequence", JSON.createObjectNode().put("id", "A").put("type_id", 0)));
        post.putObject("special_tokens").putObject("<|begin_of_text|>").put("id", "<|begin_of_text|>").putArray("ids").add(id);
        root.putObject("decoder").put("type", "ByteLevel");
        return root;
    }

    /** GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the rest for U+0100 on, in byte order. */
    private static char byteChar(int b) {
        boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (printable) return (char) b;
        int n = 0;
        for (int x = 0; x < b; x++) if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
        return (char) (256 + n);
    }

    /** A SentencePiece BPE model: unk, bos, eos, the 256 byte pieces and a few merges. */
    private static byte[] tinySentencePieceModel() {
        ProtoWriter model = new ProtoWriter();
        model.message(1, ProtoWriter.piece("<unk>", 0, Vocabulary.UNKNOWN));
        model.message(1, ProtoWriter.piece("<s>", 0, Vocabulary.CONTROL));
        model.message(1, ProtoWriter.piece("</s>", 0, Vocabulary.CONTROL));
        for (int b = 0; b < 256; b++) model.message(1, ProtoWriter.piece(String.format("<0x%02X>", b), 0, Vocabulary.BYTE));
        String[] pieces = {"▁", "H", "e", "l", "o", "w", "r", "d", "▁H", "ll", "llo", "▁w", "or", "ld"};
        for (int i = 0; i < pieces.length; i++) model.message(1, ProtoWriter.piece(pieces[i], -i, Vocabulary.NORMAL));
        model.message(2, new ProtoWriter().varint(3, 2).varint(35, 1).varint(40, 0).varint(41, 1).varint(42, 2));
        model.message(3, new ProtoWriter().string(1, "identity").varint(3, 1).varint(4, 0));
        return model.toByteArray();
    }
}
