package dev.stiefel.bench;

import dev.stiefel.riemann.Stiefel;
import dev.stiefel.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One Cayley step of RiemannianAdam on an n×n rotation (OSTQuant's R1 is model dimension square: 2048 for TinyLlama,
 * 4096 for LLaMA-2-7B), the point and the first moment carried together: the f64 solve against the f32 products
 * ({@link Stiefel#retractCayleyBySolve}, {@link Stiefel#retractCayleyByProducts}). The step has ‖U‖_F = 0.05:
 * RiemannianAdam's steps have ‖U‖_F ≈ lr, and OSTQuant's rotation rate starts at 0.05 (three factors of the series).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx8g"})
public class CayleyBench {
    @Param({"256", "1024", "2048"})
    public int n;

    private Tensor x, u, m;

    @Setup public void setup() {
        Random rnd = new Random(1);
        x = Stiefel.random(n, n, rnd);
        Tensor dir = Stiefel.tangent(x, Tensor.randn(rnd, n, n), Stiefel.Metric.CANONICAL);
        u = dir.mul((float) (0.05 / Math.sqrt(dir.mul(dir).sum().item())));
        m = Tensor.randn(rnd, n, n);
    }

    @Benchmark public Tensor[] solve() { return Stiefel.retractCayleyBySolve(x, u, m); }

    @Benchmark public Tensor[] products() { return Stiefel.retractCayleyByProducts(x, u, m); }
}
