package dev.stiefel.cli;


import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.Sgemv;
import dev.stiefel.tensor.cpu.StridedMatrix;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.Random;

/**
 * Quick kernel throughput figures. These are a smoke check you can run anywhere in seconds; the figures
 * that go into docs/BENCHMARKS.md come from the JMH benchmarks in the bench module (several forks).
 */
@Command(name = "bench", description = "Measure kernel throughput (quick; JMH in bench/ gives the reported figures).",
        subcommands = {BenchCommand.Matmul.class, BenchCommand.Matvec.class, BenchGenerateCommand.class, BenchCheckpointCommand.class, BenchQuantizeCommand.class})
final class BenchCommand implements Runnable {
    @Override public void run() { new picocli.CommandLine(this).usage(System.out); }

    /** Best and median seconds of {@code reps} timed runs after {@code warmup} untimed ones. */
    static double[] time(int warmup, int reps, Runnable body) {
        for (int i = 0; i < warmup; i++) body.run();
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long s = System.nanoTime();
            body.run();
            t[i] = (System.nanoTime() - s) * 1e-9;
        }
        Arrays.sort(t);
        return new double[]{t[0], t[reps / 2]};
    }

    static int[] threadCounts(int[] asked) {
        return asked != null ? asked : Parallel.threads() == 1 ? new int[]{1} : new int[]{1, Parallel.threads()};
    }

    static void requirePositive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be positive, got " + v);
    }

    @Command(name = "matmul", mixinStandardHelpOptions = true,
            description = "f32 C = A·B GFLOP/s with 1 and all threads (square --size, or --shape M,K,N).")
    static final class Matmul implements Runnable {
        @Option(names = "--size", description = "square size (default ${DEFAULT-VALUE})", defaultValue = "2048") int size;
        @Option(names = "--shape", split = ",", description = "M,K,N instead of a square size") int[] shape;
        @Option(names = "--threads", split = ",", description = "thread counts to measure (default: 1 and all)") int[] threads;
        @Option(names = "--reps", defaultValue = "10", description = "timed runs (default ${DEFAULT-VALUE})") int reps;
        @Option(names = "--warmup", defaultValue = "5", description = "untimed runs first (default ${DEFAULT-VALUE})") int warmup;
        @Option(names = "--transpose-b", description = "B given as a transposed view (x·Wᵀ, as a linear layer)") boolean transposeB;

        @Override public void run() {
            int m = shape != null ? shape[0] : size, k = shape != null ? shape[1] : size, n = shape != null ? shape[2] : size;
            if (shape != null && shape.length != 3) throw new IllegalArgumentException("--shape needs M,K,N, got " + Arrays.toString(shape));
            requirePositive("--reps", reps);
            for (int d : new int[]{m, k, n}) requirePositive("matrix sizes", d);
            Random rnd = new Random(1);
            float[] a = random(rnd, m * k), b = random(rnd, k * n), c = new float[m * n];
            StridedMatrix am = StridedMatrix.rowMajor(a, m, k);
            StridedMatrix bm = transposeB ? StridedMatrix.rowMajor(b, n, k).transpose() : StridedMatrix.rowMajor(b, k, n);
            double flops = 2.0 * m * n * k;
            System.out.printf("sgemm %dx%dx%d%s, %d warm-up + %d timed runs%n", m, k, n, transposeB ? " (B transposed)" : "", warmup, reps);
            for (int t : threadCounts(threads)) {
                requirePositive("--threads", t);
                double[] s = time(warmup, reps, () -> Sgemm.gemm(am, bm, c, 0, n, false, t));
                System.out.printf("  threads %2d: best %8.1f GFLOP/s, median %8.1f GFLOP/s (%.2f ms)%n", t, flops / s[0] * 1e-9,
                        flops / s[1] * 1e-9, s[1] * 1e3);
            }
        }
    }

    @Command(name = "matvec", mixinStandardHelpOptions = true,
            description = "f32 y = W·x bandwidth in GB/s with 1 and all threads (default W is 1 GiB, beyond any cache).")
    static final class Matvec implements Runnable {
        @Option(names = "--rows", defaultValue = "16384") int rows;
        @Option(names = "--cols", defaultValue = "16384") int cols;
        @Option(names = "--threads", split = ",") int[] threads;
        @Option(names = "--reps", defaultValue = "10") int reps;
        @Option(names = "--warmup", defaultValue = "3") int warmup;

        @Override public void run() {
            requirePositive("--rows", rows);
            requirePositive("--cols", cols);
            requirePositive("--reps", reps);
            if ((long) rows * cols > Integer.MAX_VALUE) throw new IllegalArgumentException("--rows x --cols must stay below 2^31 elements");
            Random rnd = new Random(2);
            float[] w = random(rnd, rows * cols), x = random(rnd, cols), y = new float[rows];
            StridedMatrix wm = StridedMatrix.rowMajor(w, rows, cols);
            double bytes = 4.0 * rows * cols;
            System.out.printf("sgemv %dx%d (%.0f MiB), %d warm-up + %d timed runs%n", rows, cols, bytes / (1 << 20), warmup, reps);
            for (int t : threadCounts(threads)) {
                requirePositive("--threads", t);
                double[] s = time(warmup, reps, () -> Sgemv.gemv(wm, x, 0, y, 0, false, t));
                System.out.printf("  threads %2d: best %6.1f GB/s, median %6.1f GB/s (%.2f ms)%n", t, bytes / s[0] * 1e-9,
                        bytes / s[1] * 1e-9, s[1] * 1e3);
            }
        }
    }

    static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = rnd.nextFloat() - 0.5f;
        return v;
    }
}
