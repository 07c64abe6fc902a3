package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * Prints, as Markdown tables, how fast each Stiefel optimizer approaches the closed-form optimum of two problems
 * (the tables in docs/riemann.md come from here):
 *
 * <ol>
 *   <li>orthogonal Procrustes, min over Q ∈ O(n) of mean (QA − B)², optimum the polar factor of BAᵀ;</li>
 *   <li>Brockett's cost, max over X ∈ St(n, p) of tr(XᵀAXN), N = diag(p, .., 1)/p, optimum the top-p
 *       eigenvectors of A in order, optimum value Σ λ_i N_i.</li>
 * </ol>
 *
 * Each cell is the relative gap (f − f*)/|f*| after that many steps, computed in f64. Run (after building):
 * {@code java --add-modules jdk.incubator.vector -cp tensor/target/classes:autograd/target/classes:riemann/target/classes
 * dev.stiefel.riemann.ConvergenceReport}.
 */
public final class ConvergenceReport {
    private ConvergenceReport() {}

    private static final int[] CHECKPOINTS = {0, 10, 30, 100, 300, 1000, 3000};
    private static final int STEPS = CHECKPOINTS[CHECKPOINTS.length - 1];

    public static void main(String[] args) {
        long start = System.nanoTime();
        procrustes(32, 96, 1);
        brockett(64, 8, 2);
        System.out.printf(Locale.ROOT, "%n(%.1f s)%n", (System.nanoTime() - start) / 1e9);
    }

    /** The optimizers compared; {@code sgdLr} is the SGD-type rate for this problem's gradient scale. */
    private static Map<String, Function<List<Var>, Optimizer>> optimizers(double sgdLr) {
        Map<String, Function<List<Var>, Optimizer>> m = new LinkedHashMap<>();
        m.put("CayleySgd (μ = 0.9, lr " + sgdLr + ")", ps -> new CayleySgd(ps, LrSchedule.constant(sgdLr), 0.9));
        m.put(String.format(Locale.ROOT, "CayleySgd (μ = 0, lr %.2g)", 3 * sgdLr), ps -> new CayleySgd(ps, LrSchedule.constant(3 * sgdLr), 0));
        m.put("RiemannianAdam canonical (cosine 0.05)", ps -> new RiemannianAdam(ps, LrSchedule.cosine(0.05, STEPS, 0)));
        m.put("RiemannianAdam euclidean (cosine 0.05)", ps -> new RiemannianAdam(ps, LrSchedule.cosine(0.05, STEPS, 0),
                Stiefel.Metric.EUCLIDEAN, 0.9, 0.999, 1e-8, 0, 100));
        m.put("RiemannianSgd QR (μ = 0.9, lr " + sgdLr + ")", ps -> new RiemannianSgd(ps, LrSchedule.constant(sgdLr), RiemannianSgd.Retraction.QR, 0.9));
        m.put("RiemannianSgd polar (μ = 0.9, lr " + sgdLr + ")", ps -> new RiemannianSgd(ps, LrSchedule.constant(sgdLr), RiemannianSgd.Retraction.POLAR, 0.9));
        return m;
    }

    static void procrustes(int n, int k, long seed) {
        Random rnd = new Random(seed);
        Tensor a = Tensor.randn(rnd, n, k);
        Tensor b = Stiefel.random(n, n, rnd).matmul(a).add(Tensor.randn(rnd, n, k).mul(0.1f));
        DMatrix best = Linalg.polar(b.toDMatrix().multiply(a.toDMatrix().transpose()));
        ToDoubleFunction<DMatrix> loss = q -> {
            DMatrix r = q.multiply(a.toDMatrix()).subtract(b.toDMatrix());
            double s = 0;
            for (double v : r.data) s += v * v;
            return s / r.data.length;
        };
        double fStar = loss.applyAsDouble(best);
        Tensor q0 = Stiefel.random(n, n, rnd);
        if (Linalg.determinant(q0.toDMatrix()) * Linalg.determinant(best) < 0) { // same component of O(n) as Q*
            float[] d = q0.toFloatArray();
            for (int i = 0; i < n; i++) d[i * n] = -d[i * n];
            q0 = Tensor.wrap(d, n, n);
        }
        System.out.printf(Locale.ROOT, "### Orthogonal Procrustes, n = %d, %d columns, seed %d: f* = %.6g%n%n", n, k, seed, fStar);
        table(q0, optimizers(0.3), q -> q.matmul(Var.of(a)).sub(Var.of(b)).square().mean(),
                x -> (loss.applyAsDouble(x) - fStar) / fStar);
    }

