package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Bit-exact comparisons, small vocabularies and the shared data directory, for the io tests. */
final class IoFixtures {
    private IoFixtures() {}

    /** Every tensor by a readable name (the output head under "output" even when it is the embedding). */
    static Map<String, Tensor> named(LlamaWeights w) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("embedding", w.embedding());
        for (int l = 0; l < w.layers().size(); l++) {
            LlamaWeights.Layer x = w.layer(l);
            String p = "layers." + l + ".";
            m.put(p + "attn_norm", x.attnNorm());
            m.put(p + "wq", x.wq());
            m.put(p + "wk", x.wk());
            m.put(p + "wv", x.wv());
            m.put(p + "wo", x.wo());
            m.put(p + "ffn_norm", x.ffnNorm());
            m.put(p + "w_gate", x.wGate());
            m.put(p + "w_up", x.wUp());
            m.put(p + "w_down", x.wDown());
            String[] extra = {"bq", "bk", "bv", "q_norm", "k_norm"};
            Tensor[] t = {x.bq(), x.bk(), x.bv(), x.qNorm(), x.kNorm()};
            for (int i = 0; i < t.length; i++) if (t[i] != null) m.put(p + extra[i], t[i]);
        }
        m.put("final_norm", w.finalNorm());
        m.put("output", w.output());
        return m;
    }

    /** Same dtype, same shape, same bytes. */
    static void assertBitIdentical(String what, Tensor actual, Tensor expected) {
        assertThat(actual.dtype()).as("%s dtype", what).isEqualTo(expected.dtype());
        assertThat(actual.shape()).as("%s shape", what).isEqualTo(expected.shape());
        assertThat(TensorBytes.toBytes(actual, actual.dtype())).as("%s bytes", what).isEqualTo(TensorBytes.toBytes(expected, expected.dtype()));
    }

    /** Every tensor of {@code actual} bit-identical to {@code expected}'s (stored in {@code as}, when not null). */
    static void assertSameWeights(LlamaWeights actual, LlamaWeights expected, DType as) {
        Map<String, Tensor> a = named(actual), e = named(expected);
        assertThat(a.keySet()).isEqualTo(e.keySet());
        for (String k : a.keySet()) assertBitIdentical(k, a.get(k), as == null ? e.get(k) : e.get(k).to(as));
    }

    static boolean isMapped(Tensor t) { return t.storage() instanceof MappedStorage; }

    static String shape(Tensor t) { return Shape.str(t.shape()); }

    /** A file under ../shared, or a skipped test when it is absent. */
    static Path shared(String relative) {
        String root = System.getProperty("stiefel.shared");
        Assumptions.assumeTrue(root != null, "system property stiefel.shared is not set (surefire sets it)");
        Path p = Path.of(root).resolve(relative);
        Assumptions.assumeTrue(Files.isRegularFile(p), "shared file " + p + " is absent");
        return p;
    }

    static Vocabulary spmVocabulary(int n, Random rnd) {
        List<String> tokens = new ArrayList<>();
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            tokens.add(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "▁tok" + i + (i % 5 == 0 ? "é✓" : ""));
            scores[i] = -rnd.nextFloat() * 10;
            types[i] = i == 0 ? Vocabulary.UNKNOWN : i < 3 ? Vocabulary.CONTROL : Vocabulary.NORMAL;
        }
        return new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, tokens, scores, types, List.of(), 1, 2, 0, true, true);
    }

    /** {@code n} >= 9 byte-level tokens whose merges name tokens of the vocabulary (as a GGUF reader now checks). */
    static Vocabulary bpeVocabulary(int n) {
        List<String> tokens = new ArrayList<>(List.of("Ġ", "t", "1", "0", "Ġt", "Ġt1", "Ġt10"));
        for (int i = tokens.size(); i < n; i++) tokens.add("Ġx" + i);
        return new Vocabulary(Vocabulary.Kind.BYTE_LEVEL_BPE, tokens, null, null, List.of("Ġ t", "Ġt 1", "Ġt1 0"), n - 1, n - 2, -1, false, false);
    }
}
