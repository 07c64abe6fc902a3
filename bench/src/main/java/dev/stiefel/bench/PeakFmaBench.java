package dev.stiefel.bench;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The most f32 arithmetic Java can do on this machine: twelve independent chains of vector FMAs that never touch
 * memory (enough chains to cover the FMA latency on every x86 core we run on). Every A16 product of the packed
 * runtime and every prefill is f32 FMAs on decoded weights, so this rate bounds them whatever the kernel: a token
 * of TinyLlama-1.1B shape costs 2.07 GFLOP in its linear layers, and no prefill can run faster than this rate over
 * that. One benchmark operation is {@link #FLOP} floating-point operations; GFLOP/s = ops/s × FLOP / 1e9 (the
 * two-thread score is the sum of both threads' operations).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class PeakFmaBench {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int STEPS = 1 << 14, CHAINS = 12;
    /** Multiplies and adds in one benchmark operation. */
    public static final long FLOP = 2L * STEPS * CHAINS * S.length();

    private float start = 0.5f;

    @Benchmark @Threads(1)
    public float oneThread() { return chains(); }

    @Benchmark @Threads(2)
    public float twoThreads() { return chains(); }

    /** c ← c·a + b converges to b / (1 − a), so the values stay finite however long it runs. */
    private float chains() {
        FloatVector a = FloatVector.broadcast(S, 0.999f), b = FloatVector.broadcast(S, 1e-4f);
        FloatVector c0 = FloatVector.broadcast(S, start), c1 = c0.add(1), c2 = c0.add(2), c3 = c0.add(3),
                c4 = c0.add(4), c5 = c0.add(5), c6 = c0.add(6), c7 = c0.add(7), c8 = c0.add(8), c9 = c0.add(9),
                c10 = c0.add(10), c11 = c0.add(11);
        for (int i = 0; i < STEPS; i++) {
            c0 = c0.fma(a, b); c1 = c1.fma(a, b); c2 = c2.fma(a, b); c3 = c3.fma(a, b);
            c4 = c4.fma(a, b); c5 = c5.fma(a, b); c6 = c6.fma(a, b); c7 = c7.fma(a, b);
            c8 = c8.fma(a, b); c9 = c9.fma(a, b); c10 = c10.fma(a, b); c11 = c11.fma(a, b);
        }
        FloatVector sum = c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11);
        start = sum.reduceLanes(VectorOperators.ADD) * 1e-6f;
        return start;
    }
}
