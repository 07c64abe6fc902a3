package dev.stiefel.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one thread pool every CPU kernel shares. Sized to the machine's cores; {@code -Dstiefel.threads=N}
 * overrides. Kernels split work with {@link #forRange}, which runs on the calling thread when one thread is
 * asked for (no fork/join overhead on small shapes).
 */
public final class Parallel {
    private static final int THREADS = configuredThreads();
    private static final ForkJoinPool POOL = new ForkJoinPool(THREADS,
            pool -> {
                var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
                t.setName("stiefel-" + t.getPoolIndex());
                t.setDaemon(true);
                return t;
            }, null, false);

    private Parallel() {}

    private static int configuredThreads() {
        String p = System.getProperty("stiefel.threads");
        int cores = Runtime.getRuntime().availableProcessors();
        if (p == null || p.isBlank()) return cores;
        try {
            int n = Integer.parseInt(p.trim());
            if (n < 1) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-Dstiefel.threads must be a positive integer, got '" + p + "'");
        }
    }

    /** Number of threads kernels use by default. */
    public static int threads() { return THREADS; }

    public static ForkJoinPool pool() { return POOL; }

    /** Body of a parallel loop over the half-open range [from, to). */
    @FunctionalInterface
    public interface RangeBody { void run(int from, int to); }

    /**
     * Runs {@code body} over [0, n) split into at most {@code threads} contiguous chunks of at least
     * {@code grain} items. With one chunk the body runs on the calling thread.
     */
    public static void forRange(int n, int threads, int grain, RangeBody body) {
        if (n <= 0) return;
        int chunks = Math.max(1, Math.min(Math.min(threads, THREADS), (n + Math.max(1, grain) - 1) / Math.max(1, grain)));
        if (chunks == 1) {
            body.run(0, n);
            return;
        }
        // Nested parallel loops join the running pool instead of blocking one of its workers.
        if (ForkJoinTask.getPool() == POOL) {
            new Chunks(n, chunks, 0, chunks, body).invoke();
            return;
        }
        // A caller from outside the pool takes chunks itself, in order, while pool workers take them too as they
        // wake up. Waking a parked worker costs tens of microseconds on this machine, as much as a whole
        // element-wise op on a [256, 1376] tensor: when no worker has come by the time the caller is done with
        // its chunk, the caller goes on with the next one instead of waiting, and the late worker finds nothing
        // left. The chunks are the same whoever runs them, so results do not depend on the timing.
        Claims claims = new Claims(n, chunks, body);
        ForkJoinTask<?>[] helpers = new ForkJoinTask<?>[chunks - 1];
        for (int i = 0; i < helpers.length; i++) helpers[i] = POOL.submit(claims::runAll);
        RuntimeException failure = null;
        try {
            claims.runAll();
        } catch (RuntimeException e) {
            failure = e;
        }
        for (ForkJoinTask<?> h : helpers) { // every helper has finished (or never started) before this returns
            try {
                h.join();
            } catch (RuntimeException e) {
                if (failure == null) failure = e; else failure.addSuppressed(e);
            }
        }
        if (failure != null) throw failure;
    }

    /** Chunks of [0, n) handed out one at a time to whichever thread asks first. */
    private static final class Claims {
        private final int n, chunks;
        private final RangeBody body;
        private final AtomicInteger next = new AtomicInteger();

        Claims(int n, int chunks, RangeBody body) { this.n = n; this.chunks = chunks; this.body = body; }

        void runAll() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                int from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
                if (from < to) body.run(from, to);
            }
        }
    }

    /** {@link #forRange(int, int, int, RangeBody)} with all threads. */
    public static void forRange(int n, int grain, RangeBody body) { forRange(n, THREADS, grain, body); }

    private static final class Chunks extends RecursiveAction {
        private final int n, chunks, lo, hi;
        private final RangeBody body;

        Chunks(int n, int chunks, int lo, int hi, RangeBody body) {
            this.n = n; this.chunks = chunks; this.lo = lo; this.hi = hi; this.body = body;
        }

        @Override protected void compute() {
            if (hi - lo == 1) {
                int from = (int) ((long) n * lo / chunks), to = (int) ((long) n * hi / chunks);
                if (from < to) body.run(from, to);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunks(n, chunks, lo, mid, body), new Chunks(n, chunks, mid, hi, body));
        }
    }
}
