package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;

import java.util.List;

/**
 * A rotation applied online to the input of a linear layer, its inverse fused into that layer: x ← x·M at run time
 * and W ← W·M, since x·M·(W·M)ᵀ = x·Wᵀ (QuaRot §4: the online Hadamard before down_proj, with the exact Hadamard
 * folded into down_proj's input side by {@code apply_exact_had_to_linear}). The rotated activation is what the
 * quantizer then sees.
 *
 * @param input the linear input it acts on (every layer's)
 * @param m     the rotation
 */
public record OnlineRotation(Input input, Rotation m) implements Transform {

    /** QuaRot's online Hadamard at down_proj's input: H/√hidden. */
    public static OnlineRotation downProj(LlamaConfig c) { return new OnlineRotation(Input.MLP_OUT, Rotation.hadamard(c.hiddenDim())); }

    /**
     * QuaRot's online Hadamard across heads at o_proj's input (its {@code online_partial_had}): H_heads ⊗ I_headDim,
     * which with the per-head Hadamard fused into V ({@link HeadRotation}) makes o_proj's input rotated by
     * H_heads ⊗ H_headDim as a whole.
     */
    public static OnlineRotation acrossHeads(LlamaConfig c) {
        return new OnlineRotation(Input.ATTN_OUT, Rotation.acrossBlocks(Rotation.hadamard(c.heads()), c.headDim()));
    }

    @Override public String describe() { return "online " + m.describe() + " at " + input + ", inverse fused into " + DoubleWeights.readers(input); }

    @Override public void fold(DoubleWeights w) {
        int[] layers = input == Input.HEAD_IN ? (w.hasEnds() ? new int[]{0} : new int[0]) : w.layerIndices();
        for (int l : layers)
            for (Linear which : DoubleWeights.readers(input))
                w.setLinear(l, which, Folds.timesRotation(w.linear(l, which), m, which.name()));
    }

    @Override public List<Online> online() { return List.of(new RotationOnline(Site.of(input), m)); }
}
