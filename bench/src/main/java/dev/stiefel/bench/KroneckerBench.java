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
 * FlatQuant's online transform x·(A ⊗ B) on {@code rows} rows of n = n1·n2 activations, as two small matmuls
 * (the same Tensor ops as quant's {@code Kronecker.apply}: X [rows, n1, n2] · B, then Aᵀ · (X·B) with Aᵀ broadcast),
 * against x·P with the dense n × n matrix it stands for. LLaMA widths with FlatQuant's factor sizes: 4096 = 64·64
 * (hidden size of 7B/8B), 11008 = 86·128 (LLaMA-2-7B MLP), 14336 = 112·128 (LLaMA-3-8B MLP); rows 1 (decode) and 128
 * (prefill). Multiply-adds per row: n·(n1 + n2) against n². The dense 14336² matrix alone is 822 MB.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class KroneckerBench {
    @Param({"64x64", "86x128", "112x128"}) public String factors;
    @Param({"1", "128"}) public int rows;

    Tensor x, a, b, dense;
    int n1, n2;

    @Setup public void setup() {
        String[] f = factors.split("x");
        n1 = Integer.parseInt(f[0]);
        n2 = Integer.parseInt(f[1]);
        Random rnd = new Random(1);
        int n = n1 * n2;
        x = Tensor.randn(rnd, rows, n);
        a = Tensor.randn(rnd, n1, n1);
        b = Tensor.randn(rnd, n2, n2);
        dense = Tensor.randn(rnd, n, n);
    }

    @Benchmark public Tensor kronecker() {
        return a.t().matmul(x.reshape(rows, n1, n2).matmul(b)).reshape(rows, n1 * n2);
    }

    /** The same product with Aᵀ applied as one [rows·n2, n1]·[n1, n1] gemm on the transposed X·B ((Aᵀ·Y)ᵀ = Yᵀ·A). */
    @Benchmark public Tensor kroneckerOneGemm() {
        Tensor yt = x.reshape(rows, n1, n2).matmul(b).transpose(1, 2).contiguous().reshape(rows * n2, n1);
        return yt.matmul(a).reshape(rows, n2, n1).transpose(1, 2).contiguous().reshape(rows, n1 * n2);
    }

    @Benchmark public Tensor dense() { return x.matmul(dense); }
}
