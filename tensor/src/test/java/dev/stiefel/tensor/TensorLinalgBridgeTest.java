package dev.stiefel.tensor;

import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TensorLinalgBridgeTest {
    @Test
    void covarianceEigenvectorsFromATensorDiagonaliseIt() {
        // the WOMI / KLT use: eigenvectors of XᵀX computed in f64 from f32 activations
        Random rnd = new Random(71);
        Tensor x = Tensor.randn(rnd, 257, 33).mul(Tensor.uniform(rnd, 0.1f, 5f, 33));
        Tensor cov = x.t().matmul(x).div(257f);
        DMatrix c = cov.toDMatrix().symmetricPart();
        Linalg.Eigen eig = Linalg.eigSymmetric(c);
        Tensor v = Tensor.of(eig.vectors());
        Tensor rotated = v.t().matmul(cov).matmul(v);
        for (int i = 0; i < 33; i++)
            for (int j = 0; j < 33; j++)
                assertThat((double) rotated.get(i, j)).isCloseTo(i == j ? eig.values()[i] : 0, org.assertj.core.data.Offset.offset(1e-4 * eig.values()[0]));
        assertThat(Linalg.orthogonalityError(v.toDMatrix())).isLessThan(1e-6);
    }

    @Test
    void roundTripAndErrors() {
        Tensor t = Tensor.randn(new Random(72), 7, 3).t();
        DMatrix d = t.toDMatrix();
        assertThat(d.rows).isEqualTo(3);
        assertThat(d.get(2, 6)).isEqualTo(t.get(2, 6));
        assertThat(Tensor.of(d).maxAbsDiff(t)).isZero();
        assertThatThrownBy(() -> Tensor.zeros(2, 2, 2).toDMatrix()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[2, 2, 2]");
    }
}
