package dev.stiefel.tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
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
     * f32 tensors moved off the heap: a new file in {@code dir} of their total size is mapped read-write, unlinked at
     * once (so nothing is left on disk however the process ends; the pages stay reachable through the mapping, and the
     * space returns when the tensors are collected), and each tensor's values are copied straight into the mapping,
     * heap arrays and mapped segments without an intermediate copy. The mapping lives as long as any of the returned
     * tensors is reachable. Same shapes, values bit for bit; contiguous row-major results.
     */
    public static List<Tensor> spill(Path dir, List<Tensor> tensors) throws IOException {
        long total = 0;
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            if (t.dtype() != DType.F32) throw new IllegalArgumentException("spill: tensor " + i + " is " + t.dtype().lower() + ", not f32");
            total += Shape.numel(t.shape()) * Float.BYTES;
        }
        Path file = Files.createTempFile(dir, "stiefel-spill-", ".f32");
        MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            all = total == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_WRITE, 0, total, Arena.ofAuto()); // grows the file
        } finally {
            Files.deleteIfExists(file);
        }
        List<Tensor> out = new ArrayList<>(tensors.size());
        long at = 0;
        for (Tensor t : tensors) {
            Tensor c = t.contiguous();
            long n = Shape.numel(t.shape()), bytes = n * Float.BYTES;
            switch (c.storage()) {
                case FloatStorage f -> MemorySegment.copy(f.data(), c.offset(), all, MappedStorage.F32, at, Math.toIntExact(n));
                case MappedStorage m when m.dtype() == DType.F32 -> MemorySegment.copy(m.segment(), (long) c.offset() * Float.BYTES, all, at, bytes);
                default -> MemorySegment.copy(c.toFloatArray(), 0, all, MappedStorage.F32, at, Math.toIntExact(n));
            }
            out.add(Tensor.of(new MappedStorage(all.asSlice(at, bytes), DType.F32), t.shape()));
            at += bytes;
        }
        return out;
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
