package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.WeightSource;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a LLaMA-family model (and optionally its vocabulary) as a GGUF file that {@link GgufLoader} and llama.cpp
 * read: the keys and tensor names of llama.cpp's converter under general.architecture "llama", "qwen2" or "qwen3",
 * norms, q/k norms and biases in F32 and every matrix in {@code matrixType}, or each in its own type, possibly with
 * ready-made blocks ({@link Encoding}). LLaMA's Q/K rows are written in interleaved order (rotate-half weights are
 * permuted back, as convert_hf_to_gguf.py does); Qwen's stay in rotate-half order, which llama.cpp rotates as such
 * (rope type NEOX).
 */
public final class GgufModelWriter {
    private GgufModelWriter() {}

    public static void write(WeightSource weights, Vocabulary vocab, Path path, GgmlType matrixType) throws IOException {
        write(weights, vocab, null, path, fileType(matrixType), name -> matrixType, Map.of());
    }

    /**
     * How each matrix is stored: its ggml type, and optionally its blocks ready-made (a method's own codes on the
     * type's grid), rows in the order of the weights given to {@link #write} (Q/K rows are reordered here like the values).
     */
    public interface Encoding {
        GgmlType type(String ggufName);

        default byte[] blocks(String ggufName) { return null; }
    }

    /**
     * Writes the model with every matrix as {@code encoding} says (norms stay F32), {@code fileType} as
     * general.file_type (llama.cpp's llama_ftype) and {@code extra} metadata keys after the standard ones.
     *
     * @param vocab        the tokenizer.ggml.* vocabulary, or null for none; as many tokens as the model's vocabulary size
     * @param preTokenizer a byte-level BPE vocabulary's tokenizer.ggml.pre ("qwen2", "llama-bpe", ...), or null to write
     *                     none (llama.cpp then warns and splits with its "default" regexes); must be null for SentencePiece
     */
    public static void write(WeightSource weights, Vocabulary vocab, String preTokenizer, Path path, int fileType, Encoding encoding,
                             Map<String, GgufValue> extra) throws IOException {
        LlamaConfig c0 = weights.config();
        if (c0.ropeScaling() != null)
            throw new IllegalArgumentException("gguf writer: LLaMA-3.1 rope scaling (llama.cpp's rope_freqs tensor) is not written");
        LlamaConfig.Architecture arch = c0.architecture();
        boolean llama = arch == LlamaConfig.Architecture.LLAMA;
        LlamaConfig c = c0.withRopeLayout(llama ? Rope.Layout.INTERLEAVED : Rope.Layout.HALF);
        // Q/K rows (and the q/k biases and norms) in the file's order, permuted as each is written
        boolean permute = c0.ropeLayout() != c.ropeLayout();
        java.util.function.BiFunction<Tensor, Integer, Tensor> rope = (t, heads) -> t == null || !permute ? t
                : c.ropeLayout() == Rope.Layout.INTERLEAVED ? RopePermutation.toInterleaved(t, heads) : RopePermutation.toHalf(t, heads);
        String name = arch.name().toLowerCase(java.util.Locale.ROOT), k = name + ".";
        GgufWriter g = new GgufWriter()
                .putString("general.architecture", name)
                .putString("general.name", "stiefel")
                .putU32("general.file_type", fileType)
                .putU32(k + "context_length", c.maxSeqLen())
                .putU32(k + "embedding_length", c.dim())
                .putU32(k + "feed_forward_length", c.hiddenDim())
                .putU32(k + "block_count", c.layers())
                .putU32(k + "attention.head_count", c.heads())
                .putU32(k + "attention.head_count_kv", c.kvHeads())
                .putF32(k + "attention.layer_norm_rms_epsilon", c.normEps())
                .putF32(k + "rope.freq_base", (float) c.ropeTheta())
                .putU32(k + "rope.dimension_count", c.headDim())
                .putU32(k + "vocab_size", c.vocabSize());
        if ((float) c.ropeTheta() != c.ropeTheta())
            throw new IllegalArgumentException("gguf writer: rope theta " + c.ropeTheta() + " is not exactly representable as the f32 GGUF stores");
        if (c.headDim() * c.heads() != c.dim()) g.putU32(k + "attention.key_length", c.headDim()).putU32(k + "attention.value_length", c.headDim());
        if (vocab != null) putVocabulary(g, vocab, preTokenizer, c.vocabSize());
        else if (preTokenizer != null) throw new IllegalArgumentException("gguf writer: tokenizer.ggml.pre '" + preTokenizer + "' without a vocabulary");
        extra.forEach(g::put);

        // ready-made Q/K blocks are reordered only where rows change order: a rotate-half LLaMA written interleaved
        // every tensor is added with its shape and read only as it is written, so a streaming source is held one block at a time
        Matrices m = new Matrices(g, encoding, llama && c0.ropeLayout() != Rope.Layout.INTERLEAVED ? c : null);
        int dim = c.dim(), q = c.qDim(), kv = c.kvDim(), hidden = c.hiddenDim(), hd = c.headDim();
        m.add("token_embd.weight", new int[]{c.vocabSize(), dim}, weights::embedding, 0);
        for (int l = 0; l < c.layers(); l++) {
            int i = l;
            String p = "blk." + l + ".";
            g.addTensor(p + "attn_norm.weight", new int[]{dim}, GgmlType.F32, () -> weights.layer(i).attnNorm());
            m.add(p + "attn_q.weight", new int[]{q, dim}, () -> rope.apply(weights.layer(i).wq(), c.heads()), c.heads());
            m.add(p + "attn_k.weight", new int[]{kv, dim}, () -> rope.apply(weights.layer(i).wk(), c.kvHeads()), c.kvHeads());
            m.add(p + "attn_v.weight", new int[]{kv, dim}, () -> weights.layer(i).wv(), 0);
            m.add(p + "attn_output.weight", new int[]{dim, q}, () -> weights.layer(i).wo(), 0);
            g.addTensor(p + "ffn_norm.weight", new int[]{dim}, GgmlType.F32, () -> weights.layer(i).ffnNorm());
            m.add(p + "ffn_gate.weight", new int[]{hidden, dim}, () -> weights.layer(i).wGate(), 0);
            m.add(p + "ffn_up.weight", new int[]{hidden, dim}, () -> weights.layer(i).wUp(), 0);
            m.add(p + "ffn_down.weight", new int[]{dim, hidden}, () -> weights.layer(i).wDown(), 0);
            if (arch.qkvBias())
                g.addTensor(p + "attn_q.bias", new int[]{q}, GgmlType.F32, () -> rope.apply(weights.layer(i).bq(), c.heads()))
                 .addTensor(p + "attn_k.bias", new int[]{kv}, GgmlType.F32, () -> rope.apply(weights.layer(i).bk(), c.kvHeads()))
                 .addTensor(p + "attn_v.bias", new int[]{kv}, GgmlType.F32, () -> weights.layer(i).bv());
            if (arch.qkNorm())
                g.addTensor(p + "attn_q_norm.weight", new int[]{hd}, GgmlType.F32, () -> rope.apply(weights.layer(i).qNorm(), 1))
                 .addTensor(p + "attn_k_norm.weight", new int[]{hd}, GgmlType.F32, () -> rope.apply(weights.layer(i).kNorm(), 1));
        }
        g.addTensor("output_norm.weight", new int[]{dim}, GgmlType.F32, weights::finalNorm);
        if (!c.tiedEmbeddings()) m.add("output.weight", new int[]{c.vocabSize(), dim}, weights::output, 0);
        g.write(path);
    }

