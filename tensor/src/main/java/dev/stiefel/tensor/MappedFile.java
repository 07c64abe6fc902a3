package dev.stiefel.tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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
