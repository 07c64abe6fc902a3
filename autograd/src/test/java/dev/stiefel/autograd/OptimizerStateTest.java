package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;

import static org.assertj.core.api.Assertions.assertThat;

/** An optimizer restored from its state arrays and step continues exactly like one that never stopped. */
class OptimizerStateTest {

    private static void steps(Optimizer opt, Var w, Tensor target, int n) {
        for (int i = 0; i < n; i++) {
            w.sub(Var.of(target)).square().sum().backward();
            opt.step();
            opt.zeroGrad();
        }
    }

    @Test void resumedAdamWAndSgdMatchAnUninterruptedRun() {
        Tensor target = Tensor.randn(new Random(1), 7, 3);
        List<BiFunction<List<Var>, LrSchedule, Optimizer>> makers = List.of(
                (p, lr) -> Optimizer.adamW(p, lr, 0.01),
                (p, lr) -> Optimizer.sgd(p, lr, 0.9, 0.001));
        for (var make : makers) {
            LrSchedule lr = LrSchedule.warmup(3, LrSchedule.cosine(0.05, 10, 0.001));
            Var straight = Var.param(Tensor.randn(new Random(2), 7, 3));
            Var resumed = Var.param(straight.value().copy());
            steps(make.apply(List.of(straight), lr), straight, target, 12);

            Optimizer first = make.apply(List.of(resumed), lr);
            steps(first, resumed, target, 5);
            List<float[]> saved = first.state().stream().map(float[]::clone).toList();
            int step = first.steps();

            Optimizer second = make.apply(List.of(resumed), lr);
            List<float[]> fresh = second.state();
            for (int i = 0; i < saved.size(); i++) System.arraycopy(saved.get(i), 0, fresh.get(i), 0, saved.get(i).length);
            second.resumeAt(step);
            assertThat(second.currentLr()).isEqualTo(first.currentLr());
            steps(second, resumed, target, 7);
            assertThat(resumed.value().maxAbsDiff(straight.value())).isZero();
        }
    }
}
