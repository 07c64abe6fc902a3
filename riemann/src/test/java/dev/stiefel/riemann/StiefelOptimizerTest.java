package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StiefelOptimizerTest {
    /**
     * Each optimizer under test with the learning rate it gets in the convergence tests ({@code scale} adapts the
     * SGD rates to the gradient's size). Adam's step is about lr whatever the gradient, so it needs a decaying rate
     * to settle: cosine over {@code steps}, as OSTQuant schedules it.
     */
    private static Map<String, Function<List<Var>, Optimizer>> optimizers(double scale, int steps) {
        return Map.of(
                "CayleySgd", ps -> new CayleySgd(ps, LrSchedule.constant(0.3 * scale), 0.9),
                "RiemannianAdam(canonical)", ps -> new RiemannianAdam(ps, LrSchedule.cosine(0.1, steps, 0)),
                "RiemannianAdam(euclidean)", ps -> new RiemannianAdam(ps, LrSchedule.cosine(0.1, steps, 0), Stiefel.Metric.EUCLIDEAN,
                        0.9, 0.999, 1e-8, 0, 100),
                "RiemannianSgd(QR)", ps -> new RiemannianSgd(ps, LrSchedule.constant(0.3 * scale), RiemannianSgd.Retraction.QR, 0.9),
                "RiemannianSgd(polar)", ps -> new RiemannianSgd(ps, LrSchedule.constant(0.3 * scale), RiemannianSgd.Retraction.POLAR, 0.9));
    }

    /**
     * 10,000 steps on fresh random gradients (a loss that never settles, so every step is a full-size move, the
     * worst case for drift): max |XᵀX − I| stays below 1e-5 at every sampled step, square and tall.
     */
    @Test
    void tenThousandStepsStayOrthonormal() {
        for (int[] shape : new int[][]{{16, 16}, {33, 5}}) {
            for (var e : optimizers(1, 1_000_000).entrySet()) {
                Random rnd = new Random(21);
                Var x = Var.param(Stiefel.random(shape[0], shape[1], rnd));
                Optimizer opt = e.getValue().apply(List.of(x));
                double worst = 0;
                for (int step = 1; step <= 10_000; step++) {
                    x.setGrad(Tensor.randn(rnd, shape[0], shape[1]));
                    opt.step();
                    if (step % 97 == 0 || step == 10_000) worst = Math.max(worst, Stiefel.orthogonalityError(x.value()));
                }
                assertThat(worst).as("%s on %s", e.getKey(), java.util.Arrays.toString(shape)).isLessThan(1e-5);
                assertThat(x.value().maxAbsDiff(Stiefel.random(shape[0], shape[1], new Random(21)))).as("it moved").isGreaterThan(0.1);
            }
        }
    }

    /**
     * Orthogonal Procrustes: min over orthogonal Q of ‖QA − B‖², whose minimizer is the polar factor of BAᵀ
     * (Schönemann 1966). O(n) has two components (det ±1) that no retraction crosses, so the start is put in the
     * minimizer's component by flipping a column when needed.
     */
    @Test
    void procrustesReachesTheClosedForm() {
        Random rnd = new Random(22);
        int n = 11, k = 41;
        Tensor a = Tensor.randn(rnd, n, k);
        Tensor b = Stiefel.random(n, n, rnd).matmul(a).add(Tensor.randn(rnd, n, k).mul(0.1f));
        DMatrix best = Linalg.polar(b.toDMatrix().multiply(a.toDMatrix().transpose()));
        double bestLoss = procrustesLoss(best, a, b);
        Tensor start = Stiefel.random(n, n, rnd);
        if (Linalg.determinant(start.toDMatrix()) * Linalg.determinant(best) < 0) start = flipFirstColumn(start);
        double startLoss = procrustesLoss(start.toDMatrix(), a, b);
        for (var e : optimizers(1, 600).entrySet()) {
            Var q = Var.param(start.copy());
            Optimizer opt = e.getValue().apply(List.of(q));
            for (int step = 0; step < 600; step++) {
                opt.zeroGrad();
                q.matmul(Var.of(a)).sub(Var.of(b)).square().mean().backward();
                opt.step();
            }
            double loss = procrustesLoss(q.value().toDMatrix(), a, b);
            assertThat(startLoss).isGreaterThan(50 * bestLoss);
            assertThat((loss - bestLoss) / bestLoss).as(e.getKey()).isLessThan(1e-4).isGreaterThan(-1e-6);
            assertThat(q.value().toDMatrix().maxAbsDiff(best)).as(e.getKey()).isLessThan(1e-3);
        }
    }

    private static Tensor flipFirstColumn(Tensor q) {
        float[] d = q.toFloatArray();
        int n = q.size(1);
        for (int i = 0; i < q.size(0); i++) d[i * n] = -d[i * n];
        return Tensor.wrap(d, q.shape());
    }

    /** mean (QA − B)² in f64. */
    static double procrustesLoss(DMatrix q, Tensor a, Tensor b) {
        DMatrix r = q.multiply(a.toDMatrix()).subtract(b.toDMatrix());
        double s = 0;
        for (double v : r.data) s += v * v;
        return s / r.data.length;
    }

    /**
     * Top-k eigenvectors of a symmetric A as the maximizer of Brockett's cost tr(XᵀAXN) over St(n, k) with
     * N = diag(k, .., 1) (Brockett 1991): the distinct weights pin each column to one eigenvector (the plain
     * Rayleigh trace tr(XᵀAX) only pins the subspace). A has random eigenvectors and spectrum 10, 8, 6, 4 above
     * a bulk in [0, 2].
     */
    @Test
    void brockettFindsTheTopEigenvectors() {
        Random rnd = new Random(23);
        int n = 30, k = 4;
        double[] lambda = new double[n];
        double[] top = {10, 8, 6, 4};
        for (int i = 0; i < n; i++) lambda[i] = i < k ? top[i] : 2 * rnd.nextDouble();
        DMatrix v = Linalg.randomOrthogonal(n, rnd);
        DMatrix aD = v.multiply(DMatrix.diagonal(lambda)).multiply(v.transpose()).symmetricPart();
        Linalg.Eigen eig = Linalg.eigSymmetric(aD);
        Tensor a = Tensor.of(aD);
        float[] weights = new float[k];
        for (int j = 0; j < k; j++) weights[j] = (k - j) / (float) k;
        Tensor nDiag = Tensor.wrap(weights, 1, k);
        double optimum = 0;
        for (int j = 0; j < k; j++) optimum += eig.values()[j] * weights[j];
        Tensor start = Stiefel.random(n, k, rnd);
        for (var e : optimizers(0.1, 1500).entrySet()) {
            Var x = Var.param(start.copy());
            Optimizer opt = e.getValue().apply(List.of(x));
            for (int step = 0; step < 1500; step++) {
                opt.zeroGrad();
                // −tr(XᵀAXN) = −Σ_ij X_ij (AX)_ij N_j
                x.mul(Var.of(a).matmul(x)).mul(Var.of(nDiag)).sum().neg().backward();
                opt.step();
            }
            DMatrix xd = x.value().toDMatrix();
            double value = 0;
            DMatrix ax = aD.multiply(xd);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < k; j++) value += xd.get(i, j) * ax.get(i, j) * weights[j];
            assertThat((optimum - value) / optimum).as(e.getKey()).isLessThan(1e-5);
            for (int j = 0; j < k; j++) {
                double cos = 0;
                for (int i = 0; i < n; i++) cos += xd.get(i, j) * eig.vectors().get(i, j);
                assertThat(Math.abs(cos)).as("%s column %d", e.getKey(), j).isGreaterThan(1 - 1e-5);
            }
        }
    }

    /**
     * The plain Rayleigh trace max tr(XᵀAX) over St(n, k) (Ky Fan): its maximizers span the top-k eigenspace, so
     * X Xᵀ must equal V_k V_kᵀ and the trace the sum of the top k eigenvalues. A is a random Wishart matrix.
     */
    @Test
    void rayleighTraceFindsTheTopEigenspace() {
        Random rnd = new Random(26);
        int n = 24, k = 3;
        DMatrix g = DMatrix.random(n, 4 * n, rnd);
        DMatrix aD = g.multiply(g.transpose()).scale(1.0 / (4 * n)).symmetricPart();
        Linalg.Eigen eig = Linalg.eigSymmetric(aD);
        DMatrix vk = new DMatrix(n, k);
        for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) vk.set(i, j, eig.vectors().get(i, j));
        DMatrix projector = vk.multiply(vk.transpose());
        double topSum = eig.values()[0] + eig.values()[1] + eig.values()[2];
        Tensor a = Tensor.of(aD), start = Stiefel.random(n, k, rnd);
        for (var e : optimizers(0.5, 2000).entrySet()) {
            Var x = Var.param(start.copy());
            Optimizer opt = e.getValue().apply(List.of(x));
            for (int step = 0; step < 2000; step++) {
                opt.zeroGrad();
                x.mul(Var.of(a).matmul(x)).sum().neg().backward(); // −tr(XᵀAX)
                opt.step();
            }
            DMatrix xd = x.value().toDMatrix();
            DMatrix ax = aD.multiply(xd);
            double trace = 0;
            for (int i = 0; i < xd.data.length; i++) trace += xd.data[i] * ax.data[i];
            assertThat((topSum - trace) / topSum).as(e.getKey()).isLessThan(1e-5);
            assertThat(xd.multiply(xd.transpose()).maxAbsDiff(projector)).as(e.getKey()).isLessThan(1e-3);
        }
    }

    /**
     * One loop, two kinds of parameter: a rotation R (Cayley SGD) and a per-column scale s (autograd's Adam)
     * fit Y = (X R*) ⊙ s*; both are recovered.
     */
    @Test
    void optimizerGroupTrainsRotationsAndScalesTogether() {
        Random rnd = new Random(24);
        int n = 8, rows = 64;
        Tensor x = Tensor.randn(rnd, rows, n);
        Tensor rStar = Stiefel.random(n, n, rnd);
        Tensor sStar = Tensor.uniform(rnd, 0.5f, 2f, n);
        Tensor y = x.matmul(rStar).mul(sStar);
        Tensor start = Stiefel.random(n, n, rnd);
        if (Linalg.determinant(start.toDMatrix()) * Linalg.determinant(rStar.toDMatrix()) < 0) start = flipFirstColumn(start);
        Var r = Var.param(start), s = Var.param(Tensor.ones(n));
        OptimizerGroup opt = OptimizerGroup.builder()
                .add(List.of(r), ps -> new CayleySgd(ps, LrSchedule.constant(0.1), 0.9))
                .add(List.of(s), ps -> Optimizer.adam(ps, LrSchedule.cosine(0.05, 3000, 1e-4), 0.9, 0.999, 1e-8, 0))
                .build();
        for (int step = 0; step < 3000; step++) {
            opt.zeroGrad();
            Var.of(x).matmul(r).mul(s).sub(Var.of(y)).square().mean().backward();
            opt.step();
        }
        assertThat(opt.steps()).isEqualTo(3000);
        assertThat(opt.params()).containsExactly(r, s);
        assertThat(r.value().maxAbsDiff(rStar)).isLessThan(1e-3);
        assertThat(s.value().maxAbsDiff(sStar)).isLessThan(1e-3);
        assertThat(Stiefel.orthogonalityError(r.value())).isLessThan(1e-5);
    }

    @Test
    void badParametersAreRejectedWithTheirShape() {
        Var wide = Var.param(Tensor.zeros(3, 5));
        assertThatThrownBy(() -> new CayleySgd(List.of(wide), LrSchedule.constant(0.1), 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3, 5]").hasMessageContaining("transpose");
        Var notOrthonormal = Var.param(Tensor.randn(new Random(1), 6, 6));
        RiemannianAdam adam = new RiemannianAdam(List.of(notOrthonormal), LrSchedule.constant(0.1));
        notOrthonormal.setGrad(Tensor.ones(6, 6));
        assertThatThrownBy(adam::step).hasMessageContaining("[6, 6]").hasMessageContaining("not on the Stiefel manifold");
        Var q = Var.param(Stiefel.random(4, 4, new Random(2)));
        assertThatThrownBy(() -> OptimizerGroup.builder()
                .add(List.of(q), ps -> new CayleySgd(ps, LrSchedule.constant(0.1), 0))
                .add(List.of(q), ps -> Optimizer.sgd(ps, LrSchedule.constant(0.1), 0, 0)))
                .hasMessageContaining("groups 0 and 1");
        assertThatThrownBy(() -> new RiemannianSgd(List.of(q), LrSchedule.constant(0.1), RiemannianSgd.Retraction.QR, 0, 0, true, 0, 0))
                .hasMessageContaining("Nesterov");
    }

    /** A run interrupted after 40 steps and resumed from the saved state ends where an uninterrupted one does. */
    @Test
    void stateSavesAndResumes() {
        Random rnd = new Random(25);
        Tensor start = Stiefel.random(9, 4, rnd);
        Tensor[] grads = new Tensor[80];
        for (int i = 0; i < grads.length; i++) grads[i] = Tensor.randn(rnd, 9, 4);
        for (var e : optimizers(1, 80).entrySet()) {
            Var whole = Var.param(start.copy());
            Optimizer a = e.getValue().apply(List.of(whole));
            for (Tensor g : grads) { whole.setGrad(g); a.step(); }

            Var part = Var.param(start.copy());
            Optimizer b = e.getValue().apply(List.of(part));
            for (int i = 0; i < 40; i++) { part.setGrad(grads[i]); b.step(); }
            List<float[]> saved = b.state().stream().map(float[]::clone).toList();
            Optimizer c = e.getValue().apply(List.of(part));
            List<float[]> fresh = c.state();
            assertThat(fresh).hasSameSizeAs(saved);
            for (int s = 0; s < saved.size(); s++) System.arraycopy(saved.get(s), 0, fresh.get(s), 0, saved.get(s).length);
            c.resumeAt(b.steps());
            for (int i = 40; i < 80; i++) { part.setGrad(grads[i]); c.step(); }
            assertThat(part.value().maxAbsDiff(whole.value())).as(e.getKey()).isZero();
        }
    }

    /** With a zero gradient nothing moves (and momentum from earlier steps decays). */
    @Test
    void zeroGradientKeepsThePoint() {
        Var q = Var.param(Stiefel.random(9, 3, new Random(3)));
        Tensor before = q.value().copy();
        for (var e : optimizers(1, 10).entrySet()) {
            Optimizer opt = e.getValue().apply(List.of(q));
            q.setGrad(Tensor.zeros(9, 3));
            opt.step();
            assertThat(q.value().maxAbsDiff(before)).as(e.getKey()).isLessThan(1e-6);
        }
    }
}