    static void brockett(int n, int p, long seed) {
        Random rnd = new Random(seed);
        double[] lambda = new double[n];
        for (int i = 0; i < n; i++) lambda[i] = i < p ? 1 - 0.1 * i : 0.2 * rnd.nextDouble(); // top p: 1, 0.9, ..
        DMatrix v = Linalg.randomOrthogonal(n, rnd);
        DMatrix aD = v.multiply(DMatrix.diagonal(lambda)).multiply(v.transpose()).symmetricPart();
        double[] weights = new double[p];
        float[] wf = new float[p];
        double fStar = 0;
        for (int j = 0; j < p; j++) {
            weights[j] = (p - j) / (double) p;
            wf[j] = (float) weights[j];
            fStar += lambda[j] * weights[j];
        }
        Tensor a = Tensor.of(aD), nDiag = Tensor.wrap(wf, 1, p);
        ToDoubleFunction<DMatrix> value = x -> {
            DMatrix ax = aD.multiply(x);
            double s = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < p; j++) s += x.get(i, j) * ax.get(i, j) * weights[j];
            return s;
        };
        final double best = fStar;
        System.out.printf(Locale.ROOT, "%n### Brockett cost (top-%d eigenvectors), n = %d, seed %d: f* = %.6g%n%n", p, n, seed, best);
        table(Stiefel.random(n, p, rnd), optimizers(0.3),
                x -> x.mul(Var.of(a).matmul(x)).mul(Var.of(nDiag)).sum().neg(),
                x -> (best - value.applyAsDouble(x)) / best);
    }

    /** Runs every optimizer from {@code start} and prints one row per optimizer: the gap at each checkpoint. */
    private static void table(Tensor start, Map<String, Function<List<Var>, Optimizer>> optimizers,
                              Function<Var, Var> loss, ToDoubleFunction<DMatrix> gap) {
        StringBuilder head = new StringBuilder("| optimizer |"), rule = new StringBuilder("|---|");
        for (int c : CHECKPOINTS) { head.append(' ').append(c).append(" |"); rule.append("---:|"); }
        head.append(" max \\|XᵀX − I\\| | ms/step |");
        rule.append("---:|---:|");
        System.out.println(head);
        System.out.println(rule);
        for (var e : optimizers.entrySet()) {
            Var x = Var.param(start.copy());
            Optimizer opt = e.getValue().apply(List.of(x));
            StringBuilder row = new StringBuilder("| " + e.getKey() + " |");
            double worst = 0;
            long t0 = System.nanoTime();
            int next = 0;
            for (int step = 0; step <= STEPS; step++) {
                if (step == CHECKPOINTS[next]) {
                    row.append(String.format(Locale.ROOT, " %.1e |", gap.applyAsDouble(x.value().toDMatrix())));
                    worst = Math.max(worst, Stiefel.orthogonalityError(x.value()));
                    next++;
                }
                if (step == STEPS) break;
                opt.zeroGrad();
                loss.apply(x).backward();
                opt.step();
            }
            double ms = (System.nanoTime() - t0) / 1e6 / STEPS;
            row.append(String.format(Locale.ROOT, " %.1e | %.2f |", worst, ms));
            System.out.println(row);
        }
    }
}
