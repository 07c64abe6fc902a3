package dev.stiefel.llama;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.GradCheck;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.testing.F64Llama;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LlamaModelTest {

    /** max |a − b| / max |b| over all logits of one sequence. */
    private static double relError(Tensor logits, int row, double[][] ref) {
        double worst = 0, scale = 0;
        for (int t = 0; t < ref.length; t++)
            for (int v = 0; v < ref[t].length; v++) {
                worst = Math.max(worst, Math.abs(logits.get(row, t, v) - ref[t][v]));
                scale = Math.max(scale, Math.abs(ref[t][v]));
            }
        return worst / scale;
    }

    @ParameterizedTest(name = "heads {0}/{1}, {2}, tied {3}")
    @CsvSource({"4,4,INTERLEAVED,true", "4,2,INTERLEAVED,false", "6,1,HALF,false", "4,2,HALF,true"})
    void logitsMatchAnF64Reference(int heads, int kvHeads, Rope.Layout layout, boolean tied) {
        LlamaConfig c = RandomModels.config(24, 37, 2, heads, kvHeads, 53, layout, tied);
        LlamaWeights w = RandomModels.random(c, 7, DType.F32);
        Random rnd = new Random(3);
        int[] a = RandomModels.tokens(rnd, 9, c.vocabSize()), b = RandomModels.tokens(rnd, 9, c.vocabSize());
        Tensor logits;
        try (var off = Grad.off()) {
            logits = new LlamaModel(w).forward(Tensor.ofInts(concat(a, b), 2, 9), null).value();
        }
        assertThat(logits.shape()).containsExactly(2, 9, 53);
        F64Llama ref = F64Llama.of(w);
        assertThat(relError(logits, 0, ref.logits(a))).isLessThan(1e-5);
        assertThat(relError(logits, 1, ref.logits(b))).isLessThan(1e-5);
    }

    @ParameterizedTest(name = "{0}, heads {1}/{2}, tied {3}")
    @CsvSource({"QWEN2,4,2,true", "QWEN2,6,6,false", "QWEN3,4,2,true", "QWEN3,3,1,false"})
    void qwenLogitsMatchAnF64ReferenceInBothRopeLayoutsAndThroughTheKvCache(LlamaConfig.Architecture arch, int heads, int kvHeads, boolean tied) {
        LlamaConfig c = RandomModels.qwen(arch, 24, 37, 2, heads, kvHeads, 53, tied);
        LlamaWeights w = RandomModels.random(c, 7, DType.F32);
        int[] a = RandomModels.tokens(new Random(3), 9, c.vocabSize());
        LlamaModel model = new LlamaModel(w);
        Tensor logits;
        try (var off = Grad.off()) { logits = model.forward(Tensor.ofInts(a, 1, 9), null).value(); }
        double[][] ref = F64Llama.of(w).logits(a);
        assertThat(relError(logits, 0, ref)).isLessThan(1e-5);
        // without its biases or q/k norms the model is another one: the reference sees them
        LlamaWeights plain = new LlamaWeights(c.withArchitecture(LlamaConfig.Architecture.LLAMA), w.embedding(),
                w.layers().stream().map(l -> new LlamaWeights.Layer(l.attnNorm(), l.wq(), l.wk(), l.wv(), l.wo(), l.ffnNorm(), l.wGate(), l.wUp(), l.wDown())).toList(),
                w.finalNorm(), tied ? null : w.output(), List.of());
        assertThat(relError(logits, 0, F64Llama.of(plain).logits(a))).isGreaterThan(1e-2);
        // the interleaved layout permutes q/k rows, the q/k biases and the q/k norm gains alike
        LlamaWeights inter = dev.stiefel.llama.io.RopePermutation.toLayout(w, Rope.Layout.INTERLEAVED);
        assertThat(relError(logits, 0, F64Llama.of(inter).logits(a))).isLessThan(1e-5);
        Tensor interLogits;
        try (var off = Grad.off()) { interLogits = new LlamaModel(inter).forward(Tensor.ofInts(a, 1, 9), null).value(); }
        assertThat(interLogits.maxAbsDiff(logits)).isLessThan(1e-4);
        // KV cache: a prefill then one token at a time gives the full pass's logits
        KvCache cache = model.newCache(1, 9);
        assertThat(model.nextLogits(Tensor.ofInts(java.util.Arrays.copyOf(a, 4), 1, 4), cache).maxAbsDiff(logits.select(1, 3))).isLessThan(1e-4);
        for (int t = 4; t < 9; t++)
            assertThat(model.nextLogits(Tensor.ofInts(new int[]{a[t]}, 1, 1), cache).maxAbsDiff(logits.select(1, t))).as("position %d", t).isLessThan(1e-4);
    }

    /**
     * The tape path of Qwen's extra tensors (calibration and training run it): gradients of a fixed linear function of
     * the logits with respect to the q/k/v biases and the q/k norm gains equal central differences of the f64 reference.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = LlamaConfig.Architecture.class, names = {"QWEN2", "QWEN3"})
    void qwenTensorsGetTheGradientsOfTheF64Reference(LlamaConfig.Architecture arch) {
        LlamaConfig c = RandomModels.qwen(arch, 16, 19, 2, 4, 2, 17, false);
        LlamaWeights w = RandomModels.random(c, 13, DType.F32);
        int[] ids = RandomModels.tokens(new Random(4), 5, c.vocabSize());
        Tensor probe = Tensor.randn(new Random(5), 1, 5, c.vocabSize());
        LlamaModel model = new LlamaModel(w).trainable();
        model.forward(Tensor.ofInts(ids, 1, 5), null).mul(Var.of(probe)).sum().backward();
        Map<Tensor, Var> byTensor = new java.util.IdentityHashMap<>();
        List<Var> params = model.parameters();
        List<Tensor> tensors = w.tensors();
        for (int i = 0; i < tensors.size(); i++) byTensor.put(tensors.get(i), params.get(i));
        float[] pr = probe.toFloatArray();
        double h = 1.0 / 1024;
        for (LlamaWeights.Layer l : w.layers()) {
            Tensor[] extra = arch == LlamaConfig.Architecture.QWEN2 ? new Tensor[]{l.bq(), l.bk(), l.bv()} : new Tensor[]{l.qNorm(), l.kNorm()};
            for (Tensor t : extra) {
                float[] data = ((dev.stiefel.tensor.FloatStorage) t.storage()).data();
                Tensor grad = byTensor.get(t).grad();
                for (int i : new int[]{0, t.size(0) / 2 + 1, t.size(0) - 1}) {
                    float keep = data[i];
                    data[i] = (float) (keep + h);
                    double up = dot(F64Llama.of(w).logits(ids), pr);
                    data[i] = (float) (keep - h);
                    double down = dot(F64Llama.of(w).logits(ids), pr);
                    data[i] = keep;
                    double fd = (up - down) / (2 * h);
                    assertThat((double) grad.get(i)).as("%s element %d", t, i).isCloseTo(fd, org.assertj.core.data.Offset.offset(1e-3 * (1 + Math.abs(fd))));
                }
            }
        }
    }

    /**
     * A checkpointed model (each block recomputed in backward) gives the same logits bit for bit and the same gradients
     * for every weight up to summation order, on a batch of two and a tied, odd-shaped model; the gradients also reach
     * the embedding through the blocks' recomputed backward.
     */
    @Test void checkpointedBlocksGiveTheSameValuesAndGradients() {
        LlamaConfig c = RandomModels.config(24, 38, 3, 3, 1, 29, dev.stiefel.tensor.Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = RandomModels.random(c, 21, DType.F32);
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(6), 2 * 7, c.vocabSize()), 2, 7);
        Tensor probe = Tensor.randn(new Random(7), 2, 7, c.vocabSize());
        LlamaModel plain = new LlamaModel(w).trainable();
        Var a = plain.forward(ids, null);
        a.mul(Var.of(probe)).sum().backward();
        List<Tensor> want = plain.parameters().stream().map(Var::grad).toList();
        for (Var p : plain.parameters()) p.zeroGrad();
        LlamaModel checkpointed = plain.checkpointed(plain.parameters());
        Var b = checkpointed.forward(ids, null);
        assertThat(b.value().toFloatArray()).as("the same logits").isEqualTo(a.value().toFloatArray());
        b.mul(Var.of(probe)).sum().backward();
        List<Var> params = checkpointed.parameters();
        for (int i = 0; i < params.size(); i++) {
            float[] got = params.get(i).grad().toFloatArray(), exp = want.get(i).toFloatArray();
            double scale = 0;
            for (float v : exp) scale = Math.max(scale, Math.abs(v));
            assertThat(scale).as("parameter %d has a gradient", i).isPositive();
            for (int j = 0; j < got.length; j++)
                assertThat((double) got[j]).as("parameter %d element %d", i, j).isCloseTo(exp[j], org.assertj.core.data.Offset.offset(1e-5 * scale));
        }
    }

    private static double dot(double[][] logits, float[] probe) {
        double s = 0;
        int v = logits[0].length;
        for (int t = 0; t < logits.length; t++) for (int j = 0; j < v; j++) s += logits[t][j] * probe[t * v + j];
        return s;
    }

    @Test void bf16WeightsComputeTheSameModelAsTheirF32Widening() {
        LlamaConfig c = RandomModels.config(16, 29, 1, 2, 1, 31, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 5, DType.BF16);
        int[] toks = RandomModels.tokens(new Random(1), 6, c.vocabSize());
        Tensor logits = new LlamaModel(w).nextLogits(Tensor.ofInts(toks, 1, 6), null);
        double[][] ref = F64Llama.of(w).logits(toks);
        for (int v = 0; v < c.vocabSize(); v++) assertThat((double) logits.get(0, v)).isCloseTo(ref[5][v], org.assertj.core.data.Offset.offset(1e-4));
    }

    @Test void decodingWithTheKvCacheGivesTheLogitsOfTheFullSequence() {
        LlamaConfig c = RandomModels.config(24, 40, 3, 6, 2, 41, Rope.Layout.INTERLEAVED, false);
        LlamaModel model = new LlamaModel(RandomModels.random(c, 11, DType.F32));
        int[] toks = RandomModels.tokens(new Random(2), 12, c.vocabSize());
        Tensor full;
        try (var off = Grad.off()) { full = model.forward(Tensor.ofInts(toks, 1, 12), null).value(); }
        KvCache cache = model.newCache(1, 16);
        Tensor prefill = model.nextLogits(Tensor.ofInts(java.util.Arrays.copyOf(toks, 5), 1, 5), cache);
        assertThat(prefill.maxAbsDiff(full.select(1, 4))).isLessThan(1e-4);
        for (int t = 5; t < 12; t++) {
            Tensor step = model.nextLogits(Tensor.ofInts(new int[]{toks[t]}, 1, 1), cache);
            assertThat(step.maxAbsDiff(full.select(1, t))).as("position %d", t).isLessThan(1e-4);
        }
        assertThat(cache.length()).isEqualTo(12);
        assertThatThrownBy(() -> model.nextLogits(Tensor.ofInts(new int[5], 1, 5), cache))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("capacity of 16");
    }

    /**
     * K and V handed to the cache as integer levels (what the packed runtime's KV quantizers return) are stored at
     * their bit width and read back as exactly the values the hooks gave: decoding computes, bit for bit, what the same
     * hooks computing f32 values do, from a cache several times smaller. Per head at 4 and 3 bits (nibbles), per token at
     * 6 bits (bytes), symmetric and not.
     */
    @ParameterizedTest(name = "{0}-bit, per head {1}, symmetric {2}")
    @CsvSource({"4,true,false", "3,true,true", "6,false,false"})
    void kvLevelsAreCachedAtTheirBitWidthAndReadBackExactly(int bits, boolean perHead, boolean symmetric) {
        LlamaConfig c = RandomModels.config(24, 40, 2, 6, 2, 41, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 13, DType.F32);
        int[] toks = RandomModels.tokens(new Random(5), 10, c.vocabSize());
        float[][] logits = new float[2][];
        long[] bytes = new long[2];
        for (int asLevels = 0; asLevels < 2; asLevels++) {
            boolean levels = asLevels == 1;
            Hooks kv = new Hooks() { // a per-row minmax grid, written out here (llama cannot see quant's quantizer)
                @Override public Var key(int layer, Var k) { return Var.of(quantize(k.value(), bits, perHead, symmetric, levels)); }
                @Override public Var value(int layer, Var v) { return Var.of(quantize(v.value(), bits, perHead, symmetric, levels)); }
            };
            LlamaModel model = new LlamaModel(w, kv);
            KvCache cache = model.newCache(1, 12);
            model.nextLogits(Tensor.ofInts(java.util.Arrays.copyOf(toks, 4), 1, 4), cache);
            float[] all = new float[0];
            for (int t = 4; t < 10; t++) {
                float[] step = model.nextLogits(Tensor.ofInts(new int[]{toks[t]}, 1, 1), cache).toFloatArray();
                all = java.util.Arrays.copyOf(all, all.length + step.length);
                System.arraycopy(step, 0, all, all.length - step.length, step.length);
            }
            logits[asLevels] = all;
            bytes[asLevels] = cache.bytes();
            // zero-shot scoring truncates the cache and continues: the overwritten rows read back as the new ones
            cache.truncate(7);
            float[] again = new float[0];
            for (int t = 7; t < 10; t++) {
                float[] step = model.nextLogits(Tensor.ofInts(new int[]{toks[t]}, 1, 1), cache).toFloatArray();
                again = java.util.Arrays.copyOf(again, again.length + step.length);
                System.arraycopy(step, 0, again, again.length - step.length, step.length);
            }
            assertThat(again).as("after truncate").containsExactly(java.util.Arrays.copyOfRange(all, all.length - again.length, all.length));
        }
        assertThat(logits[1]).containsExactly(logits[0]);
        // per layer, K and V: capacity × rows per token × (codes + an f32 scale + a one-byte zero point)
        int cols = perHead ? c.headDim() : c.kvHeads() * c.headDim(), rowsPerToken = c.kvHeads() * c.headDim() / cols;
        long perRow = (bits <= 4 ? (cols + 1) / 2 : cols) + 5;
        assertThat(bytes[1]).isEqualTo(2L * c.layers() * 12 * rowsPerToken * perRow);
        assertThat(bytes[0]).isEqualTo(2L * c.layers() * 12 * c.kvHeads() * c.headDim() * 4);
    }

    /** x [B, T, H, d] on a bits-bit grid per row (a token's head, or a token), as f32 values or as their levels. */
    private static Tensor quantize(Tensor x, int bits, boolean perHead, boolean symmetric, boolean asLevels) {
        int[] s = x.shape();
        int cols = perHead ? s[3] : s[2] * s[3], rows = x.numel() / cols;
        float[] v = x.contiguous().toFloatArray(), lv = new float[v.length], sc = new float[rows], zs = new float[rows], out = new float[v.length];
        int qmin = symmetric ? -(1 << (bits - 1)) : 0, qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        for (int r = 0; r < rows; r++) {
            float lo = 0, hi = 0;
            for (int j = 0; j < cols; j++) { lo = Math.min(lo, v[r * cols + j]); hi = Math.max(hi, v[r * cols + j]); }
            float scale = symmetric ? Math.max(-lo, hi) / qmax : (hi - lo) / qmax, z = symmetric ? 0 : (float) Math.rint(-lo / scale);
            sc[r] = scale;
            zs[r] = z;
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                lv[i] = Math.min(Math.max((float) Math.rint(v[i] / scale) + z, qmin), qmax);
                out[i] = (lv[i] - z) * scale;
            }
        }
        return asLevels ? dev.stiefel.tensor.Int8Storage.tensor(dev.stiefel.tensor.packed.Int8Rows.ofLevels(rows, cols, bits, symmetric, lv, sc, zs)).reshape(s)
                : Tensor.wrap(out, s);
    }

    /** Hugging Face's converter reorders each head's Q/K rows (2i → i, 2i+1 → i + d/2) so rotate-half RoPE equals the interleaved one. */
    static LlamaWeights toHalfLayout(LlamaWeights w) {
        LlamaConfig c = w.config();
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers())
            layers.add(new LlamaWeights.Layer(l.attnNorm(), permuteRows(l.wq(), c.heads(), c.headDim()), permuteRows(l.wk(), c.kvHeads(), c.headDim()),
                    l.wv(), l.wo(), l.ffnNorm(), l.wGate(), l.wUp(), l.wDown()));
        LlamaConfig half = c.withRopeLayout(Rope.Layout.HALF);
        return new LlamaWeights(half, w.embedding(), layers, w.finalNorm(), c.tiedEmbeddings() ? null : w.output(), List.of());
    }

    private static Tensor permuteRows(Tensor w, int heads, int hd) {
        int[] order = new int[heads * hd];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd / 2; i++) { order[h * hd + i] = h * hd + 2 * i; order[h * hd + hd / 2 + i] = h * hd + 2 * i + 1; }
        return w.indexSelect(0, Tensor.ofInts(order, order.length));
    }

    @Test void interleavedWeightsAndTheirRotateHalfPermutationAreTheSameModel() {
        LlamaConfig c = RandomModels.config(32, 48, 2, 4, 2, 37, Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = RandomModels.random(c, 13, DType.F32);
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(4), 10, c.vocabSize()), 1, 10);
        try (var off = Grad.off()) {
            Tensor a = new LlamaModel(w).forward(ids, null).value();
            Tensor b = new LlamaModel(toHalfLayout(w)).forward(ids, null).value();
            assertThat(a.maxAbsDiff(b)).isLessThan(1e-4);
            // and the permutation matters: the same rows with the other layout give another model
            Tensor wrong = new LlamaModel(new LlamaWeights(c.withRopeLayout(Rope.Layout.HALF), w.embedding(), w.layers(), w.finalNorm(), null, List.of()))
                    .forward(ids, null).value();
            assertThat(a.maxAbsDiff(wrong)).isGreaterThan(1e-2);
        }
    }

    /** Scaling V by s (per kv feature) and O's matching columns by 1/s is exactly the same model: the V→O path hook works. */
    @Test void valueHookAndWeightHookComposeAnEquivalentTransform() {
        LlamaConfig c = RandomModels.config(16, 24, 2, 4, 2, 29, Rope.Layout.INTERLEAVED, false);
        LlamaWeights w = RandomModels.random(c, 17, DType.F32);
        Tensor s = Tensor.uniform(new Random(9), 0.5f, 2f, c.kvHeads(), c.headDim());
        // query head h reads kv head h / groupSize: O's input column for (h, i) is divided by s[h / g][i]
        float[] inv = new float[c.qDim()];
        for (int h = 0; h < c.heads(); h++)
            for (int i = 0; i < c.headDim(); i++) inv[h * c.headDim() + i] = 1 / s.get(h / c.groupSize(), i);
        Tensor oScale = Tensor.wrap(inv, c.qDim());
        List<String> calls = new ArrayList<>();
        Hooks scaled = new Hooks() {
            @Override public Var value(int layer, Var v) { calls.add("value " + layer); return v.mul(Var.of(s)); }
            @Override public Var weight(int layer, Linear which, Var wt) {
                calls.add(which + " " + layer);
                return which == Linear.O ? wt.mul(Var.of(oScale)) : wt;
            }
        };
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(5), 8, c.vocabSize()), 1, 8);
        try (var off = Grad.off()) {
            Tensor ref = new LlamaModel(w).forward(ids, null).value();
            Tensor out = new LlamaModel(w, scaled).forward(ids, null).value();
            assertThat(out.maxAbsDiff(ref)).isLessThan(1e-4);
        }
        assertThat(calls).contains("value 0", "value 1", "Q 0", "K 1", "DOWN 1", "HEAD -1").hasSize(2 + 7 * 2 + 1);
    }

    /** Calibration mode: a learnable parameter inside a hook gets the gradient of a loss through the frozen model. */
    @Test void gradientsReachParametersInsideHooks() {
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 11, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 19, DType.F32);
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(6), 5, c.vocabSize()), 1, 5);
        GradCheck.Result r = GradCheck.check(p -> {
            Hooks h = new Hooks() {
                @Override public Var input(int layer, Input where, Var x) { return where == Input.MLP_OUT ? x.mul(p[0]) : x; }
                @Override public Var key(int layer, Var k) { return k.mul(p[1]); }
            };
            return new LlamaModel(w, h).forward(ids, null).logSoftmax(-1);
        }, Tensor.uniform(new Random(1), 0.5f, 1.5f, c.hiddenDim()), Tensor.uniform(new Random(2), 0.5f, 1.5f, c.headDim()));
        assertThat(r.passed(GradCheck.DEFAULT_TOLERANCE)).as(r.toString()).isTrue();
    }

    @Test void badTokenIdsAreRejectedWithTheirValue() {
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 11, Rope.Layout.HALF, false);
        LlamaModel m = new LlamaModel(RandomModels.random(c, 1, DType.F32));
        assertThatThrownBy(() -> m.nextLogits(Tensor.ofInts(new int[]{3, 11}, 1, 2), null))
                .hasMessageContaining("token id 11").hasMessageContaining("[0, 11)");
        assertThatThrownBy(() -> m.nextLogits(Tensor.ofInts(new int[]{3, 1}, 2), null)).hasMessageContaining("[batch, tokens]");
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Training mode: every weight is a parameter, a tied embedding is one parameter fed by both of its uses. */
    @Test void trainableModelGivesEveryWeightAGradientAndTiedEmbeddingsAccumulateBothUses() {
        LlamaConfig c = RandomModels.config(8, 12, 2, 2, 1, 13, Rope.Layout.HALF, true);
        LlamaWeights w = RandomModels.random(c, 23, DType.F32);
        LlamaModel model = new LlamaModel(w).trainable();
        List<Var> params = model.parameters();
        assertThat(params).hasSize(w.tensors().size()).hasSize(1 + 9 * 2 + 1);
        Tensor ids = Tensor.ofInts(new int[]{1, 4, 9, 2}, 1, 4);
        dev.stiefel.autograd.Losses.crossEntropy(model.forward(ids, null), new int[]{4, 9, 2, 7}).backward();
        for (Var p : params) {
            float[] g = p.grad().toFloatArray();
            double largest = 0;
            for (float x : g) largest = Math.max(largest, Math.abs(x));
            assertThat(largest).as("largest |gradient| of %s", p).isFinite().isGreaterThan(1e-9);
        }
        // the embedding's gradient = its gradient as a lookup table + its gradient as the output head
        Tensor embGrad = params.get(0).grad();
        double rowsNotLookedUp = 0;
        for (int v : new int[]{0, 3, 5, 12}) rowsNotLookedUp += Math.abs(embGrad.get(v, 0)) + Math.abs(embGrad.get(v, 1));
        assertThat(rowsNotLookedUp).as("the head sends gradient to every row").isGreaterThan(0);
        assertThat(w.hfNames()).hasSize(w.tensors().size()).doesNotContain("lm_head.weight");
    }

    /** DESIGN.md's determinism: the same forward pass gives the same bits every time, whatever the JIT has compiled by then. */
    @Test void forwardPassIsBitReproducible() {
        LlamaConfig c = RandomModels.config(64, 172, 2, 8, 4, 97, Rope.Layout.INTERLEAVED, false);
        LlamaModel model = new LlamaModel(RandomModels.random(c, 29, DType.F32));
        Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(7), 40, c.vocabSize()), 1, 40);
        Tensor first;
        try (var off = Grad.off()) { first = model.forward(ids, null).value(); }
        for (int run = 0; run < 30; run++)
            try (var off = Grad.off()) {
                Tensor again = model.forward(ids, null).value();
                assertThat(again.maxAbsDiff(first)).as("run %d", run).isZero();
            }
    }
}
