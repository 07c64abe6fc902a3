package dev.stiefel.bench;

import dev.stiefel.tensor.packed.Int8Gemm;
import dev.stiefel.tensor.packed.Int8Rows;
import dev.stiefel.tensor.packed.PackedGemv;
import dev.stiefel.tensor.packed.PackedMatrix;
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
 * The packed kernels on TinyLlama-1.1B's FFN up projection, W [5632, 2048] (random codes and scales): decode
 * ({@code gemv}: W·A16, one token), prefill ({@code gemm}: 128 tokens, dequantized into Sgemm's panels) and the int8
 * activation product ({@code int8Gemv}: one token quantized to 8 bits at run time, asymmetric as quant's A8 default,
 * then integer dot products; W8A8 / W4A8 by {@code grid}). {@code grid} is bits, s(ymmetric) or a(symmetric), and the group size (0 = per channel).
 * Bytes moved per decode product: {@link PackedMatrix#bytes()} (printed in the setup) over the time per product.
 * Compare with {@code MatvecBench}/{@code MatmulBench} (f32) and {@code HalfBench} (bf16) on the same shapes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class PackedBench {
    static final int N = 5632, K = 2048, PREFILL = 128;

    @Param({"4s32", "4a128", "8s0", "3a128", "2a32"})
    public String grid;

    @Param({"1", "2"})
    public int threads;

    private PackedMatrix w;
    private float[] x, xs, y, ys;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom r = new SplittableRandom(17);
        int bits = grid.charAt(0) - '0', group = Integer.parseInt(grid.substring(2));
        boolean symmetric = grid.charAt(1) == 's';
        int g = group == 0 ? K : group, groups = K / g;
        int[] codes = new int[N * K];
        for (int i = 0; i < codes.length; i++) codes[i] = r.nextInt(1 << bits);
        float[] scales = new float[N * groups], zeros = new float[N * groups];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = (float) (0.001 + r.nextDouble() * 0.01);
            if (!symmetric) zeros[i] = r.nextInt(1 << bits);
        }
        w = PackedMatrix.ofCodes(codes, N, K, bits, group, symmetric, scales, zeros);
        x = MatmulBench.random(r, K);
        xs = MatmulBench.random(r, PREFILL * K);
        y = new float[N];
        ys = new float[PREFILL * N];
        System.out.println(w);
    }

    @Benchmark
    public float[] gemv() {
        PackedGemv.gemv(w, x, 0, y, 0, threads);
        return y;
    }

    @Benchmark
    public float[] gemm() {
        PackedGemv.gemm(xs, 0, PREFILL, w, ys, 0, threads);
        return ys;
    }

    @Benchmark
    public float[] int8Gemv() {
        Int8Gemm.gemm(Int8Rows.quantize(x, 0, 1, K, false), w, y, 0, threads);
        return y;
    }
}
