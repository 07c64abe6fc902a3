package dev.stiefel.riemann;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StiefelTest {
    private static final int[][] SHAPES = {{1, 1}, {7, 7}, {33, 5}, {33, 20}, {57, 1}};

    @Test
    void randomPointsAreOrthonormalAndSeeded() {
        for (int[] s : SHAPES) {
            Tensor x = Stiefel.random(s[0], s[1], new Random(1));
            assertThat(Stiefel.orthogonalityError(x)).as("%s", java.util.Arrays.toString(s)).isLessThan(1e-6);
            assertThat(x.maxAbsDiff(Stiefel.random(s[0], s[1], new Random(1)))).isZero();
        }
        assertThat(Stiefel.randomOrthogonal(9, 3).maxAbsDiff(Stiefel.randomOrthogonal(9, 4))).isGreaterThan(0.1);
    }

    /** The defining property of a Riemannian gradient: ⟨rgrad, ξ⟩_X = ⟨G, ξ⟩ (Euclidean) for every tangent ξ. */
    @Test
    void tangentIsTheRiemannianGradientOfEachMetric() {
        Random rnd = new Random(2);
        for (int[] s : SHAPES) {
            Tensor x = Stiefel.random(s[0], s[1], rnd), g = Tensor.randn(rnd, s[0], s[1]);
            for (Stiefel.Metric metric : Stiefel.Metric.values()) {
                Tensor r = Stiefel.tangent(x, g, metric);
                assertThat(skewError(x, r)).as("%s tangent", metric).isLessThan(1e-5);
                for (int trial = 0; trial < 3; trial++) {
                    Tensor xi = Stiefel.tangent(x, Tensor.randn(rnd, s[0], s[1]), Stiefel.Metric.EUCLIDEAN);
                    double lhs = inner(x, r, xi, metric), rhs = dot(g, xi);
                    assertThat(Math.abs(lhs - rhs)).as("%s %s", metric, java.util.Arrays.toString(s))
                            .isLessThan(1e-5 * (1 + Math.abs(rhs)));
                }
            }
        }
    }

    /** The canonical inner product tr(Uᵀ(I − ½XXᵀ)V) in f64, straight from its definition. */
    private static double inner(Tensor x, Tensor u, Tensor v, Stiefel.Metric metric) {
        DMatrix xd = x.toDMatrix(), ud = u.toDMatrix(), vd = v.toDMatrix();
        DMatrix w = metric == Stiefel.Metric.EUCLIDEAN ? vd : vd.subtract(xd.multiply(xd.transpose().multiply(vd)).scale(0.5));
        double s = 0;
        for (int i = 0; i < ud.data.length; i++) s += ud.data[i] * w.data[i];
        return s;
    }

    private static double dot(Tensor a, Tensor b) {
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        double s = 0;
        for (int i = 0; i < x.length; i++) s += (double) x[i] * y[i];
        return s;
    }

    /** max |XᵀU + UᵀX|: zero for a tangent vector. */
    private static double skewError(Tensor x, Tensor u) {
        DMatrix a = x.toDMatrix().transpose().multiply(u.toDMatrix());
        return a.add(a.transpose()).maxAbs();
    }

    @Test
    void squaredNormMatchesTheInnerProduct() {
        Random rnd = new Random(3);
        Tensor x = Stiefel.random(33, 5, rnd);
        Tensor u = Stiefel.tangent(x, Tensor.randn(rnd, 33, 5), Stiefel.Metric.CANONICAL);
        for (Stiefel.Metric metric : Stiefel.Metric.values())
            assertThat(Stiefel.squaredNorm(x, u, metric)).isCloseTo(inner(x, u, u, metric), org.assertj.core.data.Percentage.withPercentage(1e-4));
    }

    @Test
    void retractionsLandOnTheManifoldAndAgreeToFirstOrder() {
        Random rnd = new Random(4);
        for (int[] s : SHAPES) {
            Tensor x = Stiefel.random(s[0], s[1], rnd);
            Tensor u = Stiefel.tangent(x, Tensor.randn(rnd, s[0], s[1]), Stiefel.Metric.EUCLIDEAN);
            double t = 1e-2;
            Tensor step = u.mul((float) t);
            Tensor qr = Stiefel.retractQr(x, step), polar = Stiefel.retractPolar(x, step), cayley = Stiefel.retractCayley(x, step)[0];
            for (Tensor y : new Tensor[]{qr, polar, cayley}) {
                assertThat(Stiefel.orthogonalityError(y)).isLessThan(1e-6);
                // R(X, tU) = X + tU + O(t²)
                assertThat((double) y.sub(x.add(step)).abs().max().item()).isLessThan(5 * t * t * (1 + u.abs().max().item() * u.abs().max().item()));
            }
        }
    }

    /** Polar retraction = nearest orthonormal matrix: for a square input, Linalg's SVD-based polar factor. */
    @Test
    void projectIsThePolarFactor() {
        Random rnd = new Random(5);
        for (int n : new int[]{1, 7, 20}) {
            Tensor y = Tensor.randn(rnd, n, n).add(Stiefel.random(n, n, rnd).mul(3f));
            DMatrix want = Linalg.polar(y.toDMatrix());
            assertThat(Stiefel.project(y).toDMatrix().maxAbsDiff(want)).isLessThan(1e-5);
        }
        // tall: the columns of the projection span the same space and it is the closest of (random) others
        Tensor y = Tensor.randn(rnd, 33, 5);
        Tensor p = Stiefel.project(y);
        assertThat(Stiefel.orthogonalityError(p)).isLessThan(1e-6);
        double best = Stiefel.sumOfSquares(p.sub(y));
        for (int trial = 0; trial < 20; trial++) {
            Tensor other = Stiefel.retractQr(p, Stiefel.tangent(p, Tensor.randn(rnd, 33, 5), Stiefel.Metric.EUCLIDEAN).mul(0.05f));
            assertThat(Stiefel.sumOfSquares(other.sub(y))).isGreaterThan(best);
        }
        assertThatThrownBy(() -> Stiefel.project(Tensor.ones(6, 2))).hasMessageContaining("linearly dependent");
    }

    /** The Cayley transform against a direct f64 solve of (I − ½A) Y = (I + ½A)[X, V], tall (Woodbury) and square. */
    @Test
    void cayleyRetractionMatchesTheDirectSolve() {
        Random rnd = new Random(6);
        for (int[] s : new int[][]{{33, 5}, {9, 9}, {12, 7}}) {
            Tensor x = Stiefel.random(s[0], s[1], rnd);
            Tensor u = Stiefel.tangent(x, Tensor.randn(rnd, s[0], s[1]), Stiefel.Metric.CANONICAL).mul(0.3f);
            Tensor v = Tensor.randn(rnd, s[0], s[1]);
            Tensor[] got = Stiefel.retractCayley(x, u, v);
            DMatrix xd = x.toDMatrix(), ud = u.toDMatrix();
            ud = ud.subtract(xd.multiply(xd.transpose().multiply(ud)).scale(0.5)); // Ũ = (I − ½XXᵀ)U
            DMatrix halfA = ud.multiply(xd.transpose()).subtract(xd.multiply(ud.transpose())).scale(0.5);
            DMatrix lhs = DMatrix.identity(s[0]).subtract(halfA), rhs = DMatrix.identity(s[0]).add(halfA);
            DMatrix q = Linalg.solve(lhs, rhs);
            assertThat(got[0].toDMatrix().maxAbsDiff(q.multiply(xd))).isLessThan(2e-6);
            assertThat(got[1].toDMatrix().maxAbsDiff(q.multiply(v.toDMatrix()))).isLessThan(1e-5);
            assertThat(Stiefel.orthogonalityError(got[0])).isLessThan(1e-6);
        }
    }

    /**
     * The Cayley step by matrix products (what a device runs, and the CPU from 256 columns) against the f64 solve, for
     * odd square and near-square shapes and steps from tiny to ‖U‖_F = 10 (seven factors of the series): within a few f32
     * ulps of the solve's point and of its transported vector, and as orthonormal.
     */
    @Test
    void cayleyByProductsMatchesTheSolveToF32Rounding() {
        Random rnd = new Random(16);
        for (int[] s : new int[][]{{1, 1}, {7, 7}, {33, 33}, {33, 17}, {129, 129}}) {
            Tensor x = Stiefel.random(s[0], s[1], rnd);
            Tensor dir = Stiefel.tangent(x, Tensor.randn(rnd, s[0], s[1]), Stiefel.Metric.CANONICAL);
            double norm = Math.sqrt(Stiefel.sumOfSquares(dir));
            for (double size : new double[]{1e-5, 1e-2, 0.3, 3, 10}) {
                Tensor u = norm == 0 ? dir : dir.mul((float) (size / norm));
                Tensor v = Tensor.randn(rnd, s[0], s[1]);
                Tensor[] want = Stiefel.retractCayleyBySolve(x, u, v), got = Stiefel.retractCayleyByProducts(x, u, v);
                String what = java.util.Arrays.toString(s) + " |U| = " + size;
                assertThat(got[0].maxAbsDiff(want[0])).as("point, %s", what).isLessThan(5e-7);
                assertThat(got[1].maxAbsDiff(want[1])).as("carried, %s", what).isLessThan(1e-6 * v.abs().max().item());
                assertThat(Stiefel.orthogonalityError(got[0])).as("orthonormal, %s", what).isLessThan(6e-7);
            }
        }
    }

    /** Which Cayley form runs: the solve below 256 columns and for tall points, products from there, the solve for a huge step. */
    @Test
    void cayleyTakesProductsFromTwoHundredFiftySixColumns() {
        Random rnd = new Random(17);
        for (int[] s : new int[][]{{255, 255}, {256, 256}, {300, 100}}) {
            Tensor x = Stiefel.random(s[0], s[1], rnd);
            Tensor u = Stiefel.tangent(x, Tensor.randn(rnd, s[0], s[1]), Stiefel.Metric.CANONICAL).mul(1e-3f);
            boolean products = 2 * s[1] >= s[0] && s[0] >= Stiefel.PRODUCTS_FROM;
            Tensor want = (products ? Stiefel.retractCayleyByProducts(x, u) : Stiefel.retractCayleyBySolve(x, u))[0];
            assertThat(Stiefel.retractCayley(x, u)[0].maxAbsDiff(want)).as("%s", java.util.Arrays.toString(s)).isZero();
        }
        Tensor x = Stiefel.random(12, 12, rnd);
        Tensor huge = Stiefel.tangent(x, Tensor.randn(rnd, 12, 12), Stiefel.Metric.CANONICAL).mul(30f);
        assertThat(Stiefel.retractCayleyByProducts(x, huge)).as("r > 0.9: left to the solve").isNull();
        assertThatThrownBy(() -> Stiefel.retractCayleyByProducts(Tensor.zeros(3, 5), Tensor.zeros(3, 5))).hasMessageContaining("n >= p");
        assertThatThrownBy(() -> Stiefel.retractCayleyBySolve(x, x, Tensor.zeros(12, 11))).hasMessageContaining("differ in shape");
    }

    @Test
    void polishShrinksTheError() {
        Random rnd = new Random(7);
        Tensor x = Stiefel.random(40, 12, rnd);
        Tensor off = x.add(Tensor.randn(rnd, 40, 12).mul(1e-4f));
        double before = Stiefel.orthogonalityError(off), after = Stiefel.orthogonalityError(Stiefel.polish(off));
        assertThat(before).isGreaterThan(1e-4);
        assertThat(after).isLessThan(before / 50).isLessThan(3 * before * before + 3e-7);
    }

    @Test
    void badShapesAreNamed() {
        assertThatThrownBy(() -> Stiefel.orthogonalityError(Tensor.zeros(3, 5)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3, 5]").hasMessageContaining("transpose");
        assertThatThrownBy(() -> Stiefel.tangent(Tensor.zeros(5, 3), Tensor.zeros(5, 2), Stiefel.Metric.EUCLIDEAN))
                .hasMessageContaining("[5, 3]").hasMessageContaining("[5, 2]");
        assertThatThrownBy(() -> Stiefel.random(2, 3, new Random())).hasMessageContaining("n >= p");
    }
}
