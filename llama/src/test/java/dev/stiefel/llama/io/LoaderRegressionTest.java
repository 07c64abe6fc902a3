package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Rope;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The model-file cases of issue 20's table, each as the file that once crashed a reader: now every one is a
 * {@link ModelFormatException} naming the file, the field or offset and what was expected, and nothing stays mapped.
 * (The tokenizer cases are in {@code tokenizer.TokenizerRegressionTest}.)
 */
class LoaderRegressionTest {
    @TempDir Path dir;

    private static LlamaWeights tiny() {
        LlamaConfig c = new LlamaConfig(32, 64, 2, 4, 2, 8, 40, 1e-5f, 10000, null, Rope.Layout.INTERLEAVED, false, 48);
        return dev.stiefel.llama.testing.RandomModels.random(c, 5, DType.F32);
    }

    /** llama2.c: a huge layer count sized arrays (an OutOfMemoryError, 8 GiB) before anything checked it, and leaked the mapping. */
    @ParameterizedTest
    @EnumSource(Llama2cWriter.Version.class)
    void llama2cHugeLayerCountIsRefusedBeforeAllocating(Llama2cWriter.Version version) throws IOException {
        Path p = dir.resolve("m.bin");
        Llama2cWriter.write(tiny(), p, version, 32);
        int headerAt = version == Llama2cWriter.Version.LEGACY ? 0 : 8;
        byte[] b = Files.readAllBytes(p);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(headerAt + 8, Integer.MAX_VALUE); // n_layers
        Files.write(p, b);
        ReadLimits.resetLargestRequest();
        assertThatThrownBy(() -> Llama2cLoader.load(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(p.toString()) // the per-layer norms come first and run out: the first one that does not fit is named
                .hasMessageMatching(".*: truncated: tensor (rms_att_weight|attention_norm)\\[\\d+] at offset \\d+ needs 128 bytes but the file ends at "
                        + b.length);
        assertThat(ReadLimits.largestRequest()).as("bytes a header made the reader allocate").isLessThanOrEqualTo(b.length);
        assertThat(OpenFiles.under(dir)).as("mappings left open").isEmpty();
    }

    /** safetensors: a shape of more than 2^31-1 elements threw IllegalArgumentException from Shape.numel. */
    @Test void safetensorsShapeBeyondOneTensorIsAFormatError() throws IOException {
        for (String shape : new String[]{"[65536, 65536]", "[65536, 65536, 65536, 65536]" /* 2^64: wraps to 0 in a long */}) {
            Path p = dir.resolve("big.safetensors");
            Files.write(p, safetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": [0, 0]}}"));
            assertThatThrownBy(() -> SafetensorsFile.open(p)).isInstanceOf(ModelFormatException.class)
                    .hasMessageStartingWith(p.toString()).hasMessageContaining("tensor 'w'").hasMessageContaining("more than 2^31-1 elements");
            assertThat(OpenFiles.under(dir)).isEmpty();
        }
    }

    /** config.json: invalid UTF-8 surfaced as "MalformedInputException: Input length = 1" with no file named. */
    @Test void configWithInvalidUtf8NamesTheFileAndPlace() throws IOException {
        Path cfg = dir.resolve("config.json");
        byte[] ok = "{\"model_type\": \"llama\", \"hidden_size\": 32}".getBytes(StandardCharsets.UTF_8);
        ok[17] = (byte) 0xFF; // inside "llama"
        Files.write(cfg, ok);
        assertThatThrownBy(() -> HuggingFaceConfig.read(cfg)).isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(cfg.toString()).hasMessageContaining("UTF-8").hasMessageContaining("line 1");
    }

    /** GGUF vocabulary: a corrupt byte piece or missing scores threw IllegalArgumentException naming neither file nor offset. */
    @Test void ggufVocabularyWithACorruptBytePieceOrNoScoresIsAFormatError() throws IOException {
        Vocabulary good = IoFixtures.spmVocabulary(40, new Random(1));
        int[] types = good.types().clone();
        types[4] = Vocabulary.BYTE; // '▁tok4', not <0xXX>
        Vocabulary badByte = new Vocabulary(good.kind(), good.tokens(), good.scores(), types, List.of(), 1, 2, 0, true, true);
        Vocabulary noScores = new Vocabulary(good.kind(), good.tokens(), null, good.types(), List.of(), 1, 2, 0, true, true);
        String[] expected = {"token 4 '▁tok4' has type BYTE but is not a <0xXX> piece", "needs merge scores"};
        Vocabulary[] bad = {badByte, noScores};
        for (int i = 0; i < bad.length; i++) {
            Path p = dir.resolve("v" + i + ".gguf");
            GgufModelWriter.write(tiny(), bad[i], p, GgmlType.F32);
            assertThatThrownBy(() -> GgufLoader.load(p)).isInstanceOf(ModelFormatException.class)
                    .hasMessageStartingWith(p.toString()).hasMessageContaining("tokenizer.ggml").hasMessageContaining("offset")
                    .hasMessageContaining(expected[i]);
            assertThat(OpenFiles.under(dir)).isEmpty();
        }
    }

    /** The index names its shards: a name that is no file name (NUL, empty, a path) is refused, not resolved. */
    @Test void indexShardNamesMustBeFileNames() throws IOException {
        HuggingFaceWriter.write(tiny(), dir, DType.F32, 20_000);
        Path index = dir.resolve(HuggingFaceLoader.INDEX);
        String text = Files.readString(index);
        String shard = text.substring(text.indexOf("model-0"), text.indexOf(".safetensors") + ".safetensors".length());
        for (String bad : new String[]{"a\\u0000b", "", "../" + shard}) {
            Files.writeString(index, text.replace(shard, bad));
            assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                    .hasMessageStartingWith(index.toString()).hasMessageContaining("is mapped to");
            assertThat(OpenFiles.under(dir)).isEmpty();
        }
    }

    /** GGUF: general.alignment 2^31 passed as a power of two and became a negative int alignment. */
    @Test void ggufAlignmentMustFitAnInt() throws IOException {
        Path p = dir.resolve("a.gguf");
        new GgufWriter().alignment(64).putString("general.architecture", "llama").write(p);
        byte[] b = Files.readAllBytes(p);
        byte[] key = "general.alignment".getBytes(StandardCharsets.UTF_8);
        int at = indexOf(b, key) + key.length + 4; // after the key, the UINT32 type tag, then the value
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, 1 << 31);
        Files.write(p, b);
        assertThatThrownBy(() -> GgufFile.open(p)).isInstanceOf(ModelFormatException.class).hasMessageStartingWith(p.toString())
                .hasMessageContaining("general.alignment at offset " + at).hasMessageContaining("power of two up to 2^30");
        assertThat(OpenFiles.under(dir)).isEmpty();
    }

    /** The leak check the fuzz test relies on sees a mapping while it is open, and not after close. */
    @Test void openFilesSeesAMappingUntilItIsClosed() throws IOException {
        Assumptions.assumeTrue(OpenFiles.available(), "no /proc/self/maps here");
        Path p = dir.resolve("x.bin");
        Files.write(p, new byte[4096]);
        MappedFile f = MappedFile.open(p);
        try {
            assertThat(OpenFiles.under(dir)).anySatisfy(line -> assertThat(line).startsWith("mapping").contains(p.toString()));
        } finally {
            f.close();
        }
        assertThat(OpenFiles.under(dir)).isEmpty();
    }

    private static int indexOf(byte[] b, byte[] key) {
        outer:
        for (int i = 0; i + key.length <= b.length; i++) {
            for (int j = 0; j < key.length; j++) if (b[i + j] != key[j]) continue outer;
            return i;
        }
        throw new AssertionError("key not found");
    }

    private static byte[] safetensors(String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN);
        return b.putLong(h.length).put(h).array();
    }
}
