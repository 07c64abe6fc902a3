package dev.stiefel.bench;

import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.Sgemv;
import dev.stiefel.tensor.cpu.StridedMatrix;
import java.util.SplittableRandom;
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
 * f32 matrix products through {@link Sgemm} / {@link Sgemv}; time per product (GFLOP/s = 2·m·n·k / time).
 *
 * <ul>
 *   <li>{@code square256/1024/2048}: C = A·B, both row-major n×n.</li>
 *   <li>{@code ffn512x4096x11008}: the LLaMA-7B FFN up/gate projection Y = X·Wᵀ, X [512, 4096] row-major
 *       activations, W [11008, 4096] row-major weights (so B = Wᵀ is a transposed view, rowStride 1). A
 *       prefill of 2048 tokens is four of these; 512 rows keep one product near 0.2 s so that several forks
 *       fit in a benchmark run, and m = 512 is already far past the point where the packed kernel's speed
 *       depends on m (36 MR-panels per thread).</li>
 *   <li>{@code decodeGemv4096}: y = W·x, W [4096, 4096] row-major (one decode step of a 4096² projection).</li>
 *   <li>{@code decodeGemm1x4096x4096}: the same as a 1×4096 · Wᵀ gemm call (m == 1 goes to the gemv path).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
public class MatmulBench {
    @Param({"square256", "square1024", "square2048", "ffn512x4096x11008", "decodeGemv4096", "decodeGemm1x4096x4096"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    private StridedMatrix a, b;
    private float[] x, c;
    private int ldc;
    private boolean gemv;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom r = new SplittableRandom(42);
        switch (shape) {
            case "square256" -> square(r, 256);
            case "square1024" -> square(r, 1024);
            case "square2048" -> square(r, 2048);
            case "ffn512x4096x11008" -> {
                a = StridedMatrix.rowMajor(random(r, 512 * 4096), 512, 4096);
                b = StridedMatrix.rowMajor(random(r, 11008 * 4096), 11008, 4096).transpose();
                c = new float[512 * 11008];
                ldc = 11008;
            }
            case "decodeGemv4096" -> {
                a = StridedMatrix.rowMajor(random(r, 4096 * 4096), 4096, 4096);
                x = random(r, 4096);
                c = new float[4096];
                gemv = true;
            }
            case "decodeGemm1x4096x4096" -> {
                a = StridedMatrix.rowMajor(random(r, 4096), 1, 4096);
                b = StridedMatrix.rowMajor(random(r, 4096 * 4096), 4096, 4096).transpose();
                c = new float[4096];
                ldc = 4096;
            }
            default -> throw new IllegalArgumentException(shape);
        }
    }

    private void square(SplittableRandom r, int n) {
        a = StridedMatrix.rowMajor(random(r, n * n), n, n);
        b = StridedMatrix.rowMajor(random(r, n * n), n, n);
        c = new float[n * n];
        ldc = n;
    }

    static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    @Benchmark
    public float[] product() {
        if (gemv) Sgemv.gemv(a, x, 0, c, 0, false, threads);
        else Sgemm.gemm(a, b, c, 0, ldc, false, threads);
        return c;
    }
}
