package dev.stiefel.bench;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A linear layer x·Wᵀ with W [5632, 2048] (TinyLlama-1.1B's FFN up projection) stored in bf16 or f32, through
 * {@code Tensor.matmul} as the model calls it: {@code decode} is one token (bf16: the four-row HalfGemv kernel; f32:
 * Sgemv), {@code prefill} 128 tokens (bf16: W widened slice by slice into Sgemm's A panels; f32: Sgemm with Wᵀ packed
 * into B panels). Decode bandwidth = W's bytes (2·N·K or 4·N·K) over the time per product. The process uses
 * {@code -Dstiefel.threads} threads (default: all cores).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class HalfBench {
    private static final int N = PackedBench.N, K = PackedBench.K, PREFILL = PackedBench.PREFILL;

    @Param({"bf16", "f32"})
    public String dtype;

    private Tensor wt, token, tokens;

    @Setup(Level.Trial)
    public void setUp() {
        Random r = new Random(19);
        Tensor w = Tensor.randn(r, N, K);
        if (dtype.equals("bf16")) w = w.to(DType.BF16);
        wt = w.t();
        token = Tensor.randn(r, 1, K);
        tokens = Tensor.randn(r, PREFILL, K);
    }

    @Benchmark
    public Tensor decode() { return token.matmul(wt); }

    @Benchmark
    public Tensor prefill() { return tokens.matmul(wt); }
}
