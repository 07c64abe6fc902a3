package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.io.ggml.BlockFormat;
import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.quant.transform.ChannelScaling;
import dev.stiefel.quant.transform.ChannelScaling.Between;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AWQ (Lin et al., MLSys 2024): weight-only quantization that protects the weights of salient input channels, found
 * from activation magnitudes, by scaling them up before rounding. Block by block, as mit-han-lab/llm-awq's
 * {@code run_awq}:
 * <ol>
 *   <li>capture the full-precision inputs of every linear layer of the block;</li>
 *   <li>for each producer → readers pair (input_layernorm → q/k/v judged on the attention output, v → o when v and o
 *       have the same shape, i.e. not GQA, as the reference, post_attention_layernorm → gate/up judged on the MLP
 *       output, up → down), search s = mean|X|^α over α ∈ {0, 1/20, …, 19/20} (§3.2, eq. 5), normalized by
 *       √(max s · min s), minimising the mean squared error of that output with the readers' weights replaced by
 *       Q(W·diag(s))·diag(s)⁻¹ ({@link #searchScales});</li>
 *   <li>fold the chosen scales ({@link ChannelScaling}) and divide the captured inputs by them;</li>
 *   <li>search a clipping threshold per output row and group of every linear but q and k (auto_clip: max |w| shrunk by
 *       1 − i/20 for i &lt; 10, the one minimising the group's partial output error on 512 sampled tokens)
 *       ({@link #searchClip}) and clamp the weights to it;</li>
 *   <li>the next block's inputs are this block's full-precision outputs (scaling is exact, clipping is not applied to
 *       them, as in the reference).</li>
 * </ol>
 * Then every weight is rounded to nearest with the config's spec (its group size: W4A16 g128 is the paper's setting).
 * On llama.cpp's grids (a ggml config) both searches score each candidate on the grid the file stores ({@link
 * Rounding#of(GgmlTarget, int)}: the reference rule of the matrix's ggml type, fallbacks included, a clipping group
 * being one block), and the final rounding is that rule ({@link Rtn}), so the file holds the weights evaluated.
 */
public record Awq(Options options) implements Method {

    /**
     * @param grid          α candidates i/grid for i &lt; grid (20)
     * @param clip          run the clip search (true)
     * @param clipGrid      clip ratios 1 − i/clipGrid (20)
     * @param clipMaxShrink ratios tried while i &lt; clipMaxShrink·clipGrid (0.5: down to 0.55)
     * @param clipTokens    tokens the clip search samples (512, every ⌊N/512⌋-th)
     */
    public record Options(int grid, boolean clip, int clipGrid, double clipMaxShrink, int clipTokens) {
        public Options {
            if (grid < 1 || clipGrid < 1 || clipTokens < 1) throw new IllegalArgumentException("awq: grids and token counts must be >= 1");
            if (!(clipMaxShrink > 0 && clipMaxShrink < 1)) throw new IllegalArgumentException("awq: clip max shrink must be in (0, 1), got " + clipMaxShrink);
        }

        /** llm-awq's settings. */
        public static Options defaults() { return new Options(20, true, 20, 0.5, 512); }

        public Options withClip(boolean c) { return new Options(grid, c, clipGrid, clipMaxShrink, clipTokens); }
    }

    public Awq() { this(Options.defaults()); }

    @Override public String name() { return "awq"; }

    /** The outcome of one scale search: the chosen α and s, and the objective at it and at s = 1 (α = 0). */
    public record Search(double ratio, double[] scales, double loss, double lossUnscaled) {}

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException("awq: needs calibration data (e.g. 128 samples of 512 tokens)");
        if (config.weight() == null) throw new IllegalArgumentException("awq: a weight-only method, but " + config.shorthand() + " keeps weights in full precision");
        if (config.weight().granularity() == QuantSpec.Granularity.PER_TENSOR)
            throw new IllegalArgumentException("awq: searches scales and clipping per output row and group; per-tensor weights (" + config.weight() + ") are not supported");
        LlamaConfig c = fp.config();
        Rounding rounding = config.ggml() != null ? Rounding.of(config.ggml(), c.layers()) : Rounding.of(new Quantizer(config.weight()));
        LlamaModel model = new LlamaModel(fp);
        DoubleWeights w = DoubleWeights.of(fp);
        boolean vo = c.kvHeads() == c.heads() && c.qDim() == c.kvDim();
        Map<String, Map<String, ScaleChoice>> scaleReport = Steps.figures();
        List<Map<Linear, Clip>> clips = new ArrayList<>(); // per layer: each clipped linear's [row][group] bounds
        // each block's inputs are the full-precision model's outputs of the blocks before it (llm-awq's run_awq)
        new BlockDriver(name(), BlockDriver.Inputs.FULL_PRECISION, false, false, null, null).run(fp, calibration, block -> {
            int l = block.layer();
            List<Tensor> xs = block.inputList();
            try (Progress p = progress.open("awq layer " + block.position(), options.clip() ? 9 : 4, "steps")) {
                Map<Input, List<Tensor>> feats = capture(model, l, xs);
                // 1. scale searches, all on the block's full-precision weights (the reference applies them together)
                Map<Between, Search> found = new EnumMap<>(Between.class);
                found.put(Between.ATTN_IN, searchScales(attentionObjective(fp, l, xs, feats.get(Input.ATTN_OUT), rounding), feats.get(Input.ATTN_IN), options.grid()));
                p.step(1);
                if (vo) found.put(Between.V_O, searchScales(linearObjective(fp, l, Linear.O, feats.get(Input.ATTN_OUT), rounding), feats.get(Input.ATTN_OUT), options.grid()));
                p.step(1);
                found.put(Between.MLP_IN, searchScales(mlpObjective(fp, l, feats.get(Input.MLP_IN), rounding), feats.get(Input.MLP_IN), options.grid()));
                p.step(1);
                found.put(Between.UP_DOWN, searchScales(linearObjective(fp, l, Linear.DOWN, feats.get(Input.MLP_OUT), rounding), feats.get(Input.MLP_OUT), options.grid()));
                p.step(1);
                // 2. fold them, and scale the captured inputs the same way for the clip search
                Map<String, ScaleChoice> layerReport = new LinkedHashMap<>();
                for (var e : found.entrySet()) {
                    double[][] perLayer = new double[c.layers()][];
                    perLayer[l] = e.getValue().scales();
                    new ChannelScaling(e.getKey(), perLayer).fold(w);
                    Input site = switch (e.getKey()) {
                        case ATTN_IN -> Input.ATTN_IN;
                        case V_O -> Input.ATTN_OUT;
                        case MLP_IN -> Input.MLP_IN;
                        case UP_DOWN -> Input.MLP_OUT;
                        case HEAD_IN -> throw new AssertionError();
                    };
                    feats.put(site, divide(feats.get(site), e.getValue().scales()));
                    Search s = e.getValue();
                    layerReport.put(e.getKey().name().toLowerCase(java.util.Locale.ROOT), new ScaleChoice(s.ratio(), Steps.round(s.loss()), Steps.round(s.lossUnscaled())));
                }
                scaleReport.put("model.layers." + l, layerReport);
                // 3. clip search on the scaled weights and inputs
                Map<Linear, Clip> layerClips = new EnumMap<>(Linear.class);
                if (options.clip())
                    for (Linear which : CLIPPED) {
                        DMatrix m = w.linear(l, which);
                        GroupRounding groups = rounding.groups(l, which, m.cols);
                        if (groups != null)   // null: stored as F16, no groups to clip
                            layerClips.put(which, new Clip(searchClip(floats(m), m.rows, m.cols, sample(feats.get(Linears.inputOf(which)), options.clipTokens()),
                                    groups, options.clipGrid(), options.clipMaxShrink()), groups.size()));
                        p.step(1);
                    }
                clips.add(layerClips);
            }
            return new BlockDriver.Done(null, List.of(), null);
        }, done -> Hooks.NONE);
        // the scaled model is still exactly the original one; clipping then changes it
        Transforms.Fused scaled = Transforms.fuse(w, List.of());
        Report.Equivalence equivalence = Steps.equivalence(fp, scaled, calibration);
        if (options.clip())
            for (int l = 0; l < c.layers(); l++)
                for (var e : clips.get(l).entrySet())
                    w.setLinear(l, e.getKey(), clamp(w.linear(l, e.getKey()), e.getValue().maxima(), e.getValue().group()));
        QuantizedModel q = new Rtn().apply(w.toWeights(), Hooks.NONE, calibration, config, progress);
        Section awq = new Section(options.grid(), config.ggml() != null
                ? "llama.cpp " + config.ggml().fileType() + " grids: each candidate by the ggml type of its matrix (reference rule, fallbacks included; F16 matrices are not clipped)"
                : config.weight().toString(),
                "input_layernorm → q/k/v (attention output), " + (vo ? "v → o, " : "") + "post_attention_layernorm → gate/up (MLP output), up → down"
                        + (vo ? "" : "; v → o skipped: GQA (as llm-awq)"),
                options.clip() ? new ClipSettings(options.clipGrid(), options.clipMaxShrink(), options.clipTokens(), "v, o, gate, up, down (not q, k)") : null,
                equivalence, scaleReport);
        Report report = q.report().withMethod(name()).withCalibration(calibration.describe()).with(awq);
        return q.withReport(report);
    }

    /**
     * What the report shows: the search grid, the grid the candidates were rounded on, the scaled pairs, the clip
     * search's settings (null: off), the scaled model's distance from the original, and each layer's chosen ratios.
     */
    public record Section(int grid, String searchedOn, String scaled, ClipSettings clip, Report.Equivalence equivalenceAfterScaling,
                          Map<String, Map<String, ScaleChoice>> scales) implements Report.Section {
        @Override public String key() { return "awq"; }
    }

    /** One scaled pair's search: the chosen ratio α of s = s_x^α, and the block loss with and without it. */
    public record ScaleChoice(double alpha, double loss, double lossUnscaled) {}

    /** The clip search: its grid, the largest shrink of max|w| it tries, the tokens it sees, the layers it clips. */
    public record ClipSettings(int grid, double maxShrink, int tokens, String layers) {}

    /** The layers whose weights are clipped: every linear but q and k ("due to qk bmm, it is hard to clip precisely"). */
    static final List<Linear> CLIPPED = List.of(Linear.V, Linear.O, Linear.GATE, Linear.UP, Linear.DOWN);

    // ------------------------------------------------------------ capture

    /** The full-precision inputs of block l's linears, per sample, as [tokens, features]. */
    static Map<Input, List<Tensor>> capture(LlamaModel model, int layer, List<Tensor> xs) {
        Map<Input, List<Tensor>> feats = new EnumMap<>(Input.class);
        for (Input i : List.of(Input.ATTN_IN, Input.ATTN_OUT, Input.MLP_IN, Input.MLP_OUT)) feats.put(i, new ArrayList<>());
        Capture.inputs(model, layer, xs, EnumSet.of(Input.ATTN_IN, Input.ATTN_OUT, Input.MLP_IN, Input.MLP_OUT),
                (site, x) -> feats.get(site).add(x.contiguous()));
        return feats;
    }

    private static List<Tensor> divide(List<Tensor> xs, double[] s) {
        float[] f = new float[s.length];
        for (int j = 0; j < s.length; j++) f[j] = (float) s[j];
        Tensor row = Tensor.wrap(f, s.length);
        List<Tensor> out = new ArrayList<>(xs.size());
        for (Tensor x : xs) out.add(x.div(row));
        return out;
    }

    // ------------------------------------------------------------ the scale search

    /** An objective of the scale search: the mean squared output error with the readers quantized under scales s. */
    @FunctionalInterface
    public interface Objective { double loss(double[] s); }

    /**
     * AWQ's grid search (llm-awq {@code _search_module_scale}): for α = i/grid, s = max(mean|X|^α, 1e-4) divided by
     * √(max s · min s); the α with the smallest objective wins (the first on ties), so α = 0, s = 1, plain RTN, is
     * always a candidate.
     */
    public static Search searchScales(Objective objective, List<Tensor> inputs, int grid) {
        double[] xMean = absMean(inputs);
        double best = Double.POSITIVE_INFINITY, bestRatio = -1, unscaled = Double.NaN;
        double[] bestScales = null;
        for (int i = 0; i < grid; i++) {
            double ratio = (double) i / grid;
            double[] s = scalesFor(xMean, ratio);
            double loss = objective.loss(s);
            if (!Double.isFinite(loss)) throw new IllegalStateException("awq: the scale search's loss is " + loss + " at α = " + ratio);
            if (i == 0) unscaled = loss;
            if (loss < best) { best = loss; bestRatio = ratio; bestScales = s; }
        }
        return new Search(bestRatio, bestScales, best, unscaled);
    }

    /** s_j = max(x̄_j^α, 1e-4), then s / √(max s · min s) (eq. 5 and the reference's normalization). */
    public static double[] scalesFor(double[] xMean, double ratio) {
        double[] s = new double[xMean.length];
        double max = 0, min = Double.POSITIVE_INFINITY;
        for (int j = 0; j < s.length; j++) {
            s[j] = Math.max(Math.pow(xMean[j], ratio), 1e-4);
            max = Math.max(max, s[j]);
            min = Math.min(min, s[j]);
        }
        double norm = Math.sqrt(max * min);
        for (int j = 0; j < s.length; j++) s[j] /= norm;
        return s;
    }

    /** mean |x_j| over all tokens of all samples ([tokens, features] each). */
    public static double[] absMean(List<Tensor> inputs) {
        int n = inputs.get(0).size(1);
        double[] sum = new double[n];
        long tokens = 0;
        for (Tensor x : inputs) {
            float[] v = x.contiguous().toFloatArray();
            for (int i = 0; i < v.length; i++) sum[i % n] += Math.abs(v[i]);
            tokens += v.length / n;
        }
        for (int j = 0; j < n; j++) sum[j] /= tokens;
        return sum;
    }

    /**
     * How the searches round a candidate: with the config's spec, or, on llama.cpp's grids, by the reference rule of the
     * ggml type the file type assigns that matrix (fallbacks included), so the loss a search minimises is the loss of
     * the weights the file will store.
     */
    public interface Rounding {
        /** Q(w) for block linear {@code which} of layer {@code layer}, w [rows, cols]. */
        Tensor matrix(Tensor w, int layer, Linear which);

        /** How the clip search rounds one group of a row of that matrix, or null where it has no groups (stored as F16). */
        GroupRounding groups(int layer, Linear which, int cols);

        /** The config's spec (its group size; a row is one group when it has none). */
        static Rounding of(Quantizer q) {
            int qmin = q.spec().qmin(), qmax = q.spec().qmax();
            return new Rounding() {
                @Override public Tensor matrix(Tensor w, int layer, Linear which) { return q.fakeQuant(w, Linears.name(layer, which)); }

                @Override public GroupRounding groups(int layer, Linear which, int cols) {
                    int g = q.spec().groupSize() == 0 ? cols : Math.min(q.spec().groupSize(), cols);
                    String name = Linears.name(layer, which);
                    return new GroupRounding(g, (v, len) -> {
                        float[] scale = new float[1], zero = new float[1];
                        q.fitGroup(v, 0, len, scale, zero, 0, name, len);
                        for (int c = 0; c < len; c++) v[c] = Quantizer.fakeQuant(v[c], scale[0], zero[0], qmin, qmax);
                    });
                }
            };
        }

        /** llama.cpp's grids: each matrix by its ggml type's reference quantization, a group being one block. */
        static Rounding of(GgmlTarget target, int layers) {
            return new Rounding() {
                @Override public Tensor matrix(Tensor w, int layer, Linear which) {
                    return target.roundTrip(w, target.choose(layer, layers, which, w.size(1)), Linears.name(layer, which));
                }

                @Override public GroupRounding groups(int layer, Linear which, int cols) {
                    BlockFormat f = GgmlTarget.formatOf(target.choose(layer, layers, which, cols), Linears.name(layer, which));
                    if (f == null) return null;
                    return new GroupRounding(f.blockSize(), (v, len) -> {
                        byte[] block = new byte[f.blockBytes()];
                        f.quantize(v, 0, block, 0);
                        f.dequantize(block, 0, v, 0);
                    });
                }
            };
        }
    }

    /** One group's rounding, in place on v[0, len) (len ≤ size; a grid's block is always whole). */
    public record GroupRounding(int size, Rounder rounder) {
        @FunctionalInterface public interface Rounder { void round(float[] v, int len); }
    }

    /** A clipped linear's bounds per row and group, and the group length they apply to. */
    record Clip(double[][] maxima, int group) {}

    /** Q(W·diag(s))·diag(s)⁻¹ in f32: the weight the search evaluates. */
    static Tensor scaledQuantized(Tensor w, double[] s, Rounding r, int layer, Linear which) {
        float[] f = new float[s.length];
        for (int j = 0; j < s.length; j++) f[j] = (float) s[j];
        Tensor row = Tensor.wrap(f, s.length);
        return r.matrix(w.mul(row), layer, which).div(row);
    }

    private static double sumSquaredDiff(Tensor a, Tensor b) {
        float[] x = a.contiguous().toFloatArray(), y = b.contiguous().toFloatArray();
        double s = 0;
        for (int i = 0; i < x.length; i++) { double d = (double) x[i] - y[i]; s += d * d; }
        return s;
    }

    /** One linear judged on its own output: mean ||X·Wᵀ − X·Ŵ(s)ᵀ||² (v → o, up → down). */
    public static Objective linearObjective(LlamaWeights fp, int layer, Linear which, List<Tensor> inputs, Rounding q) {
        Tensor w = Linears.weight(fp, layer, which).contiguous();
        List<Tensor> ref = new ArrayList<>();
        for (Tensor x : inputs) ref.add(x.matmul(w.t()));
        return s -> {
            Tensor wq = scaledQuantized(w, s, q, layer, which);
            double sum = 0;
            long count = 0;
            for (int i = 0; i < inputs.size(); i++) {
                Tensor y = inputs.get(i).matmul(wq.t());
                sum += sumSquaredDiff(ref.get(i), y);
                count += y.numel();
            }
            return sum / count;
        };
    }

    /** gate/up judged on the MLP's output (module2inspect = mlp): down(silu(X·Ĝᵀ) ⊙ X·Ûᵀ) against full precision. */
    public static Objective mlpObjective(LlamaWeights fp, int layer, List<Tensor> inputs, Rounding q) {
        Tensor g = Linears.weight(fp, layer, Linear.GATE).contiguous(), u = Linears.weight(fp, layer, Linear.UP).contiguous();
        Tensor d = Linears.weight(fp, layer, Linear.DOWN).contiguous();
        List<Tensor> ref = new ArrayList<>();
        for (Tensor x : inputs) ref.add(x.matmul(g.t()).silu().mul(x.matmul(u.t())).matmul(d.t()));
        return s -> {
            Tensor gq = scaledQuantized(g, s, q, layer, Linear.GATE), uq = scaledQuantized(u, s, q, layer, Linear.UP);
            double sum = 0;
            long count = 0;
            for (int i = 0; i < inputs.size(); i++) {
                Tensor x = inputs.get(i);
                Tensor y = x.matmul(gq.t()).silu().mul(x.matmul(uq.t())).matmul(d.t());
                sum += sumSquaredDiff(ref.get(i), y);
                count += y.numel();
            }
            return sum / count;
        };
    }

    /**
     * q/k/v judged on the attention output (module2inspect = self_attn): block l runs from its residual inputs xs with
     * q/k/v replaced, up to o_proj's input a, and the error is ||(a − a_fp)·W_oᵀ||² averaged (aRef: the
     * full-precision a of each sample, [tokens, qDim]).
     */
    public static Objective attentionObjective(LlamaWeights fp, int layer, List<Tensor> xs, List<Tensor> aRef, Rounding q) {
        Tensor o = Linears.weight(fp, layer, Linear.O).contiguous();
        return s -> {
            Map<Linear, Tensor> cand = new EnumMap<>(Linear.class);
            for (Linear which : List.of(Linear.Q, Linear.K, Linear.V))
                cand.put(which, scaledQuantized(Linears.weight(fp, layer, which).contiguous(), s, q, layer, which));
            LlamaModel m = new LlamaModel(fp, new Hooks() {
                @Override public Var weight(int l, Linear which, Var w) { return l == layer && cand.containsKey(which) ? Var.of(cand.get(which)) : w; }
            });
            List<Tensor> a = new ArrayList<>();
            Capture.inputs(m, layer, xs, EnumSet.of(Input.ATTN_OUT), (site, x) -> a.add(x));
            double sum = 0;
            long count = 0;
            for (int i = 0; i < a.size(); i++) {
                Tensor y = a.get(i).sub(aRef.get(i)).matmul(o.t());
                float[] v = y.toFloatArray();
                for (float f : v) sum += (double) f * f;
                count += v.length;
            }
            return sum / count;
        };
    }

    // ------------------------------------------------------------ the clip search

    /** Every ⌊N/k⌋-th token of the concatenated inputs (N tokens), as the reference samples its 512: [≥k, features]. */
    static float[][] sample(List<Tensor> inputs, int k) {
        int n = inputs.get(0).size(1);
        List<float[]> rows = new ArrayList<>();
        for (Tensor x : inputs) {
            float[] v = x.contiguous().toFloatArray();
            for (int t = 0; t < v.length / n; t++) rows.add(java.util.Arrays.copyOfRange(v, t * n, (t + 1) * n));
        }
        int stride = Math.max(1, rows.size() / k);
        List<float[]> out = new ArrayList<>();
        for (int t = 0; t < rows.size(); t += stride) out.add(rows.get(t));
        return out.toArray(new float[0][]);
    }

    /**
     * llm-awq's {@code auto_clip_layer}: for each output row and group of the weight [rows, cols], the largest |w| of
     * the group shrunk by 1 − i/grid (i &lt; maxShrink·grid) bounds the weights (clamped to ±max), the group is
     * quantized, and the bound whose partial output Σ_{c ∈ group} x_c·w_c moves least over the sampled tokens (mean
     * squared) wins. Returns the bound per row and group (row-major [rows][groups]).
     */
    public static double[][] searchClip(float[] w, int rows, int cols, float[][] x, GroupRounding rounding, int grid, double maxShrink) {
        int g = rounding.size();
        int groups = (cols + g - 1) / g, tokens = x.length, candidates = (int) (maxShrink * grid);
        double[][] best = new double[rows][groups];
        Parallel.forRange(rows, 1, (r0, r1) -> {
            float[] clamped = new float[g];
            double[] ref = new double[tokens];
            for (int r = r0; r < r1; r++)
                for (int gi = 0; gi < groups; gi++) {
                    int c0 = gi * g, c1 = Math.min(cols, c0 + g), len = c1 - c0;
                    double orgMax = 0;
                    for (int c = c0; c < c1; c++) orgMax = Math.max(orgMax, Math.abs(w[r * cols + c]));
                    for (int t = 0; t < tokens; t++) {
                        double s = 0;
                        for (int c = c0; c < c1; c++) s += (double) x[t][c] * w[r * cols + c];
                        ref[t] = s;
                    }
                    double bestErr = Double.POSITIVE_INFINITY, bestMax = orgMax;
                    for (int i = 0; i < candidates; i++) {
                        float max = (float) (orgMax * (1 - (double) i / grid));
                        for (int c = 0; c < len; c++) clamped[c] = Math.min(Math.max(w[r * cols + c0 + c], -max), max);
                        rounding.rounder().round(clamped, len);
                        double err = 0;
                        for (int t = 0; t < tokens; t++) {
                            double s = 0;
                            for (int c = 0; c < len; c++) s += (double) x[t][c0 + c] * clamped[c];
                            err += (s - ref[t]) * (s - ref[t]);
                        }
                        err /= tokens;
                        if (err < bestErr) { bestErr = err; bestMax = max; }
                    }
                    best[r][gi] = bestMax;
                }
        });
        return best;
    }

    /** W with every weight of row r, group gi clamped to ±maxima[r][gi]. */
    static DMatrix clamp(DMatrix w, double[][] maxima, int groupSize) {
        int g = groupSize == 0 ? w.cols : Math.min(groupSize, w.cols);
        DMatrix c = w.copy();
        for (int r = 0; r < w.rows; r++)
            for (int j = 0; j < w.cols; j++) {
                double m = maxima[r][j / g];
                c.data[r * w.cols + j] = Math.min(Math.max(c.data[r * w.cols + j], -m), m);
            }
        return c;
    }

    private static float[] floats(DMatrix m) {
        float[] f = new float[m.data.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) m.data[i];
        return f;
    }
}
