package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.autograd.Checks.assertGradients;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class LossesTest {
    final Random rnd = new Random(91);

    @Test
    void crossEntropyHandDerivedWithIgnoredToken() {
        Var z = Var.param(Tensor.of(new float[]{1, 2, 3, 1, 1, 1}, 2, 3));
        Var loss = Losses.crossEntropy(z, new int[]{2, Losses.IGNORE_INDEX});
        // −log(e³ / (e + e² + e³)) = log(1 + e⁻¹ + e⁻²); the ignored token adds nothing and does not count
        double expected = Math.log(1 + Math.exp(-1) + Math.exp(-2));
        assertThat((double) loss.value().item()).isCloseTo(expected, within(1e-6));
        loss.backward();
        double s = Math.exp(1) + Math.exp(2) + Math.exp(3);
        assertThat(z.grad().toFloatArray()).containsExactly(new float[]{(float) (Math.exp(1) / s), (float) (Math.exp(2) / s),
                (float) (Math.exp(3) / s - 1), 0, 0, 0}, org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void crossEntropyGradientCheckAndBadTargets() {
        int[] targets = {3, 0, Losses.IGNORE_INDEX, 6, 6};
        assertGradients(v -> Losses.crossEntropy(v[0], targets), x -> crossEntropy(x[0], targets), Tensor.randn(rnd, 5, 7).mul(2f));
        // [batch, tokens, vocab] logits given as a strided view, an ignore index of one's own
        int[] targets3 = {10, 0, -1, 4, 4, 7};
        assertGradients(v -> Losses.crossEntropy(v[0], targets3, -1), x -> crossEntropy(x[0], targets3, -1),
                Tensor.randn(rnd, 11, 2, 3).permute(1, 2, 0));
        assertThatThrownBy(() -> Losses.crossEntropy(Var.param(Tensor.zeros(2, 4)), new int[]{1, 4}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("target 4").hasMessageContaining("token 1");
        assertThatThrownBy(() -> Losses.crossEntropy(Var.param(Tensor.zeros(2, 4)), new int[]{1}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 4]");
    }

    @Test
    void mseGradientCheck() {
        Tensor b = Tensor.randn(rnd, 7, 5);
        NdArray bRef = NdArray.of(b);
        assertGradients(v -> Losses.mse(v[0], b), x -> x[0].sub(bRef).square().mean(), Tensor.randn(rnd, 5, 7).t());
    }

    @Test
    void mseHandDerived() {
        Var a = Var.param(Tensor.of(new float[]{1, 2}, 2));
        Var loss = Losses.mse(a, Tensor.of(new float[]{0, 4}, 2));
        assertThat(loss.value().item()).isEqualTo(2.5f);
        loss.backward();
        assertThat(a.grad().toFloatArray()).containsExactly(1f, -2f);
    }

    @Test
    void klHandDerivedAndZeroAtEquality() {
        // P = (1/4, 3/4), Q = (1/2, 1/2): KL = ¼ ln ½ + ¾ ln (3/2)
        Tensor teacher = Tensor.of(new float[]{0, (float) Math.log(3)}, 1, 2);
        Var student = Var.param(Tensor.zeros(1, 2));
        Var kl = Losses.kl(student, teacher);
        assertThat((double) kl.value().item()).isCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), within(1e-6));
        kl.backward();
        // d KL / d z_student = Q − P
        assertThat(student.grad().toFloatArray()).containsExactly(new float[]{0.25f, -0.25f}, org.assertj.core.data.Offset.offset(1e-6f));
        Tensor same = Tensor.randn(rnd, 3, 9);
        assertThat((double) Losses.kl(Var.param(same), same).value().item()).isCloseTo(0, within(1e-6));
    }

    @Test
    void klTopVariants() {
        Tensor teacher = Tensor.randn(rnd, 4, 11).mul(2f);
        Tensor studentValue = teacher.add(Tensor.randn(rnd, 4, 11).mul(0.5f));
        // k = V: both variants are the full KL
        double full = Losses.kl(Var.param(studentValue), teacher).value().item();
        for (Losses.TopKVariant variant : Losses.TopKVariant.values())
            assertThat((double) Losses.klTop(Var.param(studentValue), teacher, 11, variant).value().item()).isCloseTo(full, within(1e-5));
        // k = 1 over the top-k softmax: one class renormalised has probability 1 on both sides
        assertThat((double) Losses.klTop(Var.param(studentValue), teacher, 1, Losses.TopKVariant.SOFTMAX_OVER_TOPK).value().item())
                .isCloseTo(0, within(1e-7));
        // k = 1 over the full softmax: P(top)·(log P(top) − log Q(top)), by hand for one row
        Tensor t1 = teacher.narrow(0, 0, 1), s1 = studentValue.narrow(0, 0, 1);
        int top = t1.argmax(-1, false).toIntArray()[0];
        double lp = t1.logSoftmax(-1).get(0, top), lq = s1.logSoftmax(-1).get(0, top);
        assertThat((double) Losses.klTop(Var.param(s1), t1, 1, Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER).value().item())
                .isCloseTo(Math.exp(lp) * (lp - lq), within(1e-6));
        // k above the vocabulary is capped
        for (Losses.TopKVariant variant : Losses.TopKVariant.values())
            assertThat(Losses.klTop(Var.param(studentValue), teacher, 1000, variant).value().item())
                    .isEqualTo(Losses.klTop(Var.param(studentValue), teacher, 11, variant).value().item());
    }

    @Test
    void klAndKlTopGradientChecks() {
        Tensor teacher = Tensor.randn(rnd, 4, 11).mul(2f);
        Tensor student = teacher.add(Tensor.randn(rnd, 4, 11).mul(0.5f));
        NdArray t = NdArray.of(teacher);
        assertGradients(v -> Losses.kl(v[0], teacher), x -> kl(t.logSoftmax(-1), x[0].logSoftmax(-1)), student);
        int[] top = topK(t, 4);
        int[] topShape = {4, 4};
        assertGradients(v -> Losses.klTop(v[0], teacher, 4, Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER),
                x -> kl(t.logSoftmax(-1).gather(-1, top, topShape), x[0].logSoftmax(-1).gather(-1, top, topShape)), student);
        assertGradients(v -> Losses.klTop(v[0], teacher, 4, Losses.TopKVariant.SOFTMAX_OVER_TOPK),
                x -> kl(t.gather(-1, top, topShape).logSoftmax(-1), x[0].gather(-1, top, topShape).logSoftmax(-1)), student);
        // [batch, tokens, vocab], the student given as a transposed view
        Tensor teacher3 = Tensor.randn(rnd, 2, 3, 7);
        NdArray t3 = NdArray.of(teacher3);
        assertGradients(v -> Losses.kl(v[0], teacher3), x -> kl(t3.logSoftmax(-1), x[0].logSoftmax(-1)), Tensor.randn(rnd, 2, 7, 3).transpose(1, 2));
    }

    // ------------------------------------------------------------ f64 references of the losses

    /** −log softmax(z)[t] averaged over the tokens whose target is not ignored. */
    static NdArray crossEntropy(NdArray logits, int[] targets, int ignoreIndex) {
        int v = logits.size(-1);
        NdArray logp = logits.reshape(-1, v).logSoftmax(-1);
        double total = 0;
        int count = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == ignoreIndex) continue;
            total -= logp.get(r, targets[r]);
            count++;
        }
        return NdArray.scalar(count == 0 ? 0 : total / count);
    }

    static NdArray crossEntropy(NdArray logits, int[] targets) { return crossEntropy(logits, targets, Losses.IGNORE_INDEX); }

    /** Σ P·(log P − log Q) over everything, divided by the number of tokens (rows of the last axis). */
    static NdArray kl(NdArray logP, NdArray logQ) {
        int tokens = logP.numel() / logP.size(-1);
        return logP.exp().mul(logP.sub(logQ)).sum().div(tokens);
    }

    /** Indices of the k largest values of each row of the last axis, largest first (ties: lower index first). */
    static int[] topK(NdArray x, int k) {
        int v = x.size(-1), rows = x.numel() / v;
        int[] out = new int[rows * k];
        for (int r = 0; r < rows; r++) {
            final int row = r;
            Integer[] order = new Integer[v];
            for (int j = 0; j < v; j++) order[j] = j;
            java.util.Arrays.sort(order, (a, b) -> a.equals(b) ? 0
                    : x.data[row * v + a] != x.data[row * v + b] ? Double.compare(x.data[row * v + b], x.data[row * v + a]) : Integer.compare(a, b));
            for (int j = 0; j < k; j++) out[r * k + j] = order[j];
        }
        return out;
    }
}
