package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.List;

/**
 * A LLaMA-family model's weights as f64 matrices (with Qwen2's q/k/v biases and Qwen3's q/k norm gains as f64 vectors): the working copy that equivalence transforms are fused into. Folding in
 * f64 and rounding to f32 once at the end ({@link #toWeights}) keeps a chain of rotations and scalings exact to
 * ~1e-15 relative, so the fused model differs from the original only by that one rounding; the exact f64 weights
 * are what the f64 equivalence checks run on.
 *
 * <p>Linear weights are [out, in] as in {@link LlamaWeights}. A tied embedding and head are one matrix object
 * ({@code head() == embedding()}) until a transform changes one side only (folding the final norm into the head),
 * which unties them. Memory: 8 bytes per parameter, fine for the small models this project runs end to end.
 *
 * <p><b>Windows.</b> A model too large for an f64 copy is folded a part at a time: {@link #ofLayer} holds one block,
 * {@link #ofEnds} the embedding, the final norm and the head. Every transform acts on each block on its own (and on the
 * ends on their own), so folding each window and putting the parts together gives the whole model's fold bit for bit
 * ({@link Transforms#fuseBlockwise}). A transform reaches the parts present through {@link #layerIndices} and
 * {@link #hasEnds}; asking a window for a part it does not hold is an error.
 */
public final class DoubleWeights {
    private final LlamaConfig config;
    private DMatrix embedding, head;
    private double[] finalNorm;
    private final double[][] attnNorm, ffnNorm;
    private final DMatrix[][] linears;
    /** Qwen2's q/k/v biases per layer, indexed by Linear.Q/K/V ordinal (null entries: no bias); Qwen3's q/k norm gains. */
    private final double[][][] biases;
    private final double[][] qNorm, kNorm;
    /** The blocks this copy holds, ascending; whether it holds the embedding, the final norm and the head. */
    private final int[] present;
    private final boolean ends;

    private DoubleWeights(LlamaConfig config, int[] present, boolean ends) {
        this.config = config;
        this.present = present;
        this.ends = ends;
        int n = config.layers();
        attnNorm = new double[n][];
        ffnNorm = new double[n][];
        linears = new DMatrix[n][Linears.BLOCK.size()];
        biases = new double[n][3][];
        qNorm = new double[n][];
        kNorm = new double[n][];
    }

    /** An f64 copy of {@code w} (every f32/f16/bf16 value is exact in f64). */
    public static DoubleWeights of(LlamaWeights w) {
        return window(w, java.util.stream.IntStream.range(0, w.config().layers()).toArray(), true);
    }

    /** An f64 copy of block {@code l} of {@code w} alone (no embedding, final norm or head). */
    public static DoubleWeights ofLayer(LlamaWeights w, int l) {
        if (l < 0 || l >= w.config().layers()) throw new IllegalArgumentException("double weights: no layer " + l + " in a model of " + w.config().layers());
        return window(w, new int[]{l}, false);
    }

    /** An f64 copy of the embedding, the final norm and the head of {@code w} (no block). */
    public static DoubleWeights ofEnds(LlamaWeights w) { return window(w, new int[0], true); }

    private static DoubleWeights window(LlamaWeights w, int[] layers, boolean ends) {
        DoubleWeights d = new DoubleWeights(w.config(), layers, ends);
        if (ends) {
            d.embedding = matrix(w.embedding());
            d.head = w.output() == w.embedding() ? d.embedding : matrix(w.output());
            d.finalNorm = vector(w.finalNorm());
        }
        for (int l : layers) {
            d.attnNorm[l] = vector(w.layer(l).attnNorm());
            d.ffnNorm[l] = vector(w.layer(l).ffnNorm());
            for (Linear which : Linears.BLOCK) d.linears[l][which.ordinal()] = matrix(Linears.weight(w, l, which));
            LlamaWeights.Layer x = w.layer(l);
            d.biases[l] = new double[][]{vectorOrNull(x.bq()), vectorOrNull(x.bk()), vectorOrNull(x.bv())};
            d.qNorm[l] = vectorOrNull(x.qNorm());
            d.kNorm[l] = vectorOrNull(x.kNorm());
        }
        return d;
    }

