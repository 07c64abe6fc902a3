package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Wrong calls fail before any kernel runs, with a message naming the op and the shapes. */
class BadInputTest {
    final Random rnd = new Random(61);
    final Tensor a = Tensor.randn(rnd, 7, 33), b = Tensor.randn(rnd, 5, 33);

    @Test void broadcastMismatchNamesBothShapes() {
        assertThatThrownBy(() -> a.add(b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("add").hasMessageContaining("[7, 33]").hasMessageContaining("[5, 33]");
        assertThatThrownBy(() -> a.mul(Tensor.zeros(32))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[7, 33]").hasMessageContaining("[32]");
    }

    @Test void matmulInnerMismatchNamesBothShapes() {
        assertThatThrownBy(() -> a.matmul(b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("matmul").hasMessageContaining("[7, 33]").hasMessageContaining("[5, 33]");
        assertThatThrownBy(() -> a.matmul(Tensor.zeros(33))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[33]");
        assertThatThrownBy(() -> Tensor.zeros(2, 7, 3).matmul(Tensor.zeros(3, 3, 4))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[2, 7, 3]").hasMessageContaining("[3, 3, 4]");
    }

    @Test void outOfRangeAxes() {
        assertThatThrownBy(() -> a.sum(2, false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("axis 2").hasMessageContaining("[7, 33]");
        assertThatThrownBy(() -> a.softmax(-3)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("axis -3");
        assertThatThrownBy(() -> a.transpose(0, 5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.permute(0, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("repeated");
        assertThatThrownBy(() -> a.select(1, 33)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[7, 33]");
        assertThatThrownBy(() -> a.slice(0, 3, 8)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[7, 33]");
        assertThatThrownBy(() -> a.get(7, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[7, 0]");
        assertThatThrownBy(() -> a.squeeze(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size 7");
    }

    @Test void negativeSizes() {
        assertThatThrownBy(() -> Tensor.zeros(3, -1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3, -1]");
        assertThatThrownBy(() -> a.reshape(-2, 7)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.reshape(-1, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.reshape(8, 33)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[7, 33]").hasMessageContaining("[8, 33]");
        assertThatThrownBy(() -> a.narrow(0, 1, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.expand(-1, 33)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test void wrongDTypes() {
        Tensor ids = Tensor.ofInts(new int[]{1, 2}, 2);
        assertThatThrownBy(ids::exp).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("i32").hasMessageContaining("[2]");
        assertThatThrownBy(() -> ids.matmul(ids.reshape(2, 1))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.indexSelect(0, Tensor.of(new float[]{1}, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("f32");
        assertThatThrownBy(() -> a.embedding(Tensor.of(new float[]{1}, 1))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(a::toIntArray).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("f32");
    }

    @Test void badIndicesAndParameters() {
        assertThatThrownBy(() -> a.embedding(Tensor.ofInts(new int[]{7}, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("index 7");
        assertThatThrownBy(() -> a.gather(1, Tensor.ofInts(new int[]{33}, 1, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("index 33");
        assertThatThrownBy(() -> a.gather(1, Tensor.ofInts(new int[]{0}, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rank");
        assertThatThrownBy(() -> a.topk(34)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("k = 34");
        assertThatThrownBy(() -> a.topk(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.rmsNorm(Tensor.ones(7), 1e-5f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[7]").hasMessageContaining("[7, 33]");
        assertThatThrownBy(() -> a.clamp(1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Tensor.concat(0, a, Tensor.zeros(7, 32))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[7, 32]");
        assertThatThrownBy(() -> Tensor.stack(0, a, b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[5, 33]");
        assertThatThrownBy(() -> new Rope(8, 10000, Rope.Layout.HALF).apply(Tensor.zeros(3, 2, 6), 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3, 2, 6]");
        assertThatThrownBy(() -> new Rope(7, 10000, Rope.Layout.HALF)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Tensor.causalMask(3, 2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Tensor.wrap(new float[5], 2, 3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[2, 3]");
        assertThatThrownBy(() -> a.sum(0, false).max(0, false).max(0, false)).isInstanceOf(IllegalArgumentException.class);
    }
}
