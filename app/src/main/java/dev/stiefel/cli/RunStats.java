package dev.stiefel.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * What a long run cost, printed at its end: seconds per stage (in the order they ran, a stage run twice adds up), the
 * peak Java heap (at most: the sum of the heap pools' peaks since the JVM started, capped by the maximum heap) and the bytes of the model files, which
 * the loaders map instead of reading (so they are page cache, not heap).
 */
final class RunStats {
    private final Map<String, Double> seconds = new LinkedHashMap<>();
    private final Map<String, Map<String, Double>> stages = new LinkedHashMap<>();
    private long mappedBytes;

    /** Runs {@code work} as stage {@code stage}. */
    <T> T time(String stage, Callable<T> work) throws Exception {
        long t0 = System.nanoTime();
        try {
            return work.call();
        } finally {
            seconds.merge(stage, (System.nanoTime() - t0) * 1e-9, Double::sum);
        }
    }

    /** The size of the model's files: one file (GGUF, llama2.c), or the safetensors shards of a Hugging Face directory. */
    void model(Path source) {
        try {
            if (Files.isRegularFile(source)) { mappedBytes = Files.size(source); return; }
            try (Stream<Path> files = Files.list(source)) {
                mappedBytes = files.filter(p -> p.toString().endsWith(".safetensors")).mapToLong(p -> {
                    try { return Files.size(p); } catch (IOException e) { throw new UncheckedIOException(e); }
                }).sum();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the size of " + source, e);
        }
    }

    Map<String, Double> seconds() { return seconds; }

    /** Where a step's time went, printed under the time line (GPTQ's captures, Hessians, factors and column loops). */
    void stages(String step, Map<String, Double> secondsPerStage) { stages.put(step, secondsPerStage); }

    long mappedBytes() { return mappedBytes; }

    /**
     * Starts the heap pools' peaks again from what is live now (after a collection): what a later {@link #peakHeapBytes}
     * reports is then the peak of the work after this point, not of building what it runs on.
     */
    static void resetPeakHeap() {
        System.gc();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans())
            if (pool.getType() == MemoryType.HEAP) pool.resetPeakUsage();
    }

    /**
     * An upper bound of the heap's peak use: the heap pools' peaks summed (they need not have peaked at once), capped by
     * the largest heap the JVM may use, which the true peak cannot exceed.
     */
    static long peakHeapBytes() {
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans())
            if (pool.getType() == MemoryType.HEAP && pool.getPeakUsage() != null) peak += pool.getPeakUsage().getUsed();
        return Math.min(peak, Runtime.getRuntime().maxMemory());
    }

    /**
     * The process's peak resident set (Linux's VmHWM in /proc/self/status: heap, code, and every mapped page it read),
     * or -1 where the system does not say.
     */
    static long peakResidentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Physical memory, or Long.MAX_VALUE where the JVM cannot tell. */
    static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) return os.getTotalMemorySize();
        return Long.MAX_VALUE;
    }

    /** Two lines for the end of a run. */
    String summary() {
        StringBuilder b = new StringBuilder("time:");
        double total = 0;
        for (var e : seconds.entrySet()) {
            b.append(String.format(Locale.ROOT, " %s %.1f s,", e.getKey(), e.getValue()));
            total += e.getValue();
        }
        long rss = peakResidentBytes();
        b.append(String.format(Locale.ROOT, " total %.1f s%n", total));
        for (var e : stages.entrySet()) {
            b.append("  ").append(e.getKey()).append(':');
            e.getValue().forEach((k, v) -> b.append(String.format(Locale.ROOT, " %s %.1f s,", k, v)));
            b.setLength(b.length() - 1);
            b.append(System.lineSeparator());
        }
        b.append(String.format(Locale.ROOT, "memory: peak heap at most %s, model files mapped %s%s", bytes(peakHeapBytes()), bytes(mappedBytes),
                rss < 0 ? "" : ", peak resident " + bytes(rss)));
        return b.toString();
    }

    static String bytes(long n) {
        if (n >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        if (n >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", n / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
    }
}
