package dev.stiefel.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The threads every CPU kernel shares, as many as the machine's cores ({@code -Dstiefel.threads=N} overrides). Kernels
 * split work with {@link #forRange}, which runs on the calling thread when one thread is asked for (no hand-off on
 * small shapes). A loop called from the program's own threads is shared with a team of spinning threads (see
 * {@code Team}); a loop started inside a loop body goes to a fork-join pool.
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
        // A caller from outside the pool takes chunks itself, in order, while the team's threads take them too.
        // The chunks are the same whoever runs them, so results do not depend on the timing.
        if (TEAM != null && TEAM.tryRun(n, chunks, body)) return;
        // The team is busy (a loop inside a loop body, or a second caller): pool workers help instead. Waking a
        // parked worker costs tens of microseconds on this machine, as much as a whole element-wise op on a
        // [256, 1376] tensor: when no worker has come by the time the caller is done with its chunk, the caller
        // goes on with the next one instead of waiting, and the late worker finds nothing left.
        Claims claims = new Claims(n, chunks, body);
        ForkJoinTask<?>[] helpers = new ForkJoinTask<?>[chunks - 1];
        for (int i = 0; i < helpers.length; i++) helpers[i] = POOL.submit(claims::runAll);
        claims.runAll();
        claims.awaitAll(); // every chunk has finished; a helper that starts later finds nothing left
        claims.rethrow();
    }

    /**
     * Chunks of [0, n) handed out one at a time to whichever thread asks first. A chunk that throws still counts as
     * finished; the failure of the lowest chunk is kept (the others suppressed in it) for the caller to rethrow.
     */
    private static final class Claims {
        private final int n, chunks;
        private final RangeBody body;
        private final AtomicInteger next = new AtomicInteger(), finished = new AtomicInteger();
        private volatile Thread waiter;
        private Throwable failure; // guarded by this
        private int failedChunk;   // guarded by this

        Claims(int n, int chunks, RangeBody body) { this.n = n; this.chunks = chunks; this.body = body; }

        void runAll() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                int from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
                try {
                    if (from < to) body.run(from, to);
                } catch (Throwable t) {
                    fail(c, t);
                } finally {
                    if (finished.incrementAndGet() == chunks) {
                        Thread w = waiter;
                        if (w != null) LockSupport.unpark(w);
                    }
                }
            }
        }

        /** Keeps the failure of the lowest chunk, the others suppressed in it: the same error whichever thread failed first. */
        private synchronized void fail(int chunk, Throwable t) {
            if (failure == null) {
                failure = t;
                failedChunk = chunk;
            } else if (chunk < failedChunk) {
                t.addSuppressed(failure);
                failure = t;
                failedChunk = chunk;
            } else failure.addSuppressed(t);
        }

        /**
         * Returns once every chunk has finished: spinning first, since the chunks left are running on other threads
         * and most end within microseconds, then parked until the last one unparks this thread.
         */
        void awaitAll() {
            for (long until = System.nanoTime() + SPIN_NANOS; finished.get() < chunks; ) {
                if (System.nanoTime() - until > 0) {
                    waiter = Thread.currentThread(); // then finished is read again: the last chunk sees the waiter, or this sees it done
                    while (finished.get() < chunks) LockSupport.park(this);
                    return;
                }
                Thread.onSpinWait();
            }
        }

        void rethrow() {
            Throwable t;
            synchronized (this) { t = failure; }
            if (t instanceof RuntimeException e) throw e;
            if (t instanceof Error e) throw e;
            if (t != null) throw new IllegalStateException(t);
        }
    }

    /**
     * How long an idle team thread spins for the next loop before it parks, and a caller for the last chunks before it
     * parks: a decode step runs a loop every few microseconds (one per matrix and op), and unparking a thread costs
     * tens of microseconds on a virtual machine, more than many of those loops take. Spinning this long between loops
     * costs at most this much CPU time per loop. With more threads than cores ({@code -Dstiefel.threads}) a spinning
     * thread would take a core from one with work, so then nobody spins.
     */
    private static final long SPIN_NANOS = THREADS <= Runtime.getRuntime().availableProcessors() ? 200_000 : 0;

    /**
     * {@code THREADS − 1} threads that take the chunks of a loop whose caller is outside the pool (the usual case:
     * every kernel called by the program's own thread). One loop at a time: a loop started while one runs (from inside
     * a loop body, or a second caller) goes to the pool instead. Between loops a team thread spins for
     * {@link #SPIN_NANOS}, then parks until the next loop unparks it.
     */
    private static final class Team {
        private final Thread[] threads;
        private final AtomicBoolean busy = new AtomicBoolean();
        private volatile Claims job;
        private volatile long jobs; // loops started, so a thread knows a loop it has not seen yet
        private final AtomicIntegerArray sleeping;

        Team(int size) {
            threads = new Thread[size];
            sleeping = new AtomicIntegerArray(size);
            for (int i = 0; i < size; i++) {
                int index = i;
                threads[i] = Thread.ofPlatform().daemon().name("stiefel-team-" + (i + 1)).unstarted(() -> work(index));
                threads[i].start();
            }
        }

        /** Runs the loop with the team, or returns false at once when the team is running another loop. */
        boolean tryRun(int n, int chunks, RangeBody body) {
            if (!busy.compareAndSet(false, true)) return false;
            Claims claims = new Claims(n, chunks, body);
            try {
                job = claims;
                jobs++; // only the holder of busy writes it
                for (int i = 0; i < threads.length; i++) if (sleeping.get(i) == 1) LockSupport.unpark(threads[i]);
                claims.runAll();
                claims.awaitAll();
            } finally {
                job = null; // the body and what it holds become garbage once the loop is done
                busy.set(false);
            }
            claims.rethrow();
            return true;
        }

        private void work(int index) {
            long seen = 0;
            while (true) {
                long until = System.nanoTime() + SPIN_NANOS;
                while (jobs == seen) {
                    if (System.nanoTime() - until > 0) {
                        sleeping.set(index, 1); // then jobs is read again: a new loop sees the sleeper, or this sees the loop
                        while (jobs == seen) LockSupport.park(this);
                        sleeping.set(index, 0);
                        break;
                    }
                    Thread.onSpinWait();
                }
                seen = jobs;
                takeChunks();
            }
        }

        /**
         * The current loop's chunks, if any are left (the loop is null when it ended before this thread came). A method
         * of its own, so that no frame of this thread holds the loop, and what its body refers to, once it returns.
         */
        private void takeChunks() {
            Claims claims = job;
            if (claims != null) claims.runAll();
        }
    }

    private static final Team TEAM = THREADS > 1 ? new Team(THREADS - 1) : null;

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
