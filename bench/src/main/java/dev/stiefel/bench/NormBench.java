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
 * Softmax over LLaMA-sized logit rows and RMSNorm over hidden states, through the public Tensor API (so
 * the allocation of the result is part of the cost, as it is for a caller). Shapes: {@code rows} tokens of
 * {@code width} features; 32000 is the LLaMA-2 vocabulary, 4096 the LLaMA-2-7B hidden size.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class NormBench {
    @Param({"1x32000", "64x32000", "512x4096"}) String shape;

    Tensor x, weight;

    @Setup public void setup() {
        String[] p = shape.split("x");
        int rows = Integer.parseInt(p[0]), width = Integer.parseInt(p[1]);
        Random rnd = new Random(7);
        x = Tensor.randn(rnd, rows, width).mul(3f);
        weight = Tensor.uniform(rnd, 0.5f, 1.5f, width);
    }

    @Benchmark public Tensor softmax() { return x.softmax(-1); }

    @Benchmark public Tensor logSoftmax() { return x.logSoftmax(-1); }

    @Benchmark public Tensor rmsNorm() { return x.rmsNorm(weight, 1e-5f); }
}
