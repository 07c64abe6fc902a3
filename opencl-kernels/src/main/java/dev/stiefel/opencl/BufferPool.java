package dev.stiefel.opencl;

import org.jocl.CL;
import org.jocl.cl_context;
import org.jocl.cl_mem;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Device buffers by size class, reused instead of allocated per op: an op's result takes a free buffer of its
 * class, and a released tensor puts its buffer back. Classes are powers of two up to 64 MiB (at most 2× the bytes
 * asked for) and whole MiB above (weights, allocated once). Idle buffers beyond {@code maxIdleBytes} go back to the
 * driver. Buffers come back deterministically when a {@link OpenClBackend.Scope} closes, or when a device tensor
 * is collected (its {@link java.lang.ref.Cleaner} action), whichever comes first; never twice.
 */
final class BufferPool {
    /** One device allocation; {@link #release()} returns it to the pool once, whoever calls first. */
    static final class Handle implements Runnable {
        private final BufferPool pool;
        private final long bytes;
        private cl_mem mem;

        private Handle(BufferPool pool, cl_mem mem, long bytes) {
            this.pool = pool;
            this.mem = mem;
            this.bytes = bytes;
        }

        cl_mem mem() {
            cl_mem m = mem;
            if (m == null) throw new IllegalStateException("opencl: this device tensor's buffer was released (its scope closed); keep() it to use it after the scope");
            return m;
        }

        long bytes() { return bytes; }

        boolean released() { return mem == null; }

        void release() {
            cl_mem m;
            synchronized (pool) {
                m = mem;
                mem = null;
            }
            if (m != null) pool.giveBack(m, bytes);
        }

        @Override public void run() { release(); } // the Cleaner's action
    }

    private final cl_context context;
    private final long maxIdleBytes;
    private final Map<Long, ArrayDeque<cl_mem>> idle = new HashMap<>();
    private long liveBuffers, liveBytes, idleBytes, allocations, collections;
    /**
     * Device bytes the pool lets tensors hold before it asks the JVM to collect unreachable ones: the Java heap does not
     * feel device memory, so without this a loop of ops with no scope could fill the device long before a GC runs.
     */
    private long budget;
    /** Live bytes above which the next acquire collects: the budget, or more when live tensors alone exceed it. */
    private long collectAbove;

    BufferPool(cl_context context, long maxIdleBytes, long budget) {
        this.context = context;
        this.maxIdleBytes = maxIdleBytes;
        budget(budget);
    }

    synchronized void budget(long bytes) { budget = collectAbove = bytes; }

    static long sizeClass(long bytes) {
        long b = Math.max(bytes, 256);
        if (b <= 64L << 20) return Long.highestOneBit(b - 1) << 1;
        return (b + (1 << 20) - 1) & ~((1L << 20) - 1);
    }

    /**
     * A buffer of at least {@code bytes}. Past the budget, idle buffers go back to the driver first; if tensors alone
     * hold more than the budget, a GC runs and the Cleaner gets a moment to return what is unreachable (without the pool's
     * lock, which the Cleaner needs). If that does not free enough, the allocation goes ahead and the driver decides.
     */
    Handle acquire(long bytes) {
        long cls = sizeClass(bytes);
        synchronized (this) {
            if (liveBytes + cls <= collectAbove) return take(cls);
            trim();
            collections++;
        }
        System.gc();
        for (int i = 0; i < 100 && overBudget(cls); i++) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        synchronized (this) {
            // still over after collecting: what is live is in use; collect again only after another tenth of the budget
            collectAbove = Math.max(budget, liveBytes + budget / 10);
            return take(cls);
        }
    }

    private synchronized boolean overBudget(long cls) { return liveBytes + cls > budget; }

    private Handle take(long cls) {
        ArrayDeque<cl_mem> q = idle.get(cls);
        cl_mem m = q == null ? null : q.pollFirst();
        if (m != null) {
            idleBytes -= cls;
        } else {
            if (liveBytes + idleBytes + cls > budget) trim(); // idle buffers of other classes count on the device too
            m = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, cls, null, null);
            allocations++;
        }
        liveBuffers++;
        liveBytes += cls;
        return new Handle(this, m, cls);
    }

    private synchronized void giveBack(cl_mem m, long cls) {
        liveBuffers--;
        liveBytes -= cls;
        if (liveBytes < budget) collectAbove = budget;
        if (idleBytes + cls > maxIdleBytes) {
            CL.clReleaseMemObject(m);
            return;
        }
        idle.computeIfAbsent(cls, k -> new ArrayDeque<>()).addFirst(m);
        idleBytes += cls;
    }

    /** Returns every idle buffer to the driver. */
    synchronized void trim() {
        for (ArrayDeque<cl_mem> q : idle.values()) for (cl_mem m : q) CL.clReleaseMemObject(m);
        idle.clear();
        idleBytes = 0;
    }

    /** Buffers held by tensors, their bytes, idle buffers' bytes, driver allocations and budget collections so far. */
    record Stats(long liveBuffers, long liveBytes, long idleBytes, long allocations, long collections) {}

    synchronized Stats stats() { return new Stats(liveBuffers, liveBytes, idleBytes, allocations, collections); }
}
