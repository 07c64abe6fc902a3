package dev.stiefel.opencl;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.IntStorage;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.ReduceOp;
import dev.stiefel.tensor.backend.UnaryOp;
import dev.stiefel.tensor.cpu.CpuBackend;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_program;
import org.jocl.cl_queue_properties;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The tensor ops on one OpenCL device. Every result is a device tensor ({@link ClStorage}, f32 or i32, contiguous),
 * and ops read device tensors where they are, so a chain of ops moves nothing between host and device. A host
 * tensor given to an op is uploaded for that op (counted; {@link #resident} uploads once for good, which is what a
 * model's weights want); Java code reading a device tensor downloads it (counted). Index-select and gather of a host
 * tensor stay on the host (an embedding table is not uploaded to pick a few rows).
 *
 * <p>Buffers come from a {@link BufferPool}. A {@link Scope} returns every buffer allocated on its thread while it
 * was open when it closes, except the tensors it was told to {@link Scope#keep}; buffers of tensors made outside a
 * scope go back when the tensor is collected.
 *
 * <p>The kernels are the {@code .cl} resources of {@code dev/stiefel/opencl/kernels}, compiled once as one program.
 * Op codes are passed as {@code -D} options generated from the Java enums, so the two cannot drift apart.
 */
public final class OpenClBackend implements Backend {
    public static final String NAME = "opencl";
    private static final String[] SOURCES = {"common.cl", "elementwise.cl", "reduce.cl", "rows.cl", "rope.cl", "index.cl", "matmul.cl", "hadamard.cl", "packed.cl", "quant.cl"};
    /** Work-group size of the row kernels: WG in common.cl. */
    private static final int WG = 64;
    /** sgemm tile (TS) and register block (WPT): its work-group is (TS/WPT)². */
    private final int tile, perItem;

    private final Devices.Device device;
    private final cl_context context;
    private final cl_command_queue queue;
    private final cl_program program;
    private final Map<String, cl_kernel> kernels = new HashMap<>();
    private final BufferPool pool;
    /** Device bytes tensors may hold before unreachable ones are collected ({@code -Dstiefel.opencl.memory}, MiB). */
    final long memoryBudget;
    private final Cleaner cleaner = Cleaner.create();
    private final AtomicLong uploads = new AtomicLong(), uploadBytes = new AtomicLong(), downloads = new AtomicLong(), downloadBytes = new AtomicLong();
    private final ThreadLocal<ArrayDeque<Scope>> scopes = ThreadLocal.withInitial(ArrayDeque::new);

    private static volatile Optional<OpenClBackend> shared;
    private static volatile String unavailable;

    private OpenClBackend(Devices.Device device) {
        this(device, Integer.getInteger("stiefel.opencl.sgemm.tile", 64), Integer.getInteger("stiefel.opencl.sgemm.wpt", 4));
    }

    private OpenClBackend(Devices.Device device, int tile, int perItem) {
        int rts = perItem > 0 ? tile / perItem : 0;
        if (perItem < 1 || tile % perItem != 0 || rts < 1 || tile * 16 % (rts * rts) != 0)
            throw new IllegalArgumentException("opencl: sgemm tile " + tile + " with " + perItem + "x" + perItem + " per item: the tile must be a"
                    + " multiple of the block and its 16-deep slices must split evenly over (tile/block)^2 items"
                    + " (-Dstiefel.opencl.sgemm.tile, -Dstiefel.opencl.sgemm.wpt; e.g. 64 and 4, 128 and 8)");
        this.device = device;
        this.tile = tile;
        this.perItem = perItem;
        CL.setExceptionsEnabled(true);
        cl_context_properties props = new cl_context_properties();
        props.addProperty(CL.CL_CONTEXT_PLATFORM, device.platformId());
        context = CL.clCreateContext(props, 1, new org.jocl.cl_device_id[]{device.id()}, null, null, null);
        queue = CL.clCreateCommandQueueWithProperties(context, device.id(), new cl_queue_properties(), null);
        program = build();
        memoryBudget = Long.getLong("stiefel.opencl.memory", device.globalMemory() * 8 / 10 >> 20) << 20; // MiB; default 80% of the device
        pool = new BufferPool(context, Math.max(64L << 20, device.globalMemory() / 4), memoryBudget);
    }

    /**
     * The backend on the device the system properties choose ({@code stiefel.opencl.platform}, {@code
     * stiefel.opencl.device}), made once per process; empty when the machine has no OpenCL platform or device
     * ({@link #unavailableReason()} says why).
     */
    public static Optional<OpenClBackend> shared() {
        Optional<OpenClBackend> s = shared;
        if (s == null) {
            synchronized (OpenClBackend.class) {
                if (shared == null) {
                    try {
                        List<Devices.Device> all = Devices.all();
                        if (all.isEmpty()) {
                            unavailable = "no OpenCL platform with a device is installed (Debian: apt-get install pocl-opencl-icd ocl-icd-opencl-dev)";
                            shared = Optional.empty();
                        } else {
                            shared = Optional.of(new OpenClBackend(Devices.choose(all, System.getProperty("stiefel.opencl.platform"),
                                    System.getProperty("stiefel.opencl.device"))));
                        }
                    } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
                        unavailable = "the OpenCL library could not be loaded (" + e.getMessage() + "); JOCL needs libOpenCL.so "
                                + "(Debian: apt-get install ocl-icd-opencl-dev) and a driver";
                        shared = Optional.empty();
                    }
                }
                s = shared;
            }
        }
        return s;
    }

    /**
     * A second backend on {@link #shared()}'s device whose sgemm has this tile and register block (what the
     * {@code stiefel.opencl.sgemm.*} properties choose for the shared one): tests check every tiling the H200 script
     * times. Empty without a device.
     */
    static Optional<OpenClBackend> withTiling(int tile, int perItem) {
        return shared().map(s -> new OpenClBackend(s.device, tile, perItem));
    }

    /** Why {@link #shared()} is empty, or null. */
    public static String unavailableReason() { return unavailable; }

    @Override public String name() { return NAME; }

    /** The device this backend runs on, in words. */
    public String device() { return device.describe(); }

    /** Transfers so far. */
    public Transfers transfers() { return new Transfers(uploads.get(), uploadBytes.get(), downloads.get(), downloadBytes.get()); }

    /**
     * Kernels enqueued so far, by name (a snapshot, sorted by name). On a GPU each launch costs a few microseconds of
     * driver time however little it computes, so the count says what a computation pays beside its arithmetic.
     */
    public synchronized SortedMap<String, Long> launches() { return new TreeMap<>(launched); }

    /** Device buffers held by live tensors. */
    public long liveBuffers() { return pool.stats().liveBuffers(); }

    BufferPool.Stats bufferStats() { return pool.stats(); }

    BufferPool pool() { return pool; }

    /** Blocks until every enqueued kernel has finished (for timing). */
    public void finish() { CL.clFinish(queue); }

    // ------------------------------------------------------------ program

    private cl_program build() {
        StringBuilder src = new StringBuilder();
        for (String name : SOURCES) {
            try (InputStream in = OpenClBackend.class.getResourceAsStream("kernels/" + name)) {
                if (in == null) throw new IllegalStateException("opencl: kernel source kernels/" + name + " is missing from the jar");
                src.append("// ---- ").append(name).append('\n').append(new String(in.readAllBytes(), StandardCharsets.UTF_8)).append('\n');
            } catch (IOException e) {
                throw new IllegalStateException("opencl: reading kernel source " + name, e);
            }
        }
        StringBuilder opts = new StringBuilder();
        for (UnaryOp op : UnaryOp.values()) opts.append(" -DU_").append(op.name()).append('=').append(op.ordinal());
        for (BinaryOp op : BinaryOp.values()) opts.append(" -DB_").append(op.name()).append('=').append(op.ordinal());
        for (ReduceOp op : ReduceOp.values()) opts.append(" -DR_").append(op.name()).append('=').append(op.ordinal());
        opts.append(" -DTS=").append(tile).append(" -DWPT=").append(perItem);
        long fp = Devices.deviceLong(device.id(), CL.CL_DEVICE_SINGLE_FP_CONFIG);
        if ((fp & CL.CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0) opts.append(" -cl-fp32-correctly-rounded-divide-sqrt");
        cl_program p = CL.clCreateProgramWithSource(context, 1, new String[]{src.toString()}, null, null);
        try {
            CL.clBuildProgram(p, 1, new org.jocl.cl_device_id[]{device.id()}, opts.toString().trim(), null, null);
        } catch (org.jocl.CLException e) {
            long[] size = new long[1];
            CL.clGetProgramBuildInfo(p, device.id(), CL.CL_PROGRAM_BUILD_LOG, 0, null, size);
            byte[] log = new byte[(int) size[0]];
            CL.clGetProgramBuildInfo(p, device.id(), CL.CL_PROGRAM_BUILD_LOG, log.length, Pointer.to(log), null);
            throw new IllegalStateException("opencl: the kernels do not build on " + device.describe() + ":\n" + new String(log, StandardCharsets.UTF_8), e);
        }
        return p;
    }

    /** Launches by kernel name, guarded by this backend's lock (see {@link #launch}). */
    private final Map<String, Long> launched = new HashMap<>();

    private cl_kernel kernel(String name) {
        return kernels.computeIfAbsent(name, n -> CL.clCreateKernel(program, n, null));
    }

    /**
     * Enqueues kernel {@code name} over {@code global} work-items (rounded up to whole work-groups of {@code local};
     * local null lets the driver choose). Arguments: a device tensor (its buffer), Integer, Float, or an int[] of 4 or
     * 8 (an int4 / int8), or a buffer's handle. Setting a shared kernel's arguments and enqueueing it happen under one lock.
     */
    private synchronized void launch(String name, long[] global, long[] local, Object... args) {
        cl_kernel k = kernel(name);
        launched.merge(name, 1L, Long::sum);
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            switch (a) {
                case Tensor t -> CL.clSetKernelArg(k, i, Sizeof.cl_mem, Pointer.to(mem(t)));
                case BufferPool.Handle h -> CL.clSetKernelArg(k, i, Sizeof.cl_mem, Pointer.to(h.mem()));
                case Integer v -> CL.clSetKernelArg(k, i, Sizeof.cl_int, Pointer.to(new int[]{v}));
                case Float v -> CL.clSetKernelArg(k, i, Sizeof.cl_float, Pointer.to(new float[]{v}));
                case Double v -> CL.clSetKernelArg(k, i, Sizeof.cl_double, Pointer.to(new double[]{v}));
                case int[] v -> CL.clSetKernelArg(k, i, (long) Sizeof.cl_int * v.length, Pointer.to(v));
                default -> throw new IllegalArgumentException("opencl: kernel argument of type " + a.getClass());
            }
        }
        long[] g = global.clone();
        if (local != null) for (int d = 0; d < g.length; d++) g[d] = (g[d] + local[d] - 1) / local[d] * local[d];
        CL.clEnqueueNDRangeKernel(queue, k, g.length, null, g, local, 0, null, null);
    }

    /** One work-item per element, in groups of WG. */
    private void launch1(String name, long n, Object... args) { launch(name, new long[]{n}, new long[]{WG}, args); }

    /** One work-group of WG items per row. */
    private void launchRows(String name, long rows, Object... args) { launch(name, new long[]{rows * WG}, new long[]{WG}, args); }

    // ------------------------------------------------------------ memory and transfers

    /** A region whose device buffers go back to the pool when it closes; see the class comment. */
    public final class Scope implements AutoCloseable {
        private final List<BufferPool.Handle> handles = new ArrayList<>();
        private boolean closed;

        /** Keeps {@code t}'s buffer alive past this scope (it moves to the enclosing scope, if any); returns t. */
        public Tensor keep(Tensor t) {
            if (t != null && t.storage() instanceof ClStorage s && handles.remove(s.buffer())) {
                ArrayDeque<Scope> stack = scopes.get();
                Iterator<Scope> it = stack.iterator();
                while (it.hasNext()) if (it.next() == this && it.hasNext()) { it.next().handles.add(s.buffer()); break; }
            }
            return t;
        }

        @Override public void close() {
            if (closed) return;
            closed = true;
            scopes.get().remove(this);
            for (BufferPool.Handle h : handles) h.release();
            handles.clear();
        }
    }

    /** Opens a scope on this thread (close it with try-with-resources). */
    public Scope scope() {
        Scope s = new Scope();
        scopes.get().push(s);
        return s;
    }

    private ClStorage allocate(DType dtype, long elements) {
        BufferPool.Handle h = pool.acquire(Math.max(1, elements) * 4);
        ClStorage s = new ClStorage(this, h, dtype, elements);
        cleaner.register(s, h);
        Scope scope = scopes.get().peek();
        if (scope != null) scope.handles.add(h);
        return s;
    }

    private Tensor newTensor(DType dtype, int... shape) { return Tensor.of(allocate(dtype, Shape.numel(shape)), shape); }

    private static cl_mem mem(Tensor t) { return ((ClStorage) t.storage()).buffer().mem(); }

    private boolean isMine(Tensor t) { return t.storage() instanceof ClStorage s && s.backend() == this; }

    /** A packed weight resident on this device (a packed embedding table is widened here, not downloaded, to pick rows). */
    private boolean isPackedHere(Tensor t) { return t.storage() instanceof ClPackedStorage p && p.backend() == this; }

    /**
     * t itself when it is already on this device (any view), a packed weight resident here widened to f32 on the device,
     * else an upload of its elements (f32, or i32 for i32).
     */
    private Tensor onDevice(Tensor t) {
        if (isMine(t)) return t;
        if (isPackedHere(t)) return widened(t);
        if (t.isOnDevice()) t = t.toHost(); // another backend's device tensor
        int n = t.numel();
        if (t.dtype() == DType.I32) {
            int[] d = t.toIntArray();
            ClStorage s = allocate(DType.I32, n);
            write(s, 0, Pointer.to(d), n);
            return Tensor.of(s, t.shape());
        }
        float[] d = t.toFloatArray();
        ClStorage s = allocate(DType.F32, n);
        write(s, 0, Pointer.to(d), n);
        return Tensor.of(s, t.shape());
    }

    /**
     * An operand of an element-wise op on this device: {@link #onDevice}, except that a host tensor holding one value
     * everywhere (a scalar such as x.ge(0.5f)'s, or one broadcast by expand, as the gradient of a sum arrives) is a
     * cached device scalar, expanded: no upload, where onDevice would upload every element of the broadcast. Each
     * upload is a blocking write, which on a GPU waits for every kernel queued before it, and the backward pass of a
     * clamp alone compares with two scalars. Only ops that never write their operands may take a cached scalar.
     */
    private Tensor operand(Tensor t) {
        if (t.dtype() != DType.F32 || t.isOnDevice() || t.numel() == 0 || !oneValue(t)) return onDevice(t);
        int bits = Float.floatToRawIntBits(t.get(new int[t.dim()]));
        Tensor cached;
        synchronized (scalars) {
            cached = scalars.get(bits);
            if (cached == null) {
                cached = outsideScopes(() -> onDevice(Tensor.scalar(Float.intBitsToFloat(bits))));
                scalars.put(bits, cached);
            }
        }
        int[] ones = new int[t.dim()];
        Arrays.fill(ones, 1);
        return cached.reshape(ones).expand(t.shape());
    }

    /** Whether every element of t is the same stored one (stride 0, or size 1, along every axis). */
    private static boolean oneValue(Tensor t) {
        int[] shape = t.shape(), strides = t.strides();
        for (int d = 0; d < shape.length; d++) if (shape[d] != 1 && strides[d] != 0) return false;
        return true;
    }

    /**
     * Host scalars on the device, by their bits (see {@link #operand}): the {@link #MAX_SCALARS} used last (a value
     * computed from data must not crowd out the constants). An evicted scalar's buffer returns to the pool when the
     * last view of it is collected.
     */
    private final Map<Integer, Tensor> scalars = new LinkedHashMap<>(16, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<Integer, Tensor> eldest) { return size() > MAX_SCALARS; }
    };
    private static final int MAX_SCALARS = 256;

    @Override public Tensor empty(DType dtype, int... shape) {
        return dtype == DType.F32 || dtype == DType.I32 ? newTensor(dtype, shape) : Tensor.empty(dtype, shape);
    }

    /**
     * {@code make}'s result with this thread's scopes set aside, so that what it allocates outlives them: the entries
     * of the backend's caches (RoPE tables, scalars, causal masks), which a scope closing must not give back.
     */
    private <T> T outsideScopes(java.util.function.Supplier<T> make) {
        ArrayDeque<Scope> stack = scopes.get();
        List<Scope> saved = new ArrayList<>(stack);
        stack.clear();
        try {
            return make.get();
        } finally {
            stack.addAll(saved);
        }
    }

    /** t on this device, contiguous. */
    private Tensor contiguousOnDevice(Tensor t) {
        Tensor d = onDevice(t);
        return d.isContiguous() ? d : contiguousCopy(d);
    }

    private void write(ClStorage s, long at, Pointer from, long elements) {
        if (elements == 0) return;
        CL.clEnqueueWriteBuffer(queue, s.buffer().mem(), CL.CL_TRUE, at * 4, elements * 4, from, 0, null, null);
        uploads.incrementAndGet();
        uploadBytes.addAndGet(elements * 4);
    }

    private void read(ClStorage s, long at, Pointer to, long elements) {
        if (elements == 0) return;
        CL.clEnqueueReadBuffer(queue, s.buffer().mem(), CL.CL_TRUE, at * 4, elements * 4, to, 0, null, null);
        downloads.incrementAndGet();
        downloadBytes.addAndGet(elements * 4);
    }

    /**
     * A packed weight (a whole {@link PackedStorage} matrix) stays packed: its codes, scales and zero points are uploaded
     * as they are (three counted transfers) and the products read them there; one already resident here is itself.
     * Anything else: {@link #onDevice}.
     */
    @Override public Tensor resident(Tensor t) {
        if (isPackedHere(t)) return t;
        if (t.storage() instanceof PackedStorage ps && t.offset() == 0 && t.dim() == 2 && t.isContiguous()
                && t.size(0) == ps.matrix().rows() && t.size(1) == ps.matrix().cols()) return Tensor.of(upload(ps.matrix()), t.shape());
        return onDevice(t);
    }

    private ClPackedStorage upload(PackedMatrix w) {
        long codeBytes = (long) w.rows() * w.rowBytes();
        BufferPool.Handle codes = pool.acquire(codeBytes), scales = pool.acquire(4L * w.scales().length);
        BufferPool.Handle zeros = w.symmetric() ? null : pool.acquire(w.zeros().length);
        ClPackedStorage s = new ClPackedStorage(this, w, codes, scales, zeros);
        cleaner.register(s, releaser(codes, scales, zeros));
        Scope scope = scopes.get().peek();
        if (scope != null) {
            scope.handles.add(codes);
            scope.handles.add(scales);
            if (zeros != null) scope.handles.add(zeros);
        }
        MemorySegment c = w.codes().asSlice(0, codeBytes);
        writeBytes(codes, c.isNative() ? Pointer.to(c.asByteBuffer()) : Pointer.to(c.toArray(ValueLayout.JAVA_BYTE)), codeBytes);
        writeBytes(scales, Pointer.to(w.scales()), 4L * w.scales().length);
        if (zeros != null) writeBytes(zeros, Pointer.to(w.zeros()), w.zeros().length);
        return s;
    }

    /** The Cleaner's action for a packed weight's buffers: it must not hold the storage itself. */
    private static Runnable releaser(BufferPool.Handle... handles) {
        return () -> { for (BufferPool.Handle h : handles) if (h != null) h.release(); };
    }

    private void writeBytes(BufferPool.Handle h, Pointer from, long bytes) {
        if (bytes == 0) return;
        CL.clEnqueueWriteBuffer(queue, h.mem(), CL.CL_TRUE, 0, bytes, from, 0, null, null);
        uploads.incrementAndGet();
        uploadBytes.addAndGet(bytes);
    }

    /** A view of a packed weight resident here as the same view of its f32 values, widened on the device (packed_dequant). */
    Tensor widened(Tensor view) {
        ClPackedStorage p = (ClPackedStorage) view.storage();
        Tensor wide = newTensor(DType.F32, p.rows(), p.cols());
        int n = wide.numel();
        if (n > 0) launch1("packed_dequant", n, p.codes(), p.scales(), p.zeros(), p.layout(), wide, n);
        return Tensor.view(wide.storage(), view.offset(), view.shape(), view.strides());
    }

    /** A packed view's values on the heap: widened, downloaded, and the widened temporary given back at once. */
    Tensor widenedToHost(Tensor view) {
        Tensor wide = widened(view);
        try {
            return toHost(wide);
        } finally {
            release(wide);
        }
    }

    /** A packed view's values as a contiguous device tensor: the widened matrix itself when the view is all of it. */
    Tensor widenedContiguous(Tensor view) {
        Tensor wide = widened(view);
        if (wide.isContiguous() && wide.offset() == 0 && wide.numel() == wide.storage().size()) return wide;
        Tensor c = contiguousCopy(wide);
        release(wide);
        return c;
    }

    /** A device view's elements as a contiguous heap tensor: one download. */
    Tensor toHost(Tensor view) {
        Tensor c = view.isContiguous() ? view : contiguousCopy(view);
        ClStorage s = (ClStorage) c.storage();
        int n = c.numel();
        if (c.dtype() == DType.I32) {
            int[] d = new int[n];
            read(s, c.offset(), Pointer.to(d), n);
            return Tensor.of(new IntStorage(d), c.shape());
        }
        float[] d = new float[n];
        read(s, c.offset(), Pointer.to(d), n);
        return Tensor.wrap(d, c.shape());
    }

    /** Every element of a storage as floats (i32 converted): one download. */
    float[] readAll(ClStorage s) {
        int n = (int) s.size();
        if (s.dtype() == DType.I32) {
            int[] v = new int[n];
            read(s, 0, Pointer.to(v), n);
            float[] f = new float[n];
            for (int i = 0; i < n; i++) f[i] = v[i];
            return f;
        }
        float[] v = new float[n];
        read(s, 0, Pointer.to(v), n);
        return v;
    }

    void writeElement(ClStorage s, long i, float value) {
        if (s.dtype() == DType.I32) write(s, i, Pointer.to(new int[]{(int) value}), 1);
        else write(s, i, Pointer.to(new float[]{value}), 1);
    }

    /** A contiguous copy of a device view, on the device. */
    Tensor contiguousCopy(Tensor view) {
        Tensor out = newTensor(view.dtype(), view.shape());
        copyOnDevice(view, out);
        return out;
    }

    private void copyOnDevice(Tensor src, Tensor dst) {
        int n = src.numel();
        if (n == 0) return;
        ((ClStorage) dst.storage()).invalidateMirror();
        int[][] c = Views.collapse(src.shape(), src.strides(), dst.strides());
        launch1("copy_strided", n, src, src.offset(), c[0], c[1], dst, dst.offset(), c[2], n);
    }

    @Override public void copy(Tensor src, Tensor dst) {
        if (!dst.isOnDevice()) {
            CpuBackend.INSTANCE.copy(src.isOnDevice() ? src.toHost() : src, dst);
            return;
        }
        if (!isMine(dst)) throw new IllegalArgumentException("copy: destination " + Shape.str(dst.shape()) + " is another backend's device tensor");
        if (!src.isOnDevice() && src.dtype() != dst.dtype()) src = src.to(dst.dtype());
        Tensor s = onDevice(src);
        if (s.dtype() != dst.dtype())
            throw new IllegalArgumentException("copy: " + s.dtype().lower() + " into " + dst.dtype().lower() + " on the device; convert on the host");
        copyOnDevice(s, dst);
    }

    // ------------------------------------------------------------ element-wise

    @Override public Tensor unary(UnaryOp op, Tensor x, float p0, float p1) {
        Tensor in = onDevice(x), out = newTensor(DType.F32, x.shape());
        int n = out.numel();
        if (n == 0) return out;
        int[][] c = Views.collapse(x.shape(), in.strides());
        launch1("unary_op", n, op.ordinal(), p0, p1, in, in.offset(), c[0], c[1], out, n);
        return out;
    }

    @Override public Tensor binary(BinaryOp op, Tensor a, Tensor b, int[] outShape) {
        Tensor ea = operand(a).expand(outShape), eb = operand(b).expand(outShape), out = newTensor(DType.F32, outShape);
        int n = out.numel();
        if (n == 0) return out;
        int[][] c = Views.collapse(outShape, ea.strides(), eb.strides());
        launch1("binary_op", n, op.ordinal(), ea, ea.offset(), c[1], eb, eb.offset(), c[2], c[0], out, n);
        return out;
    }

    @Override public Tensor swiglu(Tensor gate, Tensor up) {
        Tensor a = contiguousOnDevice(gate), u = contiguousOnDevice(up), out = newTensor(DType.F32, gate.shape());
        int n = out.numel();
        if (n > 0) launch1("swiglu", n, a, a.offset(), u, u.offset(), out, n);
        return out;
    }

    @Override public Tensor[] swigluBackward(Tensor gate, Tensor up, Tensor gradOut) {
        Tensor a = contiguousOnDevice(gate), g = contiguousOnDevice(gradOut), u = up == null ? null : contiguousOnDevice(up);
        Tensor dGate = newTensor(DType.F32, gate.shape()), dUp = up == null ? null : newTensor(DType.F32, gate.shape());
        int n = dGate.numel();
        if (n > 0)
            launch1("swiglu_backward", n, a, a.offset(), u == null ? a : u, u == null ? 0 : u.offset(), u == null ? 0 : 1,
                    g, g.offset(), dGate, dUp == null ? dGate : dUp, n);
        return new Tensor[]{dGate, dUp};
    }

    // ------------------------------------------------------------ reductions and rows

    @Override public Tensor reduce(ReduceOp op, Tensor x, int axis, boolean keepDim) {
        int[] shape = x.shape();
        int outer = Shape.prod(shape, 0, axis), r = shape[axis], inner = Shape.prod(shape, axis + 1, shape.length);
        int[] outShape = keepDim ? Shape.with(shape, axis, 1) : Shape.without(shape, axis);
        boolean arg = op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN;
        Tensor out = newTensor(arg ? DType.I32 : DType.F32, outShape);
        if (outer * inner == 0) return out;
        Tensor in = contiguousOnDevice(x);
        launchRows("reduce_axis", (long) outer * inner, op.ordinal(), in, in.offset(), r, inner, out, out);
        return out;
    }

    @Override public Tensor softmax(Tensor x, int axis, boolean log) {
        Tensor in = contiguousOnDevice(x), out = newTensor(DType.F32, x.shape());
        int[] s = x.shape();
        int n = s[axis], inner = Shape.prod(s, axis + 1, s.length), rows = Shape.prod(s, 0, axis) * inner;
        if (rows > 0 && n > 0) launchRows("softmax_rows", rows, in, in.offset(), n, inner, log ? 1 : 0, out);
        return out;
    }

    @Override public Tensor softmaxBackward(Tensor y, Tensor gradOut, int axis) {
        Tensor yc = contiguousOnDevice(y), gc = contiguousOnDevice(gradOut), out = newTensor(DType.F32, y.shape());
        int[] s = y.shape();
        int n = s[axis], inner = Shape.prod(s, axis + 1, s.length), rows = Shape.prod(s, 0, axis) * inner;
        if (rows > 0 && n > 0) launchRows("softmax_backward_rows", rows, yc, yc.offset(), gc, gc.offset(), n, inner, 1f, out);
        return out;
    }

    @Override public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        Tensor in = contiguousOnDevice(x), w = contiguousOnDevice(weight), out = newTensor(DType.F32, x.shape());
        int d = x.size(-1), rows = d == 0 ? 0 : x.numel() / d;
        if (rows > 0) launchRows("rmsnorm_rows", rows, in, in.offset(), w, w.offset(), d, eps, out);
        return out;
    }

    @Override public Tensor[] rmsNormBackward(Tensor x, Tensor weight, float eps, Tensor gradOut) {
        Tensor xc = contiguousOnDevice(x), w = contiguousOnDevice(weight), g = contiguousOnDevice(gradOut);
        int d = x.size(-1), rows = d == 0 ? 0 : x.numel() / d;
        Tensor dx = newTensor(DType.F32, x.shape()), dw = newTensor(DType.F32, d);
        if (rows == 0) {
            zero(dw);
            return new Tensor[]{dx, dw};
        }
        Tensor perRow = newTensor(DType.F32, rows, d);
        launchRows("rmsnorm_backward_rows", rows, xc, xc.offset(), w, w.offset(), g, g.offset(), d, eps, dx, perRow);
        launch1("column_sums", d, perRow, rows, d, dw);
        release(perRow);
        return new Tensor[]{dx, dw};
    }

    /** Gives a temporary's buffer back now (it is enqueued work's last use; the queue is in order). */
    private static void release(Tensor t) { ((ClStorage) t.storage()).buffer().release(); }

    // ------------------------------------------------------------ RoPE

    private record RopeKey(int[] positions, double[] invFreq) {
        boolean matches(int[] p, double[] f) { return Arrays.equals(p, positions) && Arrays.equals(f, invFreq); }
    }

    private record RopeTable(RopeKey key, Tensor cos, Tensor sin) {}

    /** The last few cos/sin tables on the device: a forward pass ropes q and k of every layer at the same positions. */
    private final ArrayDeque<RopeTable> ropeTables = new ArrayDeque<>();

    private synchronized RopeTable ropeTable(int[] positions, double[] invFreq) {
        for (RopeTable t : ropeTables) if (t.key().matches(positions, invFreq)) return t;
        int half = invFreq.length;
        float[] cos = new float[positions.length * half], sin = new float[positions.length * half];
        for (int i = 0; i < positions.length; i++)
            for (int f = 0; f < half; f++) { // angles in f64, rounded once: the CPU backend's tables
                double angle = positions[i] * invFreq[f];
                cos[i * half + f] = (float) Math.cos(angle);
                sin[i * half + f] = (float) Math.sin(angle);
            }
        RopeTable t = outsideScopes(() -> new RopeTable(new RopeKey(positions.clone(), invFreq.clone()),
                onDevice(Tensor.wrap(cos, cos.length)), onDevice(Tensor.wrap(sin, sin.length))));
        ropeTables.addFirst(t);
        while (ropeTables.size() > 4) {
            RopeTable old = ropeTables.removeLast();
            release(old.cos());
            release(old.sin());
        }
        return t;
    }

    /** The last few causal masks, by (queries, keys): every layer of a forward pass masks with the same one. */
    private final Map<Long, Tensor> masks = new LinkedHashMap<>(8, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<Long, Tensor> eldest) { return size() > 4; }
    };

    @Override public Tensor causalMask(int queries, int keys) {
        synchronized (masks) {
            return masks.computeIfAbsent((long) queries << 32 | keys, k -> outsideScopes(() -> onDevice(Tensor.causalMask(queries, keys))));
        }
    }

    @Override public Tensor rope(Tensor x, int[] positions, double[] invFreq, boolean interleaved) {
        int[] s = x.shape();
        int nd = s.length, t = s[nd - 3], h = s[nd - 2], d = s[nd - 1];
        Tensor in = contiguousOnDevice(x), out = newTensor(DType.F32, s);
        int pairs = x.numel() / 2;
        if (pairs == 0) return out;
        RopeTable tab = ropeTable(positions, invFreq);
        launch1("rope", pairs, in, in.offset(), d, h, t, tab.cos(), tab.sin(), interleaved ? 1 : 0, out, pairs);
        return out;
    }

    // ------------------------------------------------------------ matrix products

    @Override public Tensor matmul(Tensor a, Tensor b, int[] outShape) {
        int nd = outShape.length, m = outShape[nd - 2], n = outShape[nd - 1], k = a.size(-1);
        int[] batch = Arrays.copyOf(outShape, nd - 2);
        Tensor out = newTensor(DType.F32, outShape);
        if (m == 0 || n == 0) return out;
        if (packedWeight(a, b, n, k, out)) return out;
        Tensor ea = onDevice(a).expand(Shape.concat(batch, new int[]{m, k})), eb = onDevice(b).expand(Shape.concat(batch, new int[]{k, n}));
        int[] as = ea.strides(), bs = eb.strides();
        int[] cs = Shape.contiguousStrides(outShape);
        gemm(m, n, k, ea, ea.offset(), as[nd - 2], as[nd - 1], eb, eb.offset(), bs[nd - 2], bs[nd - 1], out, 0, n, 1f,
                batch, Arrays.copyOf(as, nd - 2), Arrays.copyOf(bs, nd - 2), Arrays.copyOf(cs, nd - 2));
        return out;
    }

    /**
     * C = alpha·A·B for every batch index; A [m, k] at (ars, acs), B [k, n] at (brs, bcs), C rows at crs (columns
     * contiguous), the batch dims' strides per operand. One vector (m or n = 1, one batch) goes to gemv.
     */
    private void gemm(int m, int n, int k, Tensor a, int ao, int ars, int acs, Tensor b, int bo, int brs, int bcs,
                      Tensor c, int co, int crs, float alpha, int[] batch, int[] abs, int[] bbs, int[] cbs) {
        int batches = Shape.prod(batch, 0, batch.length);
        if (batches == 0) return;
        if (batches == 1 && alpha == 1f && k > 0 && (m == 1 || n == 1)) { // one batch: every batch index is 0
            if (m == 1) launchRows("gemv", n, k, a, ao, acs, b, bo, bcs, brs, c, co, 1);
            else launchRows("gemv", m, k, b, bo, brs, a, ao, ars, acs, c, co, crs);
            return;
        }
        int[][] v = Views.collapse(batch, abs, bbs, cbs);
        int[][] v4 = Views.last4(v, "matmul batch dims " + Shape.str(batch));
        int rts = tile / perItem;
        launch("sgemm", new long[]{(long) (n + tile - 1) / tile * rts, (long) (m + tile - 1) / tile * rts, batches}, new long[]{rts, rts, 1},
                m, n, k, a, ao, ars, acs, b, bo, brs, bcs, c, co, crs, alpha, v4[0], v4[1], v4[2], v4[3]);
    }

    /** Most rows of x that go through packed_gemv (decode); more are a prompt, for sgemm on the widened weight. */
    static final int PACKED_GEMV_ROWS = 8;

    /**
     * x·Wᵀ with W a packed weight resident here (B = Wᵀ, the transposed view of the whole matrix, as a linear layer
     * multiplies it), every row of x (its batch dims included) against W: a few rows through packed_gemv on the codes,
     * more through sgemm on W widened into a temporary (given back at once). False when the operands are not of that
     * shape.
     */
    private boolean packedWeight(Tensor a, Tensor b, int n, int k, Tensor out) {
        if (!(b.storage() instanceof ClPackedStorage p) || p.backend() != this || b.dim() != 2 || b.offset() != 0
                || p.rows() != n || p.cols() != k || (b.strides()[0] != 1 && k > 1) || (b.strides()[1] != k && n > 1)
                || !Arrays.equals(Arrays.copyOf(a.shape(), a.dim() - 1), Arrays.copyOf(out.shape(), out.dim() - 1))) return false;
        Tensor x = contiguousOnDevice(a);
        int rows = k == 0 ? 0 : x.numel() / k;
        if (k == 0) {
            zero(out);
        } else if (rows <= PACKED_GEMV_ROWS) {
            launch("packed_gemv", new long[]{(long) n * WG, rows}, new long[]{WG, 1},
                    p.codes(), p.scales(), p.zeros(), p.layout(), x, x.offset(), k, 1, out, 0, n);
        } else {
            Tensor wide = widened(Tensor.of(p, n, k));
            gemm(rows, n, k, x, x.offset(), k, 1, wide, 0, 1, k, out, 0, n, 1f, new int[0], new int[0], new int[0], new int[0]);
            release(wide);
        }
        return true;
    }

    // ------------------------------------------------------------ attention

    @Override public Tensor[] attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        int nd = q.dim();
        int[] qs = q.shape(), lead = Arrays.copyOf(qs, nd - 3);
        int tq = qs[nd - 3], h = qs[nd - 2], d = qs[nd - 1], tk = k.size(-3), g = k.size(-2), dv = v.size(-1), rep = h / g;
        int b = Shape.prod(lead, 0, lead.length);
        Tensor qc = contiguousOnDevice(q), kc = contiguousOnDevice(k), vc = contiguousOnDevice(v);
        Tensor probs = newTensor(DType.F32, Shape.concat(lead, new int[]{h, tq, tk}));
        Tensor out = newTensor(DType.F32, Shape.concat(lead, new int[]{tq, h, dv}));
        if (b * h * tq == 0) return new Tensor[]{out, probs};
        int[] heads = {b, g, rep};
        // scores_h = Q_h·K_gᵀ [Tq, Tk]: query head (g, r) at column (g·rep + r)·D of q's token rows; K_g shared by the group
        gemm(tq, tk, d, qc, qc.offset(), h * d, 1, kc, kc.offset(), 1, g * d, probs, 0, tk, 1f,
                heads, new int[]{tq * h * d, rep * d, d}, new int[]{tk * g * d, d, 0}, new int[]{h * tq * tk, rep * tq * tk, tq * tk});
        Tensor mc = mask == null ? null : contiguousOnDevice(mask);
        launchRows("attention_softmax_rows", (long) b * h * tq, probs, tk, tq, mc == null ? probs : mc, mc == null ? 0 : mc.offset(),
                mc == null ? 0 : 1, scale);
        // O_h = P_h·V_g, written into the head's columns of the token-major output
        gemm(tq, dv, tk, probs, 0, tk, 1, vc, vc.offset(), g * dv, 1, out, 0, h * dv, 1f,
                heads, new int[]{h * tq * tk, rep * tq * tk, tq * tk}, new int[]{tk * g * dv, dv, 0}, new int[]{tq * h * dv, rep * dv, dv});
        return new Tensor[]{out, probs};
    }

    @Override public Tensor[] attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor gradOut, float scale) {
        int nd = q.dim();
        int[] qs = q.shape(), lead = Arrays.copyOf(qs, nd - 3);
        int tq = qs[nd - 3], h = qs[nd - 2], d = qs[nd - 1], tk = k.size(-3), g = k.size(-2), dv = v.size(-1), rep = h / g;
        int b = Shape.prod(lead, 0, lead.length);
        Tensor qc = contiguousOnDevice(q), kc = contiguousOnDevice(k), vc = contiguousOnDevice(v);
        Tensor p = contiguousOnDevice(probs), dO = contiguousOnDevice(gradOut);
        Tensor dq = newTensor(DType.F32, qs), dk = newTensor(DType.F32, k.shape()), dvOut = newTensor(DType.F32, v.shape());
        if (b * h == 0 || tq * tk == 0) {
            zero(dq);
            zero(dk);
            zero(dvOut);
            return new Tensor[]{dq, dk, dvOut};
        }
        int[] heads = {b, g, rep};
        int[] pStrides = {h * tq * tk, rep * tq * tk, tq * tk};
        int[] qStrides = {tq * h * d, rep * d, d}, oStrides = {tq * h * dv, rep * dv, dv};
        int[] kStrides = {tk * g * d, d, 0}, vStrides = {tk * g * dv, dv, 0};
        // dP_h = dO_h·V_gᵀ, then dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)) in place
        Tensor ds = newTensor(DType.F32, b, h, tq, tk);
        gemm(tq, tk, dv, dO, dO.offset(), h * dv, 1, vc, vc.offset(), 1, g * dv, ds, 0, tk, 1f, heads, oStrides, vStrides, pStrides);
        launchRows("softmax_backward_rows", (long) b * h * tq, p, p.offset(), ds, 0, tk, 1, scale, ds);
        // dQ_h = dS_h·K_g into the head's columns
        gemm(tq, d, tk, ds, 0, tk, 1, kc, kc.offset(), g * d, 1, dq, 0, h * d, 1f, heads, pStrides, kStrides, qStrides);
        // dK_g = Σ_r dS_hᵀ·Q_h and dV_g = Σ_r P_hᵀ·dO_h: per head first, then the group's heads summed in order
        Tensor perHead = newTensor(DType.F32, b, g, rep, tk, Math.max(d, dv));
        int[] kHead = {g * rep * tk * d, rep * tk * d, tk * d};
        gemm(tk, d, tq, ds, 0, 1, tk, qc, qc.offset(), h * d, 1, perHead, 0, d, 1f, heads, pStrides, qStrides, kHead);
        launch1("sum_head_groups", dk.numel(), perHead, rep, tk, g, d, dk, dk.numel());
        int[] vHead = {g * rep * tk * dv, rep * tk * dv, tk * dv};
        gemm(tk, dv, tq, p, p.offset(), 1, tk, dO, dO.offset(), h * dv, 1, perHead, 0, dv, 1f, heads, pStrides, oStrides, vHead);
        launch1("sum_head_groups", dvOut.numel(), perHead, rep, tk, g, dv, dvOut, dvOut.numel());
        release(perHead);
        release(ds);
        return new Tensor[]{dq, dk, dvOut};
    }

    /** Fills a fresh contiguous tensor with zeros. */
    private void zero(Tensor t) {
        int n = t.numel();
        if (n > 0) launch1("fill", n, t, 0f, n);
    }

    // ------------------------------------------------------------ fast Walsh–Hadamard transform

    @Override public Tensor fwht(Tensor x, int outer, int n, int inner, float scale) {
        Tensor in = contiguousOnDevice(x);
        if (n == 1) return unary(UnaryOp.MUL_SCALAR, in, scale, 0);
        Tensor out = newTensor(DType.F32, x.shape());
        int pairs = outer * inner * (n / 2);
        if (pairs == 0) return out;
        Tensor src = in;
        int so = in.offset();
        for (int h = 1; h < n; h *= 2) {
            launch1("fwht_stage", pairs, src, so, out, n, inner, h, 2 * h == n ? scale : 1f, pairs);
            src = out;
            so = 0;
        }
        return out;
    }

    // ------------------------------------------------------------ fake quantization (quant.cl)

    /** Whether {@link #fakeQuant} fuses these operands: x [n, m] floating point, s and z [n, 1]. */
    private static boolean rowQuantized(Tensor x, Tensor s, Tensor z) {
        if (x.dim() != 2 || !x.dtype().isFloating()) return false;
        int[] column = {x.size(0), 1};
        return Arrays.equals(s.shape(), column) && Arrays.equals(z.shape(), column) && s.dtype().isFloating() && z.dtype().isFloating();
    }

    @Override public Tensor fakeQuant(Tensor x, Tensor s, Tensor z, int qmin, int qmax) {
        if (!rowQuantized(x, s, z)) return null;
        Tensor xc = contiguousOnDevice(x), sc = contiguousOnDevice(s), zc = contiguousOnDevice(z), out = newTensor(DType.F32, x.shape());
        int n = out.numel();
        if (n > 0) launch1("fake_quant", n, xc, xc.offset(), sc, sc.offset(), zc, zc.offset(), x.size(1), (float) qmin, (float) qmax, out, n);
        return out;
    }

    @Override public Tensor[] fakeQuantBackward(Tensor x, Tensor s, Tensor z, int qmin, int qmax, Tensor gradOut) {
        if (!rowQuantized(x, s, z) || !Arrays.equals(gradOut.shape(), x.shape())) return null;
        Tensor xc = contiguousOnDevice(x), sc = contiguousOnDevice(s), zc = contiguousOnDevice(z), g = contiguousOnDevice(gradOut);
        Tensor dx = newTensor(DType.F32, x.shape()), ds = newTensor(DType.F32, s.shape()), dz = newTensor(DType.F32, z.shape());
        int rows = x.size(0), m = x.size(1);
        if (rows > 0) // an empty row still writes its sums (0)
            launchRows("fake_quant_backward", rows, xc, xc.offset(), sc, sc.offset(), zc, zc.offset(), g, g.offset(), m,
                    (float) qmin, (float) qmax, dx, ds, dz);
        return new Tensor[]{dx, ds, dz};
    }

    @Override public Tensor[] fakeQuantParams(Tensor max, Tensor min, double ratio, int qmax, boolean symmetric, float minScale) {
        if (!device.fp64()) return null; // range_params computes in f64, as the heap's rule does
        Tensor hi = contiguousOnDevice(max), lo = contiguousOnDevice(min);
        int n = max.numel();
        Tensor s = newTensor(DType.F32, n, 1), z = newTensor(DType.F32, n, 1);
        if (n > 0) launch1("range_params", n, hi, hi.offset(), lo, lo.offset(), n, ratio, qmax, symmetric ? 1 : 0, minScale, s, z);
        return new Tensor[]{s, z};
    }

    /** Work-groups of {@link #sumOfSquares}: enough to fill a GPU, few enough that their partials are one small read. */
    private static final int SQUARES_GROUPS = 256;

    @Override public java.util.OptionalDouble sumOfSquares(Tensor t) {
        if (!device.fp64() || !isMine(t)) return java.util.OptionalDouble.empty();
        Tensor x = contiguousOnDevice(t);
        int n = x.numel(), groups = Math.max(1, Math.min(SQUARES_GROUPS, (n + WG - 1) / WG));
        ClStorage partials = allocate(DType.F32, 2L * groups); // `groups` doubles
        launch1("sum_squares_f64", (long) groups * WG, x, x.offset(), n, partials.buffer());
        double[] p = new double[groups];
        read(partials, 0, Pointer.to(p), 2L * groups);
        partials.buffer().release();
        double sum = 0;
        for (double v : p) sum += v;
        return java.util.OptionalDouble.of(sum);
    }

    @Override public boolean adamStep(Tensor w, Tensor g, Tensor m, Tensor v, double beta1, double oneMinusBeta1, double beta2,
                                      double oneMinusBeta2, double c1, double c2, double eps, double lr, double weightDecay, boolean decoupled) {
        if (!device.fp64()) return false; // adam_step computes in f64, as the heap's loop does
        for (Tensor t : new Tensor[]{w, m, v})
            if (!isMine(t) || !t.isContiguous() || t.numel() != w.numel()) return false; // updated in place: whole device tensors
        Tensor gc = contiguousOnDevice(g);
        int n = w.numel();
        if (n > 0)
            launch1("adam_step", n, w, w.offset(), gc, gc.offset(), m, m.offset(), v, v.offset(), beta1, oneMinusBeta1, beta2, oneMinusBeta2,
                    c1, c2, eps, lr, weightDecay, decoupled ? 1 : 0, n);
        return true;
    }

    // ------------------------------------------------------------ indexing

    @Override public Tensor indexSelect(Tensor x, int axis, int[] indices) {
        if (!isMine(x) && !isPackedHere(x)) return CpuBackend.INSTANCE.indexSelect(x.toHost(), axis, indices);
        Tensor in = contiguousOnDevice(x);
        int[] s = x.shape();
        int outer = Shape.prod(s, 0, axis), len = s[axis], inner = Shape.prod(s, axis + 1, s.length);
        Tensor out = newTensor(x.dtype(), Shape.with(s, axis, indices.length));
        int n = out.numel();
        if (n == 0) return out;
        Tensor idx = onDevice(Tensor.ofInts(indices, indices.length));
        launch1("index_select", n, in, in.offset(), len, inner, idx, indices.length, out, n);
        release(idx);
        return out;
    }

    @Override public Tensor gather(Tensor x, int axis, Tensor index) {
        if (!isMine(x) && !isPackedHere(x)) return CpuBackend.INSTANCE.gather(x.toHost(), axis, index);
        Tensor in = contiguousOnDevice(x), idx = contiguousOnDevice(index);
        Tensor out = newTensor(x.dtype(), index.shape());
        int n = out.numel(), nd = x.dim();
        if (n == 0) return out;
        if (nd > 8) throw new UnsupportedOperationException("gather: the opencl backend takes up to 8 dims, got " + Shape.str(x.shape()));
        launch1("gather", n, in, in.offset(), Views.pad8(in.strides(), 0), idx, Views.pad8(index.shape(), 1), axis + 8 - nd, out, n);
        return out;
    }

    @Override public Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) {
        Tensor idx = contiguousOnDevice(index), in = contiguousOnDevice(src), out = newTensor(DType.F32, shape);
        int n = out.numel(), k = index.size(axis), inner = Shape.prod(shape, axis + 1, shape.length);
        if (n == 0) return out;
        if (k == 1) { // one element a line: each output element picks its value, one launch
            launch1("scatter_lines", n, idx, idx.offset(), in, in.offset(), shape[axis], inner, out, n);
            return out;
        }
        zero(out);
        int lines = n / shape[axis];
        if (k > 0) launch1("scatter_add_lines", lines, idx, idx.offset(), in, in.offset(), k, shape[axis], inner, out, lines);
        return out;
    }

    @Override public Tensor.TopK topk(Tensor x, int k) {
        Tensor in = contiguousOnDevice(x);
        int n = x.size(-1), rows = x.numel() / n;
        int[] outShape = Shape.with(x.shape(), x.dim() - 1, k);
        Tensor values = newTensor(DType.F32, outShape), indices = newTensor(DType.I32, outShape);
        if (rows > 0) launch1("topk_rows", rows, in, in.offset(), n, k, rows, values, indices);
        return new Tensor.TopK(values, indices);
    }
}
