package dev.stiefel.quant.adaptive;

/**
 * The type of transform a decoder block's linear inputs get, the unit of choice in adaptive layer-wise selection
 * (Pham et al., <i>Adaptive Layer-Wise Transformations for Post-Training Quantization of Large Language Models</i>,
 * arXiv 2511.17809): a plan for a model is one kind per block, in block order.
 */
public enum TransformKind {
    /** FlatQuant's learnable invertible affine transform, in Kronecker form P1 ⊗ P2. */
    AFFINE,
    /** An orthogonal transform (learned on the Stiefel manifold, or a Hadamard). */
    ROTATION,
    /** No transform beyond an optional per-channel scale. */
    NONE;

    /** Parses "affine", "rotation" or "none" (case-insensitive), naming the accepted values when it fails. */
    public static TransformKind parse(String s) {
        for (TransformKind k : values()) if (k.name().equalsIgnoreCase(s.strip())) return k;
        throw new IllegalArgumentException("unknown transform kind '" + s + "'; expected affine, rotation or none");
    }
}