    /**
     * The matrices {@link #write} stores (the ones an {@link Encoding} is asked about), by GGUF name, as tensors of
     * {@code w} (before any Q/K reordering); norms, biases and q/k norms are always F32 and not listed.
     */
    public static Map<String, Tensor> matrices(LlamaWeights w) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("token_embd.weight", w.embedding());
        for (int l = 0; l < w.config().layers(); l++) {
            LlamaWeights.Layer x = w.layer(l);
            String p = "blk." + l + ".";
            m.put(p + "attn_q.weight", x.wq());
            m.put(p + "attn_k.weight", x.wk());
            m.put(p + "attn_v.weight", x.wv());
            m.put(p + "attn_output.weight", x.wo());
            m.put(p + "ffn_gate.weight", x.wGate());
            m.put(p + "ffn_up.weight", x.wUp());
            m.put(p + "ffn_down.weight", x.wDown());
        }
        if (!w.config().tiedEmbeddings()) m.put("output.weight", w.output());
        return m;
    }

    /** Adds matrices by their encoding; ready-made Q/K blocks of a rotate-half model get their rows reordered like the values. */
    private record Matrices(GgufWriter g, Encoding encoding, LlamaConfig halfLayout) {
        void add(String name, int[] shape, java.util.function.Supplier<Tensor> values, int ropeHeads) {
            GgmlType type = encoding.type(name);
            byte[] blocks = encoding.blocks(name);
            if (blocks == null) {
                g.addTensor(name, shape, type, values);
                return;
            }
            if (ropeHeads > 0 && halfLayout != null) {
                int rows = shape[0], rowBytes = blocks.length / rows;
                int[] order = RopePermutation.interleavedFromHalf(ropeHeads, rows / ropeHeads);
                byte[] permuted = new byte[blocks.length];
                for (int r = 0; r < rows; r++) System.arraycopy(blocks, order[r] * rowBytes, permuted, r * rowBytes, rowBytes);
                blocks = permuted;
            }
            g.addBlocks(name, shape, type, blocks);
        }
    }

    static void putVocabulary(GgufWriter g, Vocabulary v, String preTokenizer, int modelVocab) {
        boolean spm = v.kind() == Vocabulary.Kind.SENTENCEPIECE;
        // llama.cpp sizes token_embd and output by the token count
        if (v.size() != modelVocab)
            throw new IllegalArgumentException("gguf writer: the vocabulary has " + v.size() + " tokens and the model " + modelVocab + " embedding rows; llama.cpp needs them equal");
        if (spm && preTokenizer != null)
            throw new IllegalArgumentException("gguf writer: tokenizer.ggml.pre '" + preTokenizer + "' is for byte-level BPE; this vocabulary is SentencePiece");
        g.putString("tokenizer.ggml.model", spm ? "llama" : "gpt2");
        if (preTokenizer != null) g.putString("tokenizer.ggml.pre", preTokenizer);
        g.put("tokenizer.ggml.tokens", GgufValue.strings(v.tokens()));
        if (v.scores() != null) g.put("tokenizer.ggml.scores", GgufValue.f32s(v.scores()));
        if (v.types() != null) g.put("tokenizer.ggml.token_type", GgufValue.i32s(v.types()));
        if (!v.merges().isEmpty()) g.put("tokenizer.ggml.merges", GgufValue.strings(v.merges()));
        g.putU32("tokenizer.ggml.bos_token_id", v.bos() < 0 ? 0xFFFF_FFFFL : v.bos());
        g.putU32("tokenizer.ggml.eos_token_id", v.eos() < 0 ? 0xFFFF_FFFFL : v.eos());
        g.putU32("tokenizer.ggml.unknown_token_id", v.unk() < 0 ? 0xFFFF_FFFFL : v.unk());
        g.putBool("tokenizer.ggml.add_bos_token", v.addBos());
        g.putBool("tokenizer.ggml.add_space_prefix", v.addSpacePrefix());
    }

    /** llama.cpp's {@code llama_ftype} for a file whose matrices are all {@code t}. */
    static int fileType(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q4_K -> 14;   // llama.cpp has no all-Q4_K type: MOSTLY_Q4_K_S, as for Q5_K
            case Q5_K -> 16;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("gguf writer: matrices cannot be " + t);
        };
    }
}
