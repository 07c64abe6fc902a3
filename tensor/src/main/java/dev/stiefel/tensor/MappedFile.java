package dev.stiefel.tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole file mapped read-only into memory, from which tensors are cut without copying. Closing it unmaps
 * the file; tensors cut from it must not be used afterwards (the segment access then fails with an
 * IllegalStateException rather than reading freed memory).
 */
public final class MappedFile implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;

    private MappedFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    public static MappedFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return new MappedFile(path, arena, ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * f32 tensors moved off the heap: their values are written to a new file in {@code dir}, which is mapped back
     * read-only and unlinked at once, so nothing is left on disk however the process ends (the pages stay reachable
     * through the mapping; the space returns when the tensors are collected). The mapping lives as long as any of the
     * returned tensors is reachable. Same shapes, values bit for bit; contiguous row-major results.
     */
    public static List<Tensor> spill(Path dir, List<Tensor> tensors) throws IOException {
        Path file = Files.createTempFile(dir, "stiefel-spill-", ".f32");
        long[] offsets = new long[tensors.size()];
        try {
            long at = 0;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                final int chunk = 1 << 18;   // floats per write
                ByteBuffer bytes = ByteBuffer.allocateDirect(chunk * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                FloatBuffer floats = bytes.asFloatBuffer();
                for (int i = 0; i < tensors.size(); i++) {
                    Tensor t = tensors.get(i);
                    if (t.dtype() != DType.F32) throw new IllegalArgumentException("spill: tensor " + i + " is " + t.dtype().lower() + ", not f32");
                    offsets[i] = at;
                    float[] values = t.contiguous().toFloatArray();
                    for (int off = 0; off < values.length; off += chunk) {
                        int len = Math.min(chunk, values.length - off);
                        floats.clear();
                        floats.put(values, off, len);
                        bytes.clear().limit(len * Float.BYTES);
                        while (bytes.hasRemaining()) ch.write(bytes);
                    }
                    at += (long) values.length * Float.BYTES;
                }
            }
            MemorySegment all;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                all = at == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, at, Arena.ofAuto());
            }
            List<Tensor> out = new ArrayList<>(tensors.size());
            for (int i = 0; i < tensors.size(); i++) {
                Tensor t = tensors.get(i);
                out.add(Tensor.of(new MappedStorage(all.asSlice(offsets[i], Shape.numel(t.shape()) * Float.BYTES), DType.F32), t.shape()));
            }
            return out;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    public Path path() { return path; }

    public long byteSize() { return segment.byteSize(); }

    public MemorySegment segment() { return segment; }

    /**
     * A tensor of {@code dtype} and {@code shape} whose data starts at {@code byteOffset}. A region past the end
     * of the file is reported with the file, the offset and the sizes involved.
     */
    public Tensor tensor(long byteOffset, DType dtype, int... shape) {
        long count = Shape.numel(shape);
        long bytes = count * dtype.bytes();
        if (byteOffset < 0 || byteOffset + bytes > segment.byteSize())
            throw new IllegalArgumentException(path + ": tensor " + Shape.str(shape) + " " + dtype.lower() + " needs bytes ["
                    + byteOffset + ", " + (byteOffset + bytes) + ") but the file has " + segment.byteSize() + " bytes");
        return Tensor.of(new MappedStorage(segment.asSlice(byteOffset, bytes), dtype), shape);
    }

    @Override public void close() { arena.close(); }
}
