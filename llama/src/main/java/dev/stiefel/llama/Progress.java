package dev.stiefel.llama;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A progress bar for long work (evaluation, calibration, training): done/total, rate, ETA and a free-form status
 * (the running loss or perplexity). On a terminal it redraws one line; otherwise (CI logs, pipes) it prints a
 * line at most every few seconds, so logs stay short. {@link #silent()} reports nothing.
 */
public final class Progress implements AutoCloseable {
    private final String label, unit;
    private final long total;
    private final PrintStream out;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long done, from, lastPrint;
    private String status = "";

    private Progress(String label, long total, String unit, PrintStream out, boolean terminal) {
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.out = out;
        this.terminal = terminal;
    }

    /** A bar on stderr; a terminal gets a redrawn line, anything else a periodic log line. */
    public static Progress of(String label, long total, String unit) {
        return new Progress(label, total, unit, System.err, System.console() != null);
    }

    public static Progress to(PrintStream out, String label, long total, String unit) {
        return new Progress(label, total, unit, out, false);
    }

    public static Progress silent() { return new Progress("", 0, "", null, false); }

    /** Starts counting from {@code done} (a resumed run): the rate and the ETA count only what this run does. */
    public Progress resumedAt(long done) { this.done = done; this.from = done; return this; }

    public void status(String s) { status = s; }

    public void step(long n) {
        done += n;
        long now = System.nanoTime();
        if (out == null) return;
        if (done >= total || now - lastPrint > (terminal ? 100_000_000L : 5_000_000_000L)) {
            lastPrint = now;
            print(now);
        }
    }

    public long done() { return done; }

    private void print(long now) {
        double seconds = (now - start) * 1e-9;
        double rate = (done - from) / Math.max(seconds, 1e-9);
        double eta = rate > 0 ? (total - done) / rate : Double.NaN;
        int width = 30, filled = total > 0 ? (int) Math.min(width, width * done / total) : 0;
        String bar = "=".repeat(filled) + (filled < width ? ">" + " ".repeat(width - filled - 1) : "");
        String line = String.format(Locale.ROOT, "%s [%s] %d/%d %s  %.2f %s/s  %s elapsed  ETA %s%s", label, bar, done, total, unit,
                rate, unit, clock(seconds), clock(eta), status.isEmpty() ? "" : "  " + status);
        if (terminal) out.print("\r" + line + "\u001b[K");
        else out.println(line);
        out.flush();
    }

    /** h:mm:ss from an hour, else mm:ss; "--:--" when unknown. */
    public static String clock(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds)) return "--:--";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }

    @Override public void close() {
        if (out != null && terminal) { out.println(); out.flush(); }
    }
}
