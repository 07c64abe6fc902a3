package dev.stiefel.llama.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a file may make a reader allocate (docs/robustness.md states the bounds). Every count or size a reader takes
 * from a file is checked against the bytes actually present before anything is allocated from it; the allocation
 * itself then goes through {@link #elements}, which records the largest request so the fuzz campaign can report how
 * much memory a bad header managed to ask for. Whole-file reads (JSON, tokenizer.model, tokenizer.bin) are capped.
 */
public final class ReadLimits {
    /** config.json and model.safetensors.index.json: kilobytes in practice, even for the largest sharded models. */
    public static final long MAX_CONFIG_JSON_BYTES = 16L << 20;
    /** tokenizer.json, tokenizer.model, tokenizer.bin: real ones are at most tens of MiB. */
    public static final long MAX_TOKENIZER_BYTES = 512L << 20;
    /** The largest array a reader makes: Java arrays index with an int (minus the VM's header slack). */
    public static final long MAX_ARRAY_ELEMENTS = Integer.MAX_VALUE - 8;

    private static final AtomicLong largestRequest = new AtomicLong();

    private ReadLimits() {}

    /**
     * Records an allocation of {@code count} elements of {@code bytesEach} bytes that a reader is about to make from
     * counts read in a file (already checked against the file), and returns the count as an int.
     *
     * @throws IllegalStateException if the count exceeds one Java array (a reader bug: it should have refused first)
     */
    public static int elements(long count, int bytesEach) {
        if (count < 0 || count > MAX_ARRAY_ELEMENTS)
            throw new IllegalStateException("reader asked for an array of " + count + " elements without checking the file first");
        largestRequest.accumulateAndGet(count * bytesEach, Math::max);
        return (int) count;
    }

    /** The largest allocation (bytes) recorded since the last {@link #resetLargestRequest()}. */
    public static long largestRequest() { return largestRequest.get(); }

    public static void resetLargestRequest() { largestRequest.set(0); }

    /**
     * The bytes of a whole file that is read into memory, refused with a {@link ModelFormatException} when larger
     * than {@code maxBytes}.
     */
    public static byte[] readAll(Path file, long maxBytes, String what) throws IOException {
        long size = Files.size(file);
        if (size > maxBytes)
            throw new ModelFormatException(file, what + " has " + size + " bytes, more than the " + maxBytes + " this reader accepts");
        byte[] b = Files.readAllBytes(file);
        elements(b.length, 1);
        return b;
    }
}
