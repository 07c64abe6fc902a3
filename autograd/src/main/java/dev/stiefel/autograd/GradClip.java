package dev.stiefel.autograd;

import java.util.Collection;

/** Gradient clipping by global norm (Pascanu et al. 2013), as torch.nn.utils.clip_grad_norm_. */
public final class GradClip {
    private GradClip() {}

    /** Scales all gradients so their joint L2 norm is at most {@code maxNorm}; returns the norm before clipping. */
    public static double clipByNorm(Collection<Var> params, double maxNorm) {
        if (!(maxNorm > 0)) throw new IllegalArgumentException("clipByNorm: maxNorm must be positive, got " + maxNorm);
        double sq = 0;
        for (Var p : params)
            if (p.grad() != null) for (float g : p.grad().toFloatArray()) sq += (double) g * g;
        double norm = Math.sqrt(sq);
        if (norm > maxNorm) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            for (Var p : params) if (p.grad() != null) p.setGrad(p.grad().mul(scale));
        }
        return norm;
    }
}
