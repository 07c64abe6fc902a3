package dev.stiefel.tensor.linalg;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DMatrixTest {

    /** Textbook triple loop in i-j-k order (dot products), independent of multiply()'s tiled i-k-j kernel. */
    private static DMatrix naiveProduct(DMatrix a, DMatrix b) {
        var c = new DMatrix(a.rows, b.cols);
        for (int i = 0; i < a.rows; i++)
            for (int j = 0; j < b.cols; j++) {
                double s = 0;
                for (int k = 0; k < a.cols; k++) s += a.get(i, k) * b.get(k, j);
                c.set(i, j, s);
            }
        return c;
    }

    @Test
    void multiplyMatchesHandComputedProduct() {
        var a = DMatrix.of(2, 3, 1, 2, 3, 4, 5, 6);
        var b = DMatrix.of(3, 2, 7, 8, 9, 10, 11, 12);
        var c = a.multiply(b);
        assertThat(c.rows).isEqualTo(2);
        assertThat(c.cols).isEqualTo(2);
        assertThat(c.data).containsExactly(58, 64, 139, 154);
    }

    /** Shapes straddle the 128 x 256 tiles and (at 257 x 300 x 260) the parallel row split. */
    @ParameterizedTest
    @CsvSource({"1,1,1", "7,1,7", "1,33,1", "33,7,19", "7,33,5", "257,300,260", "130,129,257"})
    void multiplyMatchesNaiveProduct(int m, int k, int n) {
        var rnd = new Random(31L * m + 7L * k + n);
        var a = DMatrix.random(m, k, rnd);
        var b = DMatrix.random(k, n, rnd);
        // Both sum the same k products, only in a possibly different order: relative 1e-13 of the row scale.
        double tol = 1e-13 * Math.max(1, k) * a.maxAbs() * b.maxAbs();
        assertThat(a.multiply(b).maxAbsDiff(naiveProduct(a, b))).isLessThanOrEqualTo(tol);
    }

    @Test
    void gramMatrixFromMultiplyIsExactlySymmetric() {
        var x = DMatrix.random(300, 129, new Random(5));
        var g = x.transpose().multiply(x);
        assertThat(g.maxAbsDiff(g.transpose())).isZero();
    }

    @Test
    void multiplyRejectsMismatchedShapesNamingBoth() {
        var a = new DMatrix(3, 4);
        var b = new DMatrix(5, 2);
        assertThatThrownBy(() -> a.multiply(b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("multiply").hasMessageContaining("3x4").hasMessageContaining("5x2");
    }

    @Test
    void transposeSwapsIndicesAcrossTiles() {
        var a = DMatrix.random(33, 70, new Random(2));
        var t = a.transpose();
        assertThat(t.rows).isEqualTo(70);
        assertThat(t.cols).isEqualTo(33);
        for (int i = 0; i < 33; i++)
            for (int j = 0; j < 70; j++) assertThat(t.get(j, i)).isEqualTo(a.get(i, j));
        assertThat(t.transpose().data).containsExactly(a.data);
    }

    @Test
    void elementwiseOperations() {
        var a = DMatrix.of(2, 2, 1, -2, 3, 4);
        var b = DMatrix.of(2, 2, 0.5, 2, -1, 4);
        assertThat(a.add(b).data).containsExactly(1.5, 0, 2, 8);
        assertThat(a.subtract(b).data).containsExactly(0.5, -4, 4, 0);
        assertThat(a.scale(-2).data).containsExactly(-2, 4, -6, -8);
        assertThat(a.maxAbsDiff(b)).isEqualTo(4);
        assertThat(a.maxAbs()).isEqualTo(4);
        assertThat(a.symmetricPart().data).containsExactly(1, 0.5, 0.5, 4);
        assertThatThrownBy(() -> a.subtract(new DMatrix(2, 3))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2x2").hasMessageContaining("2x3");
        assertThatThrownBy(() -> a.maxAbsDiff(new DMatrix(3, 2))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2x2").hasMessageContaining("3x2");
    }

    @Test
    void operationsDoNotModifyOperands() {
        var a = DMatrix.random(7, 7, new Random(3));
        var before = a.copy();
        a.multiply(a);
        a.transpose();
        a.add(a);
        a.symmetricPart();
        assertThat(a.data).containsExactly(before.data);
    }

    @Test
    void copyIsIndependent() {
        var a = DMatrix.of(1, 2, 1, 2);
        var c = a.copy();
        c.set(0, 1, 9);
        assertThat(a.get(0, 1)).isEqualTo(2);
        assertThat(c.get(0, 1)).isEqualTo(9);
    }

    @Test
    void factories() {
        assertThat(DMatrix.identity(3).data).containsExactly(1, 0, 0, 0, 1, 0, 0, 0, 1);
        assertThat(DMatrix.diagonal(2, -1).data).containsExactly(2, 0, 0, -1);
        var r = DMatrix.random(3, 4, new Random(11));
        var expected = new Random(11);
        for (double v : r.data) assertThat(v).isEqualTo(expected.nextGaussian());
        double[] values = {1, 2, 3, 4, 5, 6};
        var m = DMatrix.of(2, 3, values);
        values[0] = 100; // of() copies
        assertThat(m.get(0, 0)).isEqualTo(1);
        assertThat(m.get(1, 2)).isEqualTo(6);
    }

    @Test
    void rejectsBadShapesAndIndices() {
        assertThatThrownBy(() -> DMatrix.of(2, 3, 1, 2, 3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2x3").hasMessageContaining("6").hasMessageContaining("3");
        assertThatThrownBy(() -> new DMatrix(-1, 2)).isInstanceOf(IllegalArgumentException.class);
        var a = new DMatrix(2, 3);
        assertThatThrownBy(() -> a.get(0, 3)).isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("2x3");
        assertThatThrownBy(() -> a.set(2, 0, 1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> a.symmetricPart()).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2x3");
    }

    @Test
    void toStringShowsSmallMatricesAndOnlyTheShapeOfLargeOnes() {
        assertThat(DMatrix.of(1, 2, 1.5, -2).toString()).contains("1x2").contains("1.50000").contains("-2.00000");
        assertThat(new DMatrix(17, 3).toString()).isEqualTo("DMatrix 17x3");
    }
}
