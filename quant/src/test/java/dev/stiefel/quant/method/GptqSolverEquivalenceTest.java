package dev.stiefel.quant.method;

import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The solver (the LDL form over one f64 factorization H = R Rᵀ, blocked kernels, a parallel column loop) against
 * {@link LegacyGptqSolver} (the paper's form: U = Cholesky(H⁻¹)ᵀ from the explicit inverse, scalar loops). The two are
 * the same algorithm in exact arithmetic (QuIP's Theorem 6) and differ in f32 rounding only, so nearly every element
 * gets the same code, the loss agrees closely, and the order and fixed parameters are equal; on odd shapes, with and
 * without act-order, per channel, per tensor, dynamic and static groups, several block sizes, a dead input, and on a
 * fixed per-element grid. Sharing one factor between matrices is bit for bit each matrix's own.
 */
class GptqSolverEquivalenceTest {

    /** The fraction of elements both solvers round alike, at least. */
    static final double SAME_CODES = 0.99;

    private static void assertSameRounding(GptqSolver.Result got, GptqSolver.Result want, String what) {
        assertThat(got.order()).as(what + ": order").isEqualTo(want.order());
        // codes where there are (a dynamic group's scale may differ in its last bits), values on a fixed grid
        int same = 0;
        for (int i = 0; i < want.weights().length; i++)
            if (want.codes() != null ? got.codes()[i] == want.codes()[i] : got.weights()[i] == want.weights()[i]) same++;
        assertThat(same).as(what + ": elements rounded alike").isGreaterThanOrEqualTo((int) Math.floor(SAME_CODES * want.weights().length));
        assertThat(got.loss()).as(what + ": loss").isCloseTo(want.loss(), org.assertj.core.data.Offset.offset(0.01 * want.loss() + 1e-12));
        if (want.params() != null && got.params().groupOf() != null) assertThat(got.params().groupOf()).as(what + ": groups").isEqualTo(want.params().groupOf());
    }

    private static void assertSameResult(GptqSolver.Result got, GptqSolver.Result want, String what) {
        assertThat(got.order()).as(what + ": order").isEqualTo(want.order());
        for (int i = 0; i < want.weights().length; i++)
            if (Float.floatToRawIntBits(got.weights()[i]) != Float.floatToRawIntBits(want.weights()[i]))
                throw new AssertionError(what + ": weight " + i + " is " + got.weights()[i] + ", expected " + want.weights()[i]);
        assertThat(got.codes()).as(what + ": codes").isEqualTo(want.codes());
        assertThat(Double.doubleToRawLongBits(got.loss())).as(what + ": loss " + got.loss() + " vs " + want.loss())
                .isEqualTo(Double.doubleToRawLongBits(want.loss()));
    }

    @Test void roundsAsThePapersFormAcrossShapesSpecsAndOptions() {
        Random rnd = new Random(41);
        int[][] shapes = {{1, 7}, {5, 33}, {13, 257}};
        List<QuantSpec> specs = List.of(QuantSpec.weights(4, false, 0), QuantSpec.weights(3, true, 0), QuantSpec.weights(4, false, 8),
                QuantSpec.weights(3, true, 32), QuantSpec.weights(8, false, 0).withGranularity(QuantSpec.Granularity.PER_TENSOR));
        for (int[] shape : shapes) {
            int rows = shape[0], cols = shape[1], tokens = cols + 40;
            float[] x = GptqSolverTest.correlatedInputs(rnd, tokens, cols);
            if (cols > 20) for (int t = 0; t < tokens; t++) x[t * cols + 17] = 0;   // a dead input
            double[] h = GptqSolverTest.hessian(x, tokens, cols);
            float[] w = GptqSolverTest.weights(rnd, rows, cols);
            List<Gptq.Options> options = List.of(Gptq.Options.defaults(), Gptq.Options.defaults().withActOrder(true),
                    Gptq.Options.defaults().withStaticGroups(true), Gptq.Options.defaults().withActOrder(true).withStaticGroups(true),
                    Gptq.Options.defaults().withActOrder(true).withBlockSize(7));
            for (QuantSpec spec : specs)
                for (Gptq.Options o : options) {
                    Quantizer q = new Quantizer(spec);
                    String what = rows + "x" + cols + " " + spec + " " + o;
                    assertSameRounding(GptqSolver.quantize(w, rows, cols, h, q, o, "w"),
                            LegacyGptqSolver.quantize(w, rows, cols, h, q, null, o, "w"), what);
                }
        }
    }

    @Test void roundsAsThePapersFormOnAFixedGridAndASharedFactorIsBitwiseEachMatrixsOwn() {
        Random rnd = new Random(42);
        int rows = 9, cols = 161, tokens = 200;
        float[] x = GptqSolverTest.correlatedInputs(rnd, tokens, cols);
        double[] h = GptqSolverTest.hessian(x, tokens, cols);
        float[] w = GptqSolverTest.weights(rnd, rows, cols);
        // a grid of its own step per row, as a ggml block format's header would fix it
        GptqSolver.ElementGrid grid = (r, c, v) -> {
            float step = 0.05f * (1 + r % 3);
            return Math.max(-8, Math.min(7, Math.round(v / step))) * step;
        };
        Gptq.Options o = Gptq.Options.defaults().withActOrder(true);   // a grid ignores act-order
        GptqSolver.Result got = GptqSolver.quantize(w, rows, cols, h, grid, o, "w");
        assertThat(got.codes()).isNull();
        assertSameRounding(got, LegacyGptqSolver.quantize(w, rows, cols, h, null, grid, o, "w"), "grid");

        // q/k/v share one factor: each matrix comes out as if it had its own
        GptqSolver.HessianFactor shared = GptqSolver.factor(h, cols, o, "qkv");
        Quantizer q = new Quantizer(QuantSpec.weights(4, false, 16));
        for (int m = 0; m < 3; m++) {
            float[] wm = GptqSolverTest.weights(rnd, rows, cols);
            GptqSolver.Result own = GptqSolver.quantize(wm, rows, cols, h, q, o, "w" + m);
            assertSameResult(GptqSolver.quantize(wm, rows, shared, q, o, "w" + m), own, "shared " + m);
            assertSameRounding(own, LegacyGptqSolver.quantize(wm, rows, cols, h, q, null, o, "w"), "legacy " + m);
        }
    }
}
