package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.autograd.Checks.assertGradients;
import static dev.stiefel.autograd.Checks.transposed;

/** The shape and indexing rules of {@link Var} against their f64 references, on strided inputs where it matters. */
class ViewGradientsTest {
    final Random rnd = new Random(82);

    Tensor randn(int... shape) { return Checks.randn(rnd, shape); }

    @Test void reshapePermuteTranspose() {
        assertGradients(v -> v[0].reshape(5, -1), x -> x[0].reshape(5, -1), transposed(rnd, 3, 5, 2));
        assertGradients(v -> v[0].permute(2, 0, 1), x -> x[0].permute(2, 0, 1), randn(3, 4, 5));
        assertGradients(v -> v[0].permute(1, 2, 0).reshape(-1), x -> x[0].permute(1, 2, 0).reshape(-1), transposed(rnd, 3, 4, 5));
        assertGradients(v -> v[0].transpose(0, 1).matmul(v[1]), x -> x[0].transpose(0, 1).matmul(x[1]), randn(5, 3), randn(5, 2));
    }

    @Test void narrowAndSliceWithAStep() {
        assertGradients(v -> v[0].narrow(1, 2, 3), x -> x[0].narrow(1, 2, 3), randn(4, 7));
        assertGradients(v -> v[0].slice(1, 1, 7, 2), x -> x[0].slice(1, 1, 7, 2), randn(3, 7, 2));
        assertGradients(v -> v[0].slice(0, 0, 33, 4), x -> x[0].slice(0, 0, 33, 4), transposed(rnd, 33, 3));
        // a slice of a strided input, and the same leaf sliced twice (overlapping pieces add up)
        assertGradients(v -> v[0].slice(-1, 0, 5, 3).add(v[0].slice(-1, 1, 5, 2)), x -> x[0].slice(-1, 0, 5, 3).add(x[0].slice(-1, 1, 5, 2)),
                Checks.everyOtherRow(randn(7, 5)));
    }

    @Test void selectSqueezeUnsqueezeExpand() {
        assertGradients(v -> v[0].select(1, 4), x -> x[0].select(1, 4), randn(3, 7, 2));
        assertGradients(v -> v[0].select(-1, 0).mul(v[0].select(-1, 2)), x -> x[0].select(-1, 0).mul(x[0].select(-1, 2)), transposed(rnd, 5, 3));
        assertGradients(v -> v[0].unsqueeze(1).mul(v[1]), x -> x[0].unsqueeze(1).mul(x[1]), randn(7, 5), randn(3, 5));
        assertGradients(v -> v[0].unsqueeze(-1).squeeze(-1).unsqueeze(0), x -> x[0].unsqueeze(-1).squeeze(-1).unsqueeze(0), randn(5, 3));
        assertGradients(v -> v[0].squeeze(1), x -> x[0].squeeze(1), randn(7, 1, 3));
        // a new leading dim and a size-1 dim repeated: the gradient is summed over both
        assertGradients(v -> v[0].expand(2, 3, 5), x -> x[0].expand(2, 3, 5), randn(3, 1));
        assertGradients(v -> v[0].expand(7, 5).mul(v[1]), x -> x[0].expand(7, 5).mul(x[1]), randn(1, 5), transposed(rnd, 7, 5));
    }

    @Test void concatAndStack() {
        assertGradients(v -> Var.concat(1, v[0], v[1].t(), v[0]), x -> NdArray.concat(1, x[0], x[1].t(), x[0]), randn(3, 2), randn(4, 3));
        assertGradients(v -> Var.concat(0, v[0], v[1]), x -> NdArray.concat(0, x[0], x[1]), transposed(rnd, 5, 3), randn(1, 3));
        assertGradients(v -> Var.stack(1, v[0], v[1], v[0]), x -> NdArray.stack(1, x[0], x[1], x[0]), randn(3, 5), transposed(rnd, 3, 5));
        assertGradients(v -> Var.stack(-1, v[0], v[1]), x -> NdArray.stack(-1, x[0], x[1]), randn(7), randn(7));
    }

    @Test void gatherEmbeddingAndIndexSelectAddRepeatedIndices() {
        int[] gatherIndex = {2, 2, 0, 6, 1, 3};
        Tensor index = Tensor.ofInts(gatherIndex, 2, 3);
        assertGradients(v -> v[0].gather(1, index), x -> x[0].gather(1, gatherIndex, new int[]{2, 3}), randn(2, 7));
        int[] rows = {1, 0, 1, 4};
        Tensor rowIndex = Tensor.ofInts(rows, 1, 4);
        assertGradients(v -> v[0].gather(0, rowIndex), x -> x[0].gather(0, rows, new int[]{1, 4}), transposed(rnd, 5, 4));

        int[] ids = {4, 0, 4, 2, 6, 4};
        Tensor idTensor = Tensor.ofInts(ids, 2, 3);
        assertGradients(v -> v[0].embedding(idTensor), x -> x[0].embedding(ids, new int[]{2, 3}), randn(7, 5));

        int[] picked = {3, 0, 3, 3, 1};
        Tensor pickedTensor = Tensor.ofInts(picked, 5);
        assertGradients(v -> v[0].indexSelect(1, pickedTensor), x -> x[0].indexSelect(1, picked), transposed(rnd, 2, 5, 3));
        assertGradients(v -> v[0].indexSelect(0, pickedTensor), x -> x[0].indexSelect(0, picked), randn(5, 3));
    }
}
