package dev.stiefel.bench;

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
 * The transcendental element-wise ops on a [256, 1376] activation (the SwiGLU hidden layer of BlockBench), through
 * the public Tensor API, result allocation included: the cost of computing exp, log and tanh with the tensor
 * module's own tier-independent vector functions (and pow through Math.pow per element).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class UnaryBench {
    @Param({"exp", "log", "tanh", "sigmoid", "silu", "pow"}) String op;

    Tensor x, positive;

    @Setup public void setup() {
        Random rnd = new Random(7);
        x = Tensor.randn(rnd, 256, 1376).mul(3f);
        positive = x.abs().add(1e-3f);
    }

    @Benchmark public Tensor run() {
        return switch (op) {
            case "exp" -> x.exp();
            case "log" -> positive.log();
            case "tanh" -> x.tanh();
            case "sigmoid" -> x.sigmoid();
            case "silu" -> x.silu();
            case "pow" -> positive.pow(1.7f);
            default -> throw new IllegalArgumentException(op);
        };
    }
}
