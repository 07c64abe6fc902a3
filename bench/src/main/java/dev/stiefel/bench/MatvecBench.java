package dev.stiefel.bench;

import dev.stiefel.tensor.cpu.Sgemv;
import dev.stiefel.tensor.cpu.StridedMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * y = W·x over a 16384×16384 f32 matrix (1 GiB, far beyond the caches): a memory-bandwidth benchmark.
 * Reported as time per product; bandwidth in GB/s = 2^30 bytes / time. {@code storage}: {@code heap} is a
 * float[]; {@code segment} is an off-heap (shared-arena) little-endian segment at a 2-byte offset, as a
 * memory-mapped weight file may be.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx3g"})
public class MatvecBench {
    static final int N = 16384;

    @Param({"heap", "segment"})
    public String storage;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private StridedMatrix w;
    private float[] x, y;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom r = new SplittableRandom(7);
        x = MatmulBench.random(r, N);
        y = new float[N];
        if (storage.equals("heap")) {
            w = StridedMatrix.rowMajor(MatmulBench.random(r, N * N), N, N);
        } else {
            arena = Arena.ofShared();
            var f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            MemorySegment s = arena.allocate((long) N * N * 4 + 16, 64).asSlice(2, (long) N * N * 4);
            for (long i = 0; i < (long) N * N; i++) s.set(f32, 4 * i, (float) (r.nextDouble() * 2 - 1));
            w = StridedMatrix.of(s, 0, N, N, N, 1);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (arena != null) arena.close();
    }

    @Benchmark
    public float[] matvec() {
        Sgemv.gemv(w, x, 0, y, 0, false, threads);
        return y;
    }
}
