package dev.stiefel.quant.transform;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.SmallModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The equivalence check every transform test uses, and two random models to run it on: GQA with Hadamard orders that
 * need Paley blocks (dim 48 = 4·12, hidden 40 = 2·20, headDim 12), untied, rotate-half RoPE; and MQA with orders that
 * have no Hadamard matrix (dim 30, hidden 26, headDim 10, 3 heads: the random-orthogonal fallback), tied, interleaved
 * RoPE.
 */
public final class EquivalenceCheck {
    private EquivalenceCheck() {}

    public static final LlamaConfig GQA = new LlamaConfig(48, 40, 2, 4, 2, 12, 37, 1e-5f, 10000, null, Rope.Layout.HALF, false, 64);
    public static final LlamaConfig ODD = new LlamaConfig(30, 26, 2, 3, 1, 10, 29, 1e-5f, 10000, null, Rope.Layout.INTERLEAVED, true, 64);

    /**
     * The logits of fp and of fp with {@code ts} fused agree: in f64 ({@link Reference64} on the exact fused weights
     * with the online parts, against the original weights) to 1e-8 absolute, and in f32 (the model's forward on the
     * rounded weights with its hooks) to 1e-4 of the largest logit, on random tokens. Returns the fused model.
     */
    public static Transforms.Fused assertEquivalent(LlamaWeights fp, List<? extends Transform> ts, Random rnd) {
        LlamaConfig c = fp.config();
        Transforms.Fused fused = Transforms.fuse(fp, ts);
        int[] tokens = SmallModels.tokens(rnd, 11, c.vocabSize());
        double[][] ref = new Reference64(DoubleWeights.of(fp)).logits(tokens);
        double[][] got = new Reference64(fused.exact(), fused.online()).logits(tokens);
        assertThat(Reference64.maxAbs(ref)).as("logits are not trivially small").isGreaterThan(0.5);
        assertThat(Reference64.maxAbsDiff(ref, got)).as("f64 max |Δlogit| of %s", fused.steps()).isLessThan(1e-8);

        Tensor ids = Tensor.ofInts(concat(tokens, SmallModels.tokens(rnd, 11, c.vocabSize())), 2, 11);
        Transforms.Difference d = Transforms.compare(new LlamaModel(fp), fused.model(), List.of(ids));
        assertThat(d.relative()).as("f32 %s: %s", fused.steps(), d).isLessThan(1e-4);
        return fused;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
