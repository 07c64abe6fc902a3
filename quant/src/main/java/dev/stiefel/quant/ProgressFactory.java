package dev.stiefel.quant;

import dev.stiefel.llama.Progress;

/** Opens the progress bars a method shows (one per layer, per phase): on stderr for the CLI, silent in tests. */
@FunctionalInterface
public interface ProgressFactory {
    Progress open(String label, long total, String unit);

    ProgressFactory STDERR = Progress::of;

    ProgressFactory SILENT = (label, total, unit) -> Progress.silent();
}
