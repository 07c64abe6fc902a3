package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * How fast this machine streams memory into vector registers: the sum of an array much larger than the caches, split
 * over threads, four accumulators per thread (one accumulator streamed slower on the Zen 4 guest, docs/BENCHMARKS.md).
 * A decode step reads every weight once, so its GB/s of weights set against this rate, measured in the same run, is
 * its distance from the memory bound ({@code bench generate}).
 */
public final class StreamRate {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Floats per task: a few MiB, so threads take many and none waits long for the last. */
    private static final int GRAIN = 1 << 20;

    private StreamRate() {}

    /** The best of {@code passes} timed passes over {@code bytes} of floats, and the sum the last pass computed. */
    public record Result(double gigabytesPerSecond, double sum) {}

    /**
     * Streams an array of {@code bytes} (rounded down to whole vectors; every element 1, each page touched once before
     * timing) {@code passes} times on up to {@code threads} threads.
     */
    public static Result measure(long bytes, int threads, int passes) {
        if (bytes < (long) Float.BYTES * L || bytes / Float.BYTES > Integer.MAX_VALUE - L)
            throw new IllegalArgumentException("stream rate: " + bytes + " bytes, expected between " + Float.BYTES * L + " and 8 GiB");
        if (threads < 1 || passes < 1) throw new IllegalArgumentException("stream rate: threads and passes must be >= 1, got " + threads + ", " + passes);
        int n = (int) (bytes / Float.BYTES / L * L);
        float[] a = new float[n];
        Arrays.fill(a, 1f);
        int tasks = (n + GRAIN - 1) / GRAIN;
        double[] partial = new double[tasks];
        double best = Double.MAX_VALUE, sum = 0;
        for (int p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            Parallel.forRange(tasks, threads, 1, (first, last) -> {
                for (int t = first; t < last; t++) partial[t] = sum(a, t * GRAIN, Math.min(n, (t + 1) * GRAIN));
            });
            best = Math.min(best, (System.nanoTime() - t0) * 1e-9);
            sum = 0;
            for (double s : partial) sum += s;
        }
        return new Result((double) n * Float.BYTES / best * 1e-9, sum);
    }

    /** a[from, to), to − from a multiple of L, four vectors per step while they last. */
    private static float sum(float[] a, int from, int to) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = from;
        for (; i + 4 * L <= to; i += 4 * L) {
            s0 = s0.add(FloatVector.fromArray(F, a, i));
            s1 = s1.add(FloatVector.fromArray(F, a, i + L));
            s2 = s2.add(FloatVector.fromArray(F, a, i + 2 * L));
            s3 = s3.add(FloatVector.fromArray(F, a, i + 3 * L));
        }
        for (; i < to; i += L) s0 = s0.add(FloatVector.fromArray(F, a, i));
        return VectorMath.sum(s0.add(s1).add(s2.add(s3)));
    }
}