    /** The blocks this copy holds, ascending: all of them, or one for {@link #ofLayer}, none for {@link #ofEnds}. */
    public int[] layerIndices() { return present.clone(); }

    /** Whether this copy holds the embedding, the final norm and the head. */
    public boolean hasEnds() { return ends; }

    /** Whether this copy holds block {@code l}. */
    public boolean hasLayer(int l) { return l >= 0 && l < config.layers() && attnNorm[l] != null; }

    /** A deep copy (transforms may then be tried on it without touching this one). */
    public DoubleWeights copy() {
        DoubleWeights d = new DoubleWeights(config, present, ends);
        if (ends) {
            d.embedding = embedding.copy();
            d.head = head == embedding ? d.embedding : head.copy();
            d.finalNorm = finalNorm.clone();
        }
        for (int l : present) {
            d.attnNorm[l] = attnNorm[l].clone();
            d.ffnNorm[l] = ffnNorm[l].clone();
            for (int i = 0; i < linears[l].length; i++) d.linears[l][i] = linears[l][i].copy();
            for (int i = 0; i < 3; i++) d.biases[l][i] = biases[l][i] == null ? null : biases[l][i].clone();
            d.qNorm[l] = qNorm[l] == null ? null : qNorm[l].clone();
            d.kNorm[l] = kNorm[l] == null ? null : kNorm[l].clone();
        }
        return d;
    }

    private static DMatrix matrix(Tensor t) {
        float[] f = t.contiguous().toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return new DMatrix(t.size(0), t.size(1), d);
    }

    private static double[] vectorOrNull(Tensor t) { return t == null ? null : vector(t); }

