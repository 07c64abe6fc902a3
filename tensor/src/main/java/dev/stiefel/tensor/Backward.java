package dev.stiefel.tensor;

import dev.stiefel.tensor.backend.Backends;

import java.util.Arrays;

/**
 * Fused gradients of the ops whose backward rule would otherwise be a chain of element-wise ops, each one a
 * pass over memory and a fresh tensor (the RMSNorm rule was 13 such ops). Autograd's rules call these; the
 * formulas are the chain rule of the forward op, one kernel each. Results are new contiguous f32 tensors.
 */
public final class Backward {
    private Backward() {}

    /** Gradient of {@link Tensor#softmax} along {@code axis} from its output y: dx = y ⊙ (g − Σ_axis g ⊙ y). */
    public static Tensor softmax(Tensor y, Tensor gradOut, int axis) {
        sameShape("softmax backward", y, gradOut);
        return Backends.current().softmaxBackward(y, gradOut, Shape.axis("softmax backward", axis, y.shape()));
    }

    /** Gradients of RMSNorm with respect to its input and its weight. */
    public record RmsNormGradients(Tensor dx, Tensor dWeight) {}

    /**
     * Gradients of {@link Tensor#rmsNorm}: with r = (mean(x²) + eps)^(−1/2) per row,
     * dx = r·(g⊙w) − x·r³·mean(g⊙w⊙x) and dw = Σ_rows g⊙x·r.
     */
    public static RmsNormGradients rmsNorm(Tensor x, Tensor weight, float eps, Tensor gradOut) {
        sameShape("rmsNorm backward", x, gradOut);
        weight.requireFloating("rmsNorm backward");
        if (x.dim() == 0 || weight.dim() != 1 || weight.size(0) != x.size(-1))
            throw new IllegalArgumentException("rmsNorm backward: weight " + Shape.str(weight.shape()) + " does not match the last dimension of " + Shape.str(x.shape()));
        Tensor[] r = Backends.current().rmsNormBackward(x, weight, eps, gradOut);
        return new RmsNormGradients(r[0], r[1]);
    }

    /** Gradients of the SwiGLU product with respect to its gate and up inputs. */
    public record SwigluGradients(Tensor dGate, Tensor dUp) {}

    /** Gradients of {@link Tensor#swiglu}: dGate = g⊙u⊙σ(a)·(1 + a·(1 − σ(a))), dUp = g⊙silu(a) for gate a, up u. */
    public static SwigluGradients swiglu(Tensor gate, Tensor up, Tensor gradOut) {
        sameShape("swiglu backward", gate, up);
        sameShape("swiglu backward", gate, gradOut);
        Tensor[] r = Backends.current().swigluBackward(gate, up, gradOut);
        return new SwigluGradients(r[0], r[1]);
    }

    /** Gradient of {@link Tensor#silu}: g ⊙ σ(x)·(1 + x·(1 − σ(x))). */
    public static Tensor silu(Tensor x, Tensor gradOut) {
        sameShape("silu backward", x, gradOut);
        return Backends.current().swigluBackward(x, null, gradOut)[0];
    }

    private static void sameShape(String op, Tensor a, Tensor b) {
        a.requireFloating(op);
        b.requireFloating(op);
        if (!Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException(op + ": shapes " + Shape.str(a.shape()) + " and " + Shape.str(b.shape()) + " differ");
    }
}
