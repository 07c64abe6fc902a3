package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.tokenizer.TokenizerFormatException;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Loads a LLaMA-family model from a GGUF file as llama.cpp writes it: hyper-parameters from the {@code <arch>.*} keys
 * (general.architecture "llama", "qwen2" or "qwen3"), tensors {@code token_embd.weight},
 * {@code blk.N.attn_{norm,q,k,v,output}.weight}, {@code blk.N.ffn_{norm,gate,up,down}.weight}, {@code output_norm.weight}
 * and {@code output.weight} (absent when the embeddings are tied); Qwen2 adds {@code blk.N.attn_{q,k,v}.bias}, Qwen3
 * {@code blk.N.attn_{q,k}_norm.weight}. The vocabulary comes from the {@code tokenizer.ggml.*} keys. RoPE layout:
 * llama.cpp's converter stores LLaMA's Q/K rows in Meta's interleaved order (convert_hf_to_gguf.py permutes HF's rows
 * back; llama.cpp's rope type NORM), so a "llama" file is {@link Rope.Layout#INTERLEAVED}; Qwen2/Qwen3 tensors are
 * stored as transformers has them and rotated rotate-half (rope type NEOX), so those files are {@link Rope.Layout#HALF}.
 */
public final class GgufLoader {
    private GgufLoader() {}

    public static LoadedModel load(Path path) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            LlamaConfig c = config(f);
            LlamaWeights w = weights(f, c);
            Vocabulary v = vocabulary(f);
            String pre = v != null && f.metadata().contains("tokenizer.ggml.pre") ? f.metadata().string("tokenizer.ggml.pre") : null;
            return new LoadedModel(w, v, ModelFormat.GGUF, path, pre);
        } catch (Throwable e) { // Errors too: a failed load must not leave the file mapped
            f.close();
            throw e;
        }
    }

    /** The model's hyper-parameters from the metadata (and the embedding's shape for the vocabulary size). */
    public static LlamaConfig config(GgufFile f) throws ModelFormatException {
        var m = f.metadata();
        String arch = m.string("general.architecture");
        LlamaConfig.Architecture architecture = switch (arch) {
            case "llama" -> LlamaConfig.Architecture.LLAMA;
            case "qwen2" -> LlamaConfig.Architecture.QWEN2;
            case "qwen3" -> LlamaConfig.Architecture.QWEN3;
            default -> throw new ModelFormatException(f.path(), "general.architecture is '" + arch + "'; this loader reads 'llama', 'qwen2' and 'qwen3' models");
        };
        String k = arch + ".";
        if (f.contains("rope_freqs.weight"))
            throw new ModelFormatException(f.path(), "tensor rope_freqs.weight (LLaMA-3.1 rope scaling stored as per-frequency factors) is not supported");
        String scaling = m.string(k + "rope.scaling.type", "none");
        if (!scaling.equals("none"))
            throw new ModelFormatException(f.path(), k + "rope.scaling.type '" + scaling + "' is not supported");
        int dim = m.size(k + "embedding_length");
        int heads = m.size(k + "attention.head_count");
        int kvHeads = m.size(k + "attention.head_count_kv", heads);
        int headDim = m.size(k + "attention.key_length", dim / heads);
        int valueDim = m.size(k + "attention.value_length", headDim);
        if (valueDim != headDim)
            throw new ModelFormatException(f.path(), k + "attention.value_length " + valueDim + " differs from key_length " + headDim + " (not supported)");
        int ropeDims = m.size(k + "rope.dimension_count", headDim);
        if (ropeDims != headDim)
            throw new ModelFormatException(f.path(), k + "rope.dimension_count is " + ropeDims + " but heads have " + headDim
                    + " features; partial rotary embeddings are not supported");
        GgufFile.TensorInfo emb = f.info("token_embd.weight");
        if (emb.ne().length != 2)
            throw new ModelFormatException(f.path(), "tensor token_embd.weight at offset " + f.fileOffset(emb) + " has ne " + Arrays.toString(emb.ne()) + ", expected 2 dims");
        int vocab = (int) emb.ne()[1];
        if (m.contains(k + "vocab_size") && m.size(k + "vocab_size") != vocab)
            throw new ModelFormatException(f.path(), k + "vocab_size is " + m.size(k + "vocab_size") + " but token_embd.weight has " + vocab + " rows");
        try {
            return new LlamaConfig(dim, m.size(k + "feed_forward_length"), m.size(k + "block_count"), heads, kvHeads, headDim, vocab,
                    (float) m.number(k + "attention.layer_norm_rms_epsilon"), m.number(k + "rope.freq_base", 10000.0), null,
                    architecture == LlamaConfig.Architecture.LLAMA ? Rope.Layout.INTERLEAVED : Rope.Layout.HALF,
                    !f.contains("output.weight"), m.size(k + "context_length", 2048), architecture);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.path(), e.getMessage());
        }
    }

    /** The weights of {@code f} shaped for {@code c}; f32/f16/bf16 tensors stay views of the file, which the result owns. */
    static LlamaWeights weights(GgufFile f, LlamaConfig c) throws ModelFormatException {
        Set<String> used = new LinkedHashSet<>();
        Tensor emb = get(f, used, "token_embd.weight", c.vocabSize(), c.dim());
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        boolean bias = c.architecture().qkvBias(), qkNorm = c.architecture().qkNorm();
        for (int l = 0; l < c.layers(); l++) {
            String p = "blk." + l + ".";
            layers.add(new LlamaWeights.Layer(
                    get(f, used, p + "attn_norm.weight", c.dim()),
                    get(f, used, p + "attn_q.weight", c.qDim(), c.dim()),
                    get(f, used, p + "attn_k.weight", c.kvDim(), c.dim()),
                    get(f, used, p + "attn_v.weight", c.kvDim(), c.dim()),
                    get(f, used, p + "attn_output.weight", c.dim(), c.qDim()),
                    get(f, used, p + "ffn_norm.weight", c.dim()),
                    get(f, used, p + "ffn_gate.weight", c.hiddenDim(), c.dim()),
                    get(f, used, p + "ffn_up.weight", c.hiddenDim(), c.dim()),
                    get(f, used, p + "ffn_down.weight", c.dim(), c.hiddenDim()),
                    bias ? get(f, used, p + "attn_q.bias", c.qDim()) : null,
                    bias ? get(f, used, p + "attn_k.bias", c.kvDim()) : null,
                    bias ? get(f, used, p + "attn_v.bias", c.kvDim()) : null,
                    qkNorm ? get(f, used, p + "attn_q_norm.weight", c.headDim()) : null,
                    qkNorm ? get(f, used, p + "attn_k_norm.weight", c.headDim()) : null));
        }
        Tensor norm = get(f, used, "output_norm.weight", c.dim());
        Tensor out = c.tiedEmbeddings() ? null : get(f, used, "output.weight", c.vocabSize(), c.dim());
        List<String> unused = new ArrayList<>();
        for (GgufFile.TensorInfo t : f.tensors()) if (!used.contains(t.name())) unused.add(t.name());
        if (!unused.isEmpty()) throw new ModelFormatException(f.path(), "tensors a " + c.architecture() + " model does not have: " + unused);
        return new LlamaWeights(c, emb, layers, norm, out, List.of(f));
    }

    private static Tensor get(GgufFile f, Set<String> used, String name, int... shape) throws ModelFormatException {
        GgufFile.TensorInfo t = f.info(name);
        if (!Arrays.equals(t.shape(), shape))
            throw new ModelFormatException(f.path(), "tensor " + name + " at offset " + f.fileOffset(t) + " has ne " + Arrays.toString(t.ne())
                    + " (shape " + Shape.str(t.shape()) + "), but the metadata needs shape " + Shape.str(shape));
        used.add(name);
        return f.tensor(name);
    }

    /**
     * The vocabulary in the tokenizer.ggml.* keys, or null when the file has none. Defaults follow llama.cpp:
     * a "llama" (SentencePiece) vocabulary has bos 1, eos 2, unk 0, adds bos and a space prefix; a "gpt2"
     * (byte-level BPE) one adds neither and has no special ids unless the keys say so.
     */
    public static Vocabulary vocabulary(GgufFile f) throws ModelFormatException {
        var m = f.metadata();
        if (!m.contains("tokenizer.ggml.model")) return null;
        String model = m.string("tokenizer.ggml.model");
        boolean spm;
        switch (model) {
            case "llama" -> spm = true;
            case "gpt2" -> spm = false;
            default -> throw new ModelFormatException(f.path(), "tokenizer.ggml.model '" + model + "' is not supported ('llama' or 'gpt2')");
        }
        List<String> tokens = m.strings("tokenizer.ggml.tokens");
        float[] scores = m.contains("tokenizer.ggml.scores") ? m.floats("tokenizer.ggml.scores") : null;
        int[] types = m.contains("tokenizer.ggml.token_type") ? m.ints("tokenizer.ggml.token_type") : null;
        if (scores != null && scores.length != tokens.size())
            throw new ModelFormatException(f.path(), "tokenizer.ggml.scores has " + scores.length + " entries for " + tokens.size() + " tokens");
        if (types != null && types.length != tokens.size())
            throw new ModelFormatException(f.path(), "tokenizer.ggml.token_type has " + types.length + " entries for " + tokens.size() + " tokens");
        List<String> merges = m.contains("tokenizer.ggml.merges") ? m.strings("tokenizer.ggml.merges") : List.of();
        int bos = specialId(f, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, tokens.size());
        int eos = specialId(f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, tokens.size());
        int unk = specialId(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, tokens.size());
        boolean addBos = m.bool("tokenizer.ggml.add_bos_token", spm);
        boolean addSpace = m.bool("tokenizer.ggml.add_space_prefix", spm);
        Vocabulary v = new Vocabulary(spm ? Vocabulary.Kind.SENTENCEPIECE : Vocabulary.Kind.BYTE_LEVEL_BPE, tokens, scores, types, merges,
                bos, eos, unk, addBos, addSpace);
        try {
            Tokenizers.validate(v, "the vocabulary in tokenizer.ggml.* (tokens at offset " + m.get("tokenizer.ggml.tokens").offset() + ")");
        } catch (TokenizerFormatException e) {
            throw new ModelFormatException(f.path(), e.getMessage());
        }
        return v;
    }

    /** A special token id; absent or 0xFFFFFFFF (llama.cpp's "none") gives the default, or -1 if that is out of range. */
    private static int specialId(GgufFile f, String key, int dflt, int vocab) throws ModelFormatException {
        var m = f.metadata();
        if (!m.contains(key)) return dflt < vocab ? dflt : -1;
        long id = m.integer(key);
        if (id == 0xFFFF_FFFFL || id == -1) return -1;
        if (id < 0 || id >= vocab)
            throw new ModelFormatException(f.path(), key + " at offset " + m.get(key).offset() + " is " + id + ", outside the " + vocab + " tokens");
        return (int) id;
    }
}
