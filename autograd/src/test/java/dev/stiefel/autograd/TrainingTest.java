package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class TrainingTest {
    /** Least squares X w ≈ y: Adam and SGD with momentum both reach the normal equations' solution's loss. */
    @Test
    void linearRegressionReachesTheClosedForm() {
        Random rnd = new Random(101);
        Tensor x = Tensor.randn(rnd, 200, 7);
        Tensor y = x.matmul(Tensor.randn(rnd, 7, 1)).add(Tensor.randn(rnd, 200, 1).mul(0.1f));
        DMatrix xd = x.toDMatrix();
        DMatrix wStar = Linalg.solve(xd.transpose().multiply(xd), xd.transpose().multiply(y.toDMatrix()));
        double best = Losses.mse(Var.of(x.matmul(Tensor.of(wStar))), y).value().item();

        for (String name : new String[]{"adam", "sgd"}) {
            Var w = Var.param(Tensor.zeros(7, 1));
            Optimizer opt = name.equals("adam")
                    ? Optimizer.adam(List.of(w), LrSchedule.cosine(0.05, 1500, 1e-4), 0.9, 0.999, 1e-8, 0)
                    : Optimizer.sgd(List.of(w), LrSchedule.constant(0.05), 0.9, 0);
            for (int i = 0; i < 1500; i++) {
                opt.zeroGrad();
                Losses.mse(Var.of(x).matmul(w), y).backward();
                opt.step();
            }
            double loss = Losses.mse(Var.of(x).matmul(w), y).value().item();
            assertThat(loss).as(name).isCloseTo(best, within(1e-4 * best + 1e-7));
            assertThat(w.value().maxAbsDiff(Tensor.of(wStar))).as(name).isLessThan(1e-3);
        }
    }

    /** A 2-layer MLP learns y = sin(3x₁)·x₂ on 256 points: MSE from about 0.2 to below 0.01. */
    @Test
    void twoLayerMlpFitsASyntheticFunction() {
        Random rnd = new Random(102);
        Tensor x = Tensor.uniform(rnd, -1, 1, 256, 2);
        float[] t = new float[256];
        for (int i = 0; i < 256; i++) t[i] = (float) (Math.sin(3 * x.get(i, 0)) * x.get(i, 1));
        Tensor target = Tensor.wrap(t, 256, 1);
        Var w1 = Var.param(Tensor.randn(rnd, 2, 64).mul(0.7f)), b1 = Var.param(Tensor.zeros(64));
        Var w2 = Var.param(Tensor.randn(rnd, 64, 1).mul(0.125f)), b2 = Var.param(Tensor.zeros(1));
        List<Var> params = List.of(w1, b1, w2, b2);
        Optimizer opt = Optimizer.adamW(params, LrSchedule.warmup(20, LrSchedule.cosine(1e-2, 1500, 1e-4)), 1e-4);
        double first = 0, last = 0;
        for (int step = 0; step < 1520; step++) {
            opt.zeroGrad();
            Var h = Var.of(x).matmul(w1).add(b1).tanh();
            Var loss = Losses.mse(h.matmul(w2).add(b2), target);
            if (step == 0) first = loss.value().item();
            last = loss.value().item();
            loss.backward();
            GradClip.clipByNorm(params, 10);
            opt.step();
        }
        assertThat(first).isGreaterThan(0.05);
        assertThat(last).isLessThan(0.01);
    }

    @Test
    void schedules() {
        LrSchedule cos = LrSchedule.cosine(1.0, 100, 0.1);
        assertThat(cos.at(0)).isEqualTo(1.0);
        assertThat(cos.at(50)).isCloseTo(0.55, within(1e-12));
        assertThat(cos.at(100)).isCloseTo(0.1, within(1e-12));
        assertThat(cos.at(500)).isEqualTo(0.1);
        LrSchedule warm = LrSchedule.warmup(4, LrSchedule.constant(2.0));
        assertThat(new double[]{warm.at(0), warm.at(1), warm.at(3), warm.at(4), warm.at(99)}).containsExactly(0.5, 1.0, 2.0, 2.0, 2.0);
        assertThatThrownBy(() -> LrSchedule.constant(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void adamWDecaysWeightsOutsideTheMoments() {
        // with a zero gradient Adam's update is 0, so only the decoupled decay moves the weight: w ← w − lr·λ·w
        Var w = Var.param(Tensor.of(new float[]{2f}, 1));
        Optimizer opt = Optimizer.adamW(List.of(w), LrSchedule.constant(0.1), 0.5);
        w.setGrad(Tensor.zeros(1));
        opt.step();
        assertThat((double) w.value().item()).isCloseTo(2 - 0.1 * 0.5 * 2, within(1e-6));
        // Adam's first step moves each weight by lr·sign(g), whatever the gradient's size
        Var a = Var.param(Tensor.of(new float[]{1f, 1f}, 2));
        Optimizer adam = Optimizer.adam(List.of(a), LrSchedule.constant(0.01), 0.9, 0.999, 1e-12, 0);
        a.setGrad(Tensor.of(new float[]{1e-3f, -50f}, 2));
        adam.step();
        assertThat(a.value().toFloatArray()).containsExactly(new float[]{0.99f, 1.01f}, org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void clipByNormScalesToTheLimit() {
        Var a = Var.param(Tensor.zeros(2)), b = Var.param(Tensor.zeros(1));
        a.setGrad(Tensor.of(new float[]{3f, 0f}, 2));
        b.setGrad(Tensor.of(new float[]{4f}, 1));
        assertThat(GradClip.clipByNorm(List.of(a, b), 1.0)).isCloseTo(5.0, within(1e-9));
        assertThat(a.grad().get(0)).isCloseTo(0.6f, org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(b.grad().get(0)).isCloseTo(0.8f, org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void optimizerRejectsViews() {
        Var view = Var.param(Tensor.zeros(3, 4).t());
        assertThatThrownBy(() -> Optimizer.sgd(List.of(view), LrSchedule.constant(1), 0, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[4, 3]");
    }

    @Test
    void checkpointedBlockGivesTheSameGradients() {
        Random rnd = new Random(103);
        Tensor xv = Tensor.randn(rnd, 5, 8);
        Tensor w1v = Tensor.randn(rnd, 8, 8), w2v = Tensor.randn(rnd, 8);
        Tensor[] plain = new Tensor[3], checkpointed = new Tensor[3];
        for (boolean useCheckpoint : new boolean[]{false, true}) {
            Var x = Var.param(xv), w1 = Var.param(w1v), w2 = Var.param(w2v);
            java.util.function.Function<Var[], Var> block = in -> in[0].matmul(w1).silu().rmsNorm(w2, 1e-5f).add(in[0]);
            Var y = useCheckpoint ? Checkpoint.run(block, List.of(w1, w2), x) : block.apply(new Var[]{x});
            Var y2 = useCheckpoint ? Checkpoint.run(block, List.of(w1, w2), y) : block.apply(new Var[]{y});
            y2.square().mean().backward();
            Tensor[] out = useCheckpoint ? checkpointed : plain;
            out[0] = x.grad(); out[1] = w1.grad(); out[2] = w2.grad();
        }
        for (int i = 0; i < 3; i++) assertThat(checkpointed[i].maxAbsDiff(plain[i])).isLessThan(1e-6);
        // and with a constant input the block's parameters still get their gradient, the one they get without checkpointing
        Tensor[] constantInput = new Tensor[4];
        for (boolean useCheckpoint : new boolean[]{false, true}) {
            Var w1 = Var.param(w1v), w2 = Var.param(w2v);
            java.util.function.Function<Var[], Var> block = in -> in[0].matmul(w1).rmsNorm(w2, 1e-5f);
            (useCheckpoint ? Checkpoint.run(block, List.of(w1, w2), Var.of(xv)) : block.apply(new Var[]{Var.of(xv)})).square().sum().backward();
            constantInput[useCheckpoint ? 2 : 0] = w1.grad();
            constantInput[useCheckpoint ? 3 : 1] = w2.grad();
        }
        assertThat(constantInput[0].maxAbsDiff(Tensor.zeros(8, 8))).as("the gradient is not trivially zero").isGreaterThan(1e-3);
        assertThat(constantInput[2].maxAbsDiff(constantInput[0])).isLessThan(1e-6);
        assertThat(constantInput[3].maxAbsDiff(constantInput[1])).isLessThan(1e-6);
    }
}
