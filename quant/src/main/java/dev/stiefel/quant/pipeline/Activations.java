package dev.stiefel.quant.pipeline;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The calibration set's activations at one point of the model (the residual stream entering a block, or a block's
 * full-precision output): one tensor per sample, all of one shape, held in memory or in a file read one sample at a
 * time. A file is what lets a model whose cache does not fit in memory be calibrated, and what a resumed run reads.
 *
 * <p>File layout (little-endian): the 8 bytes {@code OMNIACT1}, int32 count, int32 rank, rank × int32 shape of one
 * sample, then count samples of f32 in row-major order. A file is written under a temporary name and renamed when
 * complete, so a file with the final name is always whole.
 */
public abstract sealed class Activations implements AutoCloseable permits Activations.Memory, Activations.OnDisk {
    private static final byte[] MAGIC = "OMNIACT1".getBytes(StandardCharsets.US_ASCII);

    public abstract int size();

    /** Sample i, [1, T, dim] for the residual stream. */
    public abstract Tensor get(int i);

    /** Releases what this holds (a file stays on disk). */
    @Override public void close() {}

    /** Releases what this holds and deletes its file, if it has one. */
    public void discard() {
        close();
        if (this instanceof OnDisk d) {
            try {
                Files.deleteIfExists(d.file());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete the activation cache " + d.file(), e);
            }
        }
    }

    /** Receives samples in order 0, 1, ...; {@link #finish} makes them readable. */
    public interface Writer {
        void put(Tensor t);

        Activations finish();
    }

    // ------------------------------------------------------------ in memory

    public static final class Memory extends Activations {
        private final List<Tensor> samples;

        private Memory(List<Tensor> samples) { this.samples = samples; }

        public static Memory of(List<Tensor> samples) { return new Memory(new ArrayList<>(samples)); }

        @Override public int size() { return samples.size(); }

        @Override public Tensor get(int i) { return samples.get(i); }

        /**
         * A writer replacing these samples one by one (sample i is overwritten by the i-th put, after the caller has
         * read it), so that a block's outputs take the place of its inputs as the reference updates {@code fp_inps}.
         */
        public Writer overwrite() {
            return new Writer() {
                private int next;

                @Override public void put(Tensor t) {
                    if (next >= samples.size()) throw new IllegalStateException("activations: more than " + samples.size() + " samples written");
                    samples.set(next++, t);
                }

                @Override public Activations finish() {
                    if (next != samples.size()) throw new IllegalStateException("activations: " + next + " of " + samples.size() + " samples written");
                    return Memory.this;
                }
            };
        }
    }

    /** A writer collecting new samples in memory. */
    public static Writer memory() {
        List<Tensor> list = new ArrayList<>();
        return new Writer() {
            @Override public void put(Tensor t) { list.add(t); }

            @Override public Activations finish() { return new Memory(list); }
        };
    }

    // ------------------------------------------------------------ in a file

    /** A writer streaming samples into {@code file} (through a temporary file renamed at the end). */
    public static Writer file(Path file) {
        try {
            Path abs = file.toAbsolutePath();
            Files.createDirectories(abs.getParent());
            Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
            FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            return new Writer() {
                private int count;
                private int[] shape;

                @Override public void put(Tensor t) {
                    try {
                        if (shape == null) {
                            shape = t.shape();
                            ch.write(header(0, shape), 0); // the count is written again at the end
                        } else if (!Arrays.equals(shape, t.shape())) {
                            throw new IllegalArgumentException("activations " + file + ": sample " + count + " is " + Shape.str(t.shape())
                                    + ", the earlier ones " + Shape.str(shape));
                        }
                        float[] v = t.toFloatArray();
                        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                        b.asFloatBuffer().put(v);
                        long at = headerBytes(shape.length) + (long) count * v.length * 4;
                        while (b.hasRemaining()) at += ch.write(b, at);
                        count++;
                    } catch (IOException e) {
                        throw new UncheckedIOException("activations: writing " + tmp, e);
                    }
                }

                @Override public Activations finish() {
                    try {
                        if (shape == null) throw new IllegalStateException("activations " + file + ": no samples written");
                        ch.write(header(count, shape), 0);
                        ch.force(true);
                        ch.close();
                        try {
                            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                        } catch (AtomicMoveNotSupportedException e) {
                            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
                        }
                        return open(abs);
                    } catch (IOException e) {
                        throw new UncheckedIOException("activations: finishing " + file, e);
                    }
                }
            };
        } catch (IOException e) {
            throw new UncheckedIOException("activations: cannot create " + file, e);
        }
    }

    private static long headerBytes(int rank) { return MAGIC.length + 8 + 4L * rank; }

    private static ByteBuffer header(int count, int[] shape) {
        ByteBuffer b = ByteBuffer.allocate((int) headerBytes(shape.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putInt(count).putInt(shape.length);
        for (int s : shape) b.putInt(s);
        return b.flip();
    }

    /** Opens a file written by {@link #file}; a malformed one fails naming the file, the offset and what was expected. */
    public static OnDisk open(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = ch.size();
            ByteBuffer head = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 16 || ch.read(head, 0) < 16) throw bad(file, 0, "a header of at least 16 bytes, the file has " + size);
            head.flip();
            byte[] magic = new byte[8];
            head.get(magic);
            if (!Arrays.equals(magic, MAGIC)) throw bad(file, 0, "the magic OMNIACT1");
            int count = head.getInt(), rank = head.getInt();
            if (count < 1 || rank < 1 || rank > 8) throw bad(file, 8, "a positive sample count and a rank of 1..8, found " + count + " and " + rank);
            ByteBuffer dims = ByteBuffer.allocate(4 * rank).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(dims, 16);
            dims.flip();
            int[] shape = new int[rank];
            for (int i = 0; i < rank; i++) {
                shape[i] = dims.getInt();
                if (shape[i] < 1) throw bad(file, 16 + 4L * i, "a positive size, found " + shape[i]);
            }
            long need = headerBytes(rank) + count * Shape.numel(shape) * 4;
            if (size != need) throw bad(file, size, need + " bytes for " + count + " samples of " + Shape.str(shape) + ", the file has " + size);
            return new OnDisk(file, ch, count, shape);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static IOException bad(Path file, long offset, String expected) {
        return new IOException(file + ": at offset " + offset + " expected " + expected + " (an OmniQuant activation cache file)");
    }

    public static final class OnDisk extends Activations {
        private final Path file;
        private final FileChannel ch;
        private final int count;
        private final int[] shape;

        private OnDisk(Path file, FileChannel ch, int count, int[] shape) {
            this.file = file;
            this.ch = ch;
            this.count = count;
            this.shape = shape;
        }

        public Path file() { return file; }

        @Override public int size() { return count; }

        @Override public Tensor get(int i) {
            if (i < 0 || i >= count) throw new IndexOutOfBoundsException("activations " + file + ": sample " + i + " of " + count);
            int n = (int) Shape.numel(shape);
            ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
            long at = headerBytes(shape.length) + (long) i * n * 4;
            try {
                while (b.hasRemaining()) {
                    int r = ch.read(b, at + b.position());
                    if (r < 0) throw new IOException("unexpected end of file at offset " + (at + b.position()));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("activations: reading sample " + i + " of " + file, e);
            }
            float[] v = new float[n];
            b.flip().asFloatBuffer().get(v);
            return Tensor.wrap(v, shape);
        }

        @Override public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                throw new UncheckedIOException("activations: closing " + file, e);
            }
        }
    }
}
