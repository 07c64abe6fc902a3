package dev.stiefel.autograd;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

/**
 * Training losses over logits [..., V] (every leading position is one token) and hidden states. The
 * full-precision model's outputs are plain tensors (the teacher needs no gradient); the quantized model's are
 * Vars. Every loss is a mean over tokens.
 */
public final class Losses {
    /** PyTorch's default ignore index: targets equal to it contribute nothing. */
    public static final int IGNORE_INDEX = -100;

    private Losses() {}

    /**
     * Cross-entropy −log softmax(z)[t] averaged over the tokens whose target is not {@code ignoreIndex}.
     * Fused: the backward is (softmax(z) − onehot(t)) / count on kept tokens and 0 on ignored ones.
     */
    public static Var crossEntropy(Var logits, int[] targets, int ignoreIndex) {
        int[] s = logits.shape();
        int v = s[s.length - 1], rows = logits.value().numel() / Math.max(1, v);
        if (targets.length != rows)
            throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for logits " + Shape.str(s) + " (" + rows + " tokens)");
        Tensor logp = logits.value().reshape(rows, v).logSoftmax(-1);
        float[] lp = logp.toFloatArray();
        double total = 0;
        int count = 0;
        for (int r = 0; r < rows; r++) {
            int t = targets[r];
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= v) throw new IllegalArgumentException("crossEntropy: target " + t + " at token " + r + " is outside the vocabulary of " + v);
            total -= lp[r * v + t];
            count++;
        }
        final int kept = count;
        float loss = kept == 0 ? 0f : (float) (total / kept);
        return Var.record("cross_entropy", Tensor.scalar(loss), g -> {
            float[] grad = logp.exp().toFloatArray();
            float scale = kept == 0 ? 0f : g.item() / kept;
            for (int r = 0; r < rows; r++) {
                int t = targets[r];
                for (int j = 0; j < v; j++) grad[r * v + j] = t == ignoreIndex ? 0f : grad[r * v + j] * scale;
                if (t != ignoreIndex) grad[r * v + t] -= scale;
            }
            return new Tensor[]{Tensor.wrap(grad, s)};
        }, logits);
    }

    public static Var crossEntropy(Var logits, int[] targets) { return crossEntropy(logits, targets, IGNORE_INDEX); }

    /** mean((a − b)²) over all elements; b is typically the full-precision block's output. */
    public static Var mse(Var a, Tensor b) {
        if (!java.util.Arrays.equals(a.shape(), b.shape()))
            throw new IllegalArgumentException("mse: shapes " + Shape.str(a.shape()) + " and " + Shape.str(b.shape()) + " differ");
        return a.sub(Var.of(b)).square().mean();
    }

    /** KL(P‖Q) = Σ P (log P − log Q) per token, averaged over tokens: P from the teacher's logits, Q from the student's. */
    public static Var kl(Var student, Tensor teacher) {
        requireSameShape("kl", student, teacher);
        Tensor logP = teacher.logSoftmax(-1);
        return klFromLogProbs(logP, student.logSoftmax(-1), tokens(teacher));
    }

    /** Which distribution KL-Top compares on the teacher's top-k classes (OSTQuant, ICLR 2025, §3.4). */
    public enum TopKVariant {
        /** Softmax over the whole vocabulary, then keep the top-k classes' terms (probabilities not renormalised). */
        FULL_SOFTMAX_THEN_GATHER,
        /** Gather the top-k logits first and take the softmax over those k only (both distributions renormalised). */
        SOFTMAX_OVER_TOPK
    }

    /** Default k of KL-Top, capped at the vocabulary size. */
    public static final int DEFAULT_TOP_K = 1000;

    /**
     * KL-Top: KL divergence restricted to the k classes the full-precision model ranks highest, so the long
     * tail of near-zero probabilities (noise for a quantized model) does not dominate the gradient.
     */
    public static Var klTop(Var student, Tensor teacher, int k, TopKVariant variant) {
        requireSameShape("klTop", student, teacher);
        int v = teacher.size(-1);
        if (k < 1) throw new IllegalArgumentException("klTop: k must be positive, got " + k);
        int kk = Math.min(k, v);
        Tensor idx = teacher.topk(kk).indices();
        return switch (variant) {
            case FULL_SOFTMAX_THEN_GATHER -> klFromLogProbs(teacher.logSoftmax(-1).gather(-1, idx),
                    student.logSoftmax(-1).gather(-1, idx), tokens(teacher));
            case SOFTMAX_OVER_TOPK -> klFromLogProbs(teacher.gather(-1, idx).logSoftmax(-1),
                    student.gather(-1, idx).logSoftmax(-1), tokens(teacher));
        };
    }

    public static Var klTop(Var student, Tensor teacher) { return klTop(student, teacher, DEFAULT_TOP_K, TopKVariant.FULL_SOFTMAX_THEN_GATHER); }

    /** Σ exp(logP)·(logP − logQ) / tokens. */
    private static Var klFromLogProbs(Tensor logP, Var logQ, int tokens) {
        Tensor p = logP.exp();
        return Var.of(p).mul(Var.of(logP).sub(logQ)).sum().mul(1f / tokens);
    }

    private static int tokens(Tensor logits) { return logits.numel() / Math.max(1, logits.size(-1)); }

    private static void requireSameShape(String op, Var student, Tensor teacher) {
        if (!java.util.Arrays.equals(student.shape(), teacher.shape()))
            throw new IllegalArgumentException(op + ": student logits " + Shape.str(student.shape()) + " and teacher logits "
                    + Shape.str(teacher.shape()) + " differ");
    }
}
