package dev.stiefel.autograd;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Hand-derived values for the f64 reference. Every gradient check also compares the tape's forward with it on
 * random inputs, so the two are tested against each other; these pin the conventions down independently.
 */
class NdArrayTest {
    @Test void broadcastingMatmulAndReductions() {
        NdArray a = NdArray.of(new double[]{1, 2}, 2, 1), b = NdArray.of(new double[]{10, 20, 30}, 3);
        NdArray sum = a.add(b);
        assertThat(sum.shape).containsExactly(2, 3);
        assertThat(sum.data).containsExactly(11, 21, 31, 12, 22, 32);
        NdArray m = NdArray.of(new double[]{1, 2, 3, 4}, 2, 2).matmul(NdArray.of(new double[]{5, 6, 7, 8}, 1, 2, 2));
        assertThat(m.shape).containsExactly(1, 2, 2);
        assertThat(m.data).containsExactly(19, 22, 43, 50);
        NdArray x = NdArray.of(new double[]{1, 2, 3, 4, 1, 1, 1, 1}, 2, 4);
        assertThat(x.var(1, false, true).data).containsExactly(5.0 / 3, 0);
        assertThat(x.var(1, true, false).data).containsExactly(5.0 / 4, 0);
        assertThat(x.logsumexp(1, false).get(1)).isCloseTo(1 + Math.log(4), within(1e-15));
        assertThat(x.softmax(-1).sum(-1, false).data).containsExactly(new double[]{1, 1}, within(1e-15));
        assertThat(x.max(0, false).data).containsExactly(1, 2, 3, 4);
        assertThat(x.min(0, true).data).containsExactly(1, 1, 1, 1);
    }

    @Test void ropeRotatesEachLayoutsPairs() {
        double[] f = {0.5, 0.1};
        // [T=1, H=1, D=4], the unit vector on feature 0: its pair partner is 1 (interleaved) or 2 (half)
        NdArray e0 = NdArray.of(new double[]{1, 0, 0, 0}, 1, 1, 4);
        int[] pos = {3};
        assertThat(e0.rope(f, true, pos).data).containsExactly(new double[]{Math.cos(1.5), Math.sin(1.5), 0, 0}, within(1e-15));
        assertThat(e0.rope(f, false, pos).data).containsExactly(new double[]{Math.cos(1.5), 0, Math.sin(1.5), 0}, within(1e-15));
        // the partner's own rotation: (0, 1) goes to (−sin, cos) with the second frequency in the half layout
        NdArray e1 = NdArray.of(new double[]{0, 1, 0, 0}, 1, 1, 4);
        assertThat(e1.rope(f, false, pos).data).containsExactly(new double[]{0, Math.cos(0.3), 0, Math.sin(0.3)}, within(1e-15));
        NdArray e3 = NdArray.of(new double[]{0, 0, 0, 1}, 1, 1, 4);
        assertThat(e3.rope(f, true, pos).data).containsExactly(new double[]{0, 0, -Math.sin(0.3), Math.cos(0.3)}, within(1e-15));
    }

    @Test void viewsAndIndexing() {
        NdArray x = NdArray.of(new double[]{0, 1, 2, 3, 4, 5}, 2, 3);
        assertThat(x.t().data).containsExactly(0, 3, 1, 4, 2, 5);
        assertThat(x.slice(1, 0, 3, 2).data).containsExactly(0, 2, 3, 5);
        assertThat(x.select(0, 1).data).containsExactly(3, 4, 5);
        assertThat(x.unsqueeze(1).shape).containsExactly(2, 1, 3);
        assertThat(x.narrow(1, 1, 1).squeeze(-1).data).containsExactly(1, 4);
        assertThat(NdArray.of(new double[]{7, 8}, 2, 1).expand(2, 2, 3).data).containsExactly(7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8);
        assertThat(NdArray.concat(1, x, x.narrow(1, 0, 1)).data).containsExactly(0, 1, 2, 0, 3, 4, 5, 3);
        NdArray st = NdArray.stack(1, x, x.mul(10));
        assertThat(st.shape).containsExactly(2, 2, 3);
        assertThat(st.data).containsExactly(0, 1, 2, 0, 10, 20, 3, 4, 5, 30, 40, 50);
        assertThat(x.gather(1, new int[]{2, 0, 1, 1}, new int[]{2, 2}).data).containsExactly(2, 0, 4, 4);
        assertThat(x.indexSelect(1, new int[]{2, 2, 0}).data).containsExactly(2, 2, 0, 5, 5, 3);
        NdArray e = x.embedding(new int[]{1, 0, 1}, new int[]{3});
        assertThat(e.shape).containsExactly(3, 3);
        assertThat(e.data).containsExactly(3, 4, 5, 0, 1, 2, 3, 4, 5);
        assertThat(x.reshape(3, -1).permute(1, 0).data).containsExactly(0, 2, 4, 1, 3, 5);
    }

    @Test void rmsNormByHand() {
        // one row (3, 4): mean of squares 12.5
        NdArray y = NdArray.of(new double[]{3, 4}, 1, 2).rmsNorm(NdArray.of(new double[]{1, 2}, 2), 0);
        assertThat(y.data).containsExactly(new double[]{3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)}, within(1e-15));
    }
}