    private static double[] vector(Tensor t) {
        float[] f = t.contiguous().toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    public LlamaConfig config() { return config; }

    public DMatrix embedding() { return ends("the embedding").embedding; }

    /** The output head [vocab, dim]; the embedding object itself while they are tied. */
    public DMatrix head() { return ends("the head").head; }

    public boolean tied() { return ends("the head").head == embedding; }

    /** Replaces the embedding; a tied head follows it (the pair stays one matrix). */
    public void setEmbedding(DMatrix m) {
        ends("the embedding");
        check("embedding", m, config.vocabSize(), config.dim());
        if (head == embedding) head = m;
        embedding = m;
    }

    /** Replaces the head only (unties a tied pair). */
    public void setHead(DMatrix m) {
        ends("the head");
        check("head", m, config.vocabSize(), config.dim());
        head = m;
    }

    /** The weight [out, in] of a block linear, or the head for {@link Linear#HEAD}. */
    public DMatrix linear(int layer, Linear which) { return which == Linear.HEAD ? head() : layer(layer).linears[layer][which.ordinal()]; }

    public void setLinear(int layer, Linear which, DMatrix m) {
        if (which == Linear.HEAD) { setHead(m); return; }
        DMatrix old = layer(layer).linears[layer][which.ordinal()];
        check(Linears.name(layer, which), m, old.rows, old.cols);
        linears[layer][which.ordinal()] = m;
    }

    /**
     * The bias of q_proj, k_proj or v_proj (Qwen2), or null when the layer has none. The array is live: a transform
     * of the layer's output channels changes it in place together with the weight's rows.
     */
    public double[] bias(int layer, Linear which) {
        return switch (which) {
            case Q, K, V -> layer(layer).biases[layer][which.ordinal()];
            default -> null;
        };
    }

    /** The per-head RMSNorm gain [headDim] on q (which = Q) or k (which = K) before RoPE (Qwen3), or null. Live. */
    public double[] qkNorm(int layer, Linear which) {
        return switch (which) {
            case Q -> layer(layer).qNorm[layer];
            case K -> layer(layer).kNorm[layer];
            default -> throw new IllegalArgumentException("only q and k have a per-head norm, not " + which);
        };
    }

    /**
     * The RMSNorm gain feeding a site: ATTN_IN (input_layernorm), MLP_IN (post_attention_layernorm) or HEAD_IN (the
     * final norm; layer ignored). The array is the live gain: transforms change it in place.
     */
    public double[] norm(int layer, Input site) {
        return switch (site) {
            case ATTN_IN -> layer(layer).attnNorm[layer];
            case MLP_IN -> layer(layer).ffnNorm[layer];
            case HEAD_IN -> ends("the final norm").finalNorm;
            default -> throw new IllegalArgumentException("no RMSNorm feeds " + site + " (only ATTN_IN, MLP_IN and HEAD_IN do)");
        };
    }

    /** The linear layers that read a norm's output: q/k/v, gate/up, or the head. */
    public static List<Linear> readers(Input site) {
        return switch (site) {
            case ATTN_IN -> List.of(Linear.Q, Linear.K, Linear.V);
            case MLP_IN -> List.of(Linear.GATE, Linear.UP);
            case HEAD_IN -> List.of(Linear.HEAD);
            case ATTN_OUT -> List.of(Linear.O);
            case MLP_OUT -> List.of(Linear.DOWN);
        };
    }

    /** This copy, which must hold block {@code l}. */
    private DoubleWeights layer(int l) {
        if (!hasLayer(l))
            throw new IllegalStateException("double weights: layer " + l + " is not in this copy (it holds layers " + java.util.Arrays.toString(present)
                    + (ends ? " and the ends" : "") + ")");
        return this;
    }

    /** This copy, which must hold the embedding, the final norm and the head. */
    private DoubleWeights ends(String what) {
        if (!ends) throw new IllegalStateException("double weights: " + what + " is not in this copy (it holds layers " + java.util.Arrays.toString(present) + " only)");
        return this;
    }

    private static void check(String name, DMatrix m, int rows, int cols) {
        if (m.rows != rows || m.cols != cols)
            throw new IllegalArgumentException("double weights: " + name + " must be " + rows + "×" + cols + ", got " + m.shape());
    }

    /** Rounds every value to f32 once: new heap tensors, a tied pair kept tied. */
    public LlamaWeights toWeights() {
        if (!ends || present.length != config.layers())
            throw new IllegalStateException("double weights: only a whole model becomes LlamaWeights; this copy holds layers "
                    + java.util.Arrays.toString(present) + (ends ? " and the ends" : ""));
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < config.layers(); l++) layers.add(toLayer(l));
        boolean tied = tied();
        LlamaConfig c = config.tiedEmbeddings() == tied ? config : config.withTiedEmbeddings(tied);
        Tensor emb = tensor(embedding);
        return new LlamaWeights(c, emb, layers, tensor(finalNorm), tied ? null : tensor(head), List.of());
    }

    /** Block {@code l} rounded to f32 (new heap tensors). */
    public LlamaWeights.Layer toLayer(int l) {
        layer(l);
        DMatrix[] t = linears[l];
        double[][] b = biases[l];
        return new LlamaWeights.Layer(tensor(attnNorm[l]), tensor(t[Linear.Q.ordinal()]), tensor(t[Linear.K.ordinal()]),
                tensor(t[Linear.V.ordinal()]), tensor(t[Linear.O.ordinal()]), tensor(ffnNorm[l]), tensor(t[Linear.GATE.ordinal()]),
                tensor(t[Linear.UP.ordinal()]), tensor(t[Linear.DOWN.ordinal()]),
                tensorOrNull(b[0]), tensorOrNull(b[1]), tensorOrNull(b[2]), tensorOrNull(qNorm[l]), tensorOrNull(kNorm[l]));
    }

    /** An f64 matrix rounded to an f32 tensor. */
    public static Tensor tensor(DMatrix m) {
        float[] f = new float[m.data.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) m.data[i];
        return Tensor.wrap(f, m.rows, m.cols);
    }

    private static Tensor tensorOrNull(double[] v) { return v == null ? null : tensor(v); }

    static Tensor tensor(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) v[i];
        return Tensor.wrap(f, v.length);
    }
}
