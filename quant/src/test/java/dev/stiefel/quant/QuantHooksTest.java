package dev.stiefel.quant;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QuantHooksTest {

    /**
     * The packed runtime's integer activations are the f32 quantizer's values bit for bit (levels, scales and zero
     * points kept instead of (q − z)·s), at every width up to 8 bits, symmetric or not, with and without clipping; a
     * spec the integer rows cannot hold (grouped, per tensor, or on a tape) is quantized as before.
     */
    @Test void integerActivationsAreTheFakeQuantizedValues() {
        Random rnd = new Random(8);
        for (int bits : new int[]{3, 4, 6, 8})
            for (boolean sym : new boolean[]{true, false})
                for (QuantSpec.Clipping clip : new QuantSpec.Clipping[]{QuantSpec.Clipping.NONE, QuantSpec.Clipping.fixed(0.9)}) {
                    QuantConfig c = QuantConfig.parse("W4A16").withActivation(QuantSpec.activations(bits, sym, 0).withClipping(clip));
                    QuantHooks f32 = QuantHooks.of(c), ints = f32.withIntegerLevels();
                    Tensor x = Tensor.randn(rnd, 2, 5, 37).mul(3f);
                    Var a = f32.input(0, Input.MLP_IN, Var.of(x)), b = ints.input(0, Input.MLP_IN, Var.of(x));
                    assertThat(b.value().storage()).as("int%d", bits).isInstanceOf(dev.stiefel.tensor.Int8Storage.class);
                    assertThat(b.value().toFloatArray()).as("int%d %s %s", bits, sym, clip).containsExactly(a.value().toFloatArray());
                }
        QuantConfig grouped = QuantConfig.parse("W4A16").withActivation(QuantSpec.activations(4, false, 16));
        Var g = QuantHooks.of(grouped).withIntegerLevels().input(0, Input.MLP_IN, Var.of(Tensor.randn(rnd, 1, 3, 32)));
        assertThat(g.value().storage()).isNotInstanceOf(dev.stiefel.tensor.Int8Storage.class);
    }

    private final LlamaConfig config = RandomModels.config(24, 40, 2, 4, 2, 37, Rope.Layout.HALF, false);
    private final LlamaWeights weights = RandomModels.random(config, 7);

    @Test void linearInputsAreQuantizedPerTokenAndTheHeadOnlyWhenAsked() {
        Random rnd = new Random(1);
        Tensor x = Tensor.randn(rnd, 2, 5, 24);
        QuantConfig c = QuantConfig.parse("W16A4");
        QuantHooks hooks = QuantHooks.of(c);
        Tensor expected = new Quantizer(c.activation()).fakeQuant(x, "x");
        for (Input where : List.of(Input.ATTN_IN, Input.ATTN_OUT, Input.MLP_IN, Input.MLP_OUT))
            assertThat(hooks.input(1, where, Var.of(x)).value().toFloatArray()).as(where.name()).isEqualTo(expected.toFloatArray());
        // per token: each row has at most 16 distinct values, and a token's result does not depend on its neighbours
        float[] y = expected.toFloatArray();
        for (int t = 0; t < 10; t++) {
            Set<Float> levels = new HashSet<>();
            for (int i = 0; i < 24; i++) levels.add(y[t * 24 + i]);
            assertThat(levels.size()).isLessThanOrEqualTo(16);
        }
        Tensor one = x.narrow(1, 3, 1).contiguous();
        assertThat(hooks.input(0, Input.MLP_IN, Var.of(one)).value().toFloatArray())
                .isEqualTo(expected.narrow(1, 3, 1).contiguous().toFloatArray());

        assertThat(hooks.input(-1, Input.HEAD_IN, Var.of(x)).value()).isSameAs(x);
        QuantHooks withHead = QuantHooks.of(c.withEmbeddingAndHead(false, true));
        assertThat(withHead.input(-1, Input.HEAD_IN, Var.of(x)).value().toFloatArray()).isEqualTo(expected.toFloatArray());
        assertThat(QuantHooks.of(QuantConfig.parse("W4A16")).input(0, Input.ATTN_IN, Var.of(x)).value()).isSameAs(x);
    }

    @Test void keysAndValuesAreQuantizedPerTokenAndHeadOrInGroupsAcrossHeads() {
        Random rnd = new Random(2);
        Tensor k = Tensor.randn(rnd, 1, 6, 2, 12);
        QuantConfig perHead = QuantConfig.parse("W16A16KV3");
        Tensor kq = QuantHooks.of(perHead).key(0, Var.of(k)).value();
        assertThat(kq.toFloatArray()).isEqualTo(new Quantizer(perHead.key()).fakeQuant(k.reshape(12, 12), "k").toFloatArray());
        Tensor vq = QuantHooks.of(perHead).value(0, Var.of(k)).value();
        assertThat(vq.toFloatArray()).isEqualTo(kq.toFloatArray());
        assertThat(kq.shape()).isEqualTo(k.shape());

        QuantConfig grouped = perHead.withKvGroup(8);
        assertThat(grouped.key().granularity()).isEqualTo(Granularity.PER_TOKEN);
        Tensor kg = QuantHooks.of(grouped).key(0, Var.of(k)).value();
        // groups of 8 along the 24 features of a token: the middle group straddles the two heads
        assertThat(kg.toFloatArray()).isEqualTo(new Quantizer(grouped.key()).fakeQuant(k.reshape(6, 24), "k").toFloatArray());
        assertThat(kg.toFloatArray()).isNotEqualTo(kq.toFloatArray());
    }

    @Test void theKvCacheHoldsQuantizedValuesSoGenerationMatchesTheFullForward() {
        Random rnd = new Random(3);
        int[] tokens = RandomModels.tokens(rnd, 12, config.vocabSize());
        LlamaModel fp = new LlamaModel(weights);
        for (String shorthand : List.of("W16A8KV4", "W16A16K3V2", "W16A4KV8")) {
            QuantConfig c = QuantConfig.parse(shorthand);
            List<Tensor> keysSeen = new ArrayList<>();
            Hooks recorder = new Hooks() {
                @Override public Var key(int layer, Var k) { if (layer == 1) keysSeen.add(k.value()); return k; }
            };
            // the recorder runs after quantization: what it sees is what the cache stores
            Hooks quantized = QuantHooks.of(c);
            Hooks both = new Hooks() {
                @Override public Var input(int l, Input w, Var x) { return quantized.input(l, w, x); }
                @Override public Var key(int l, Var k) { return recorder.key(l, quantized.key(l, k)); }
                @Override public Var value(int l, Var v) { return quantized.value(l, v); }
            };
            LlamaModel model = fp.withHooks(both);
            Tensor full, cachedLast;
            try (var off = Grad.off()) {
                full = model.forward(Tensor.ofInts(tokens, 1, 12), null).value();
                var cache = model.newCache(1, 12);
                model.nextLogits(Tensor.ofInts(java.util.Arrays.copyOf(tokens, 8), 1, 8), cache);
                Tensor last = null;
                for (int t = 8; t < 12; t++) last = model.nextLogits(Tensor.ofInts(new int[]{tokens[t]}, 1, 1), cache);
                cachedLast = last;
            }
            float[] a = full.select(1, 11).toFloatArray(), b = cachedLast.toFloatArray();
            for (int i = 0; i < a.length; i++)
                assertThat((double) b[i]).as(shorthand).isCloseTo(a[i], org.assertj.core.data.Offset.offset(1e-4 * (1 + Math.abs(a[i]))));
            // every key row (one token, one head) the cache received lies on a grid of 2^bits levels
            int bits = c.key().bits();
            for (Tensor k : keysSeen) {
                float[] v = k.toFloatArray();
                for (int row = 0; row < v.length / config.headDim(); row++) {
                    Set<Float> levels = new HashSet<>();
                    for (int i = 0; i < config.headDim(); i++) levels.add(v[row * config.headDim() + i]);
                    assertThat(levels.size()).isLessThanOrEqualTo(1 << bits);
                }
            }
            assertThat(keysSeen).hasSize(1 + 1 + 4);
        }
    }

    @Test void quantizationComposesAfterAnInnerTransform() {
        Random rnd = new Random(4);
        Tensor x = Tensor.randn(rnd, 1, 3, 24);
        Hooks doubling = new Hooks() {
            @Override public Var input(int l, Input w, Var v) { return v.mul(2f); }
            @Override public Var key(int l, Var k) { return k.mul(2f); }
        };
        QuantConfig c = QuantConfig.parse("W16A4KV4");
        QuantHooks over = QuantHooks.over(doubling, c);
        assertThat(over.input(0, Input.ATTN_IN, Var.of(x)).value().toFloatArray())
                .isEqualTo(new Quantizer(c.activation()).fakeQuant(x.mul(2f), "x").toFloatArray());
        Tensor k = Tensor.randn(rnd, 1, 3, 2, 12);
        assertThat(over.key(0, Var.of(k)).value().toFloatArray()).isEqualTo(QuantHooks.of(c).key(0, Var.of(k.mul(2f))).value().toFloatArray());
    }

    @Test void staticRangesAreCalibratedOnceAndThenFixed() {
        Random rnd = new Random(5);
        QuantSpec perTensor = QuantSpec.activations(8, false, 0).withGranularity(Granularity.PER_TENSOR).withDynamic(false);
        QuantConfig c = QuantConfig.parse("W16A8KV8").withActivation(perTensor).withKv(perTensor, null);
        QuantHooks hooks = QuantHooks.of(c);
        Tensor x = Tensor.randn(rnd, 1, 4, 24);
        assertThatThrownBy(() -> hooks.input(0, Input.ATTN_IN, Var.of(x))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("model.layers.0.attn_in").hasMessageContaining("calibrate");
        List<Tensor> samples = List.of(Tensor.ofInts(RandomModels.tokens(rnd, 9, config.vocabSize()), 1, 9),
                Tensor.ofInts(RandomModels.tokens(rnd, 9, config.vocabSize()), 1, 9));
        QuantHooks calibrated = hooks.calibrate(new LlamaModel(weights), samples);
        assertThat(calibrated.staticParams().keySet()).containsExactlyInAnyOrder("model.layers.0.attn_in", "model.layers.0.attn_out",
                "model.layers.0.mlp_in", "model.layers.0.mlp_out", "model.layers.1.attn_in", "model.layers.1.attn_out",
                "model.layers.1.mlp_in", "model.layers.1.mlp_out", "model.layers.0.k_cache", "model.layers.1.k_cache");
        // the range is the calibration extremes: recompute one site's directly
        float[] seen = {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        Hooks probe = new Hooks() {
            @Override public Var input(int l, Input w, Var v) {
                if (l == 1 && w == Input.MLP_OUT) for (float f : v.value().toFloatArray()) { seen[0] = Math.min(seen[0], f); seen[1] = Math.max(seen[1], f); }
                return v;
            }
        };
        try (var off = Grad.off()) { for (Tensor s : samples) new LlamaModel(weights, probe).forward(s, null); }
        QuantParams p = calibrated.staticParams().get("model.layers.1.mlp_out");
        assertThat(p).isEqualTo(new Quantizer(perTensor).fitRange(seen[0], seen[1], 1, 1, "x"));
        // fixed: the same scale for any input, however large
        Tensor big = x.mul(1000f);
        float[] y = calibrated.input(1, Input.MLP_OUT, Var.of(big)).value().toFloatArray();
        float top = (p.qmax() - p.zero()[0]) * p.scale()[0];
        for (float v : y) assertThat(v).isLessThanOrEqualTo(top);
        // a straight-through pass gives the same values
        assertThat(calibrated.input(1, Input.MLP_OUT, Var.param(big)).value().toFloatArray()).isEqualTo(y);
    }

    @Test void misconfiguredSpecsAndNonFiniteActivationsAreNamed() {
        assertThatThrownBy(() -> QuantHooks.of(QuantConfig.FP.withActivation(QuantSpec.kv(4, false, 0))))
                .hasMessageContaining("per-head scales are for the K/V cache");
        assertThatThrownBy(() -> QuantHooks.of(QuantConfig.FP.withActivation(QuantSpec.activations(4, false, 0).withDynamic(false))))
                .hasMessageContaining("static activations need one per-tensor range");
        Tensor x = Tensor.zeros(1, 2, 24);
        x.set(Float.NaN, 0, 1, 5);
        assertThatThrownBy(() -> QuantHooks.of(QuantConfig.parse("W16A8")).input(3, Input.MLP_OUT, Var.of(x)))
                .hasMessageContaining("model.layers.3.mlp_out").hasMessageContaining("NaN").hasMessageContaining("row 1, column 5");
        Tensor k = Tensor.zeros(1, 2, 2, 12);
        k.set(Float.POSITIVE_INFINITY, 0, 0, 1, 0);
        assertThatThrownBy(() -> QuantHooks.of(QuantConfig.parse("W16A16KV4")).key(1, Var.of(k)))
                .hasMessageContaining("model.layers.1.k_cache").hasMessageContaining("Infinity");
    }
}
