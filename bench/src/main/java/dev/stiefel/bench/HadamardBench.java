package dev.stiefel.bench;

import dev.stiefel.riemann.hadamard.Fwht;
import dev.stiefel.riemann.hadamard.HadamardTransform;
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
 * The fast Hadamard transform on {@code rows} rows of {@code n} activations, the online rotation QuaRot and
 * SpinQuant apply before the down projection (n = 11008 = 2^6·172 for LLaMA-2-7B) and on hidden states
 * (n = 4096 = 2^12). Elements per second = rows·n / time.
 *
 * <ul>
 *   <li>{@code transform}: {@link HadamardTransform#multiply} of the normalized transform through the Tensor API
 *       (allocates its result; for 11008 a [rows·64, 172]·[172, 172] Sgemm, then the FWHT across 64 rows).</li>
 *   <li>{@code fwhtInPlace}: the bare Vector API kernel {@link Fwht#transform} on each row of a float[], in
 *       place, one thread, power-of-two n only (run it with {@code -p n=4096}).</li>
 *   <li>{@code denseMatmul}: x·H with the dense n×n matrix through Sgemm, what the transform replaces (4096
 *       only, {@code -p n=4096}: the dense 11008² matrix alone is 485 MB).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
public class HadamardBench {
    @Param({"4096", "11008"}) int n;
    @Param({"1", "64"}) int rows;

    HadamardTransform transform;
    Tensor x, dense;
    float[] buffer;

    @Setup public void setup() {
        Random rnd = new Random(11);
        transform = HadamardTransform.of(n).normalized();
        x = Tensor.randn(rnd, rows, n);
        buffer = x.toFloatArray();
        if (Integer.bitCount(n) == 1) dense = transform.matrix();
    }

    @Benchmark public Tensor transform() { return transform.multiply(x); }

    @Benchmark public float[] fwhtInPlace() {
        if (Integer.bitCount(n) != 1) throw new UnsupportedOperationException("the bare FWHT needs a power-of-two n");
        // the same data every time: H/√n applied twice is the identity, so values stay bounded
        float scale = transform.scale();
        for (int r = 0; r < rows; r++) Fwht.transform(buffer, r * n, n, scale);
        return buffer;
    }

    @Benchmark public Tensor denseMatmul() {
        if (dense == null) throw new UnsupportedOperationException("dense baseline only for power-of-two n");
        return x.matmul(dense);
    }
}
