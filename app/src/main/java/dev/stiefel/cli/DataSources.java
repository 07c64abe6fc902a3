package dev.stiefel.cli;

import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.llama.train.StoryCorpus;

/**
 * Text by name for the commands. Besides the datasets in ../shared, "stories" is text the project generates itself:
 * the story grammar with seed {@link #TRAIN_SEED} trains the embedded model, and seed {@link #HELD_OUT_SEED} gives
 * held-out stories it never saw (the grammar is the same, the draws are not), and seed {@link #CALIBRATION_SEED}
 * calibration stories for quantization.
 */
final class DataSources {
    static final long TRAIN_SEED = 1, HELD_OUT_SEED = 1_000_003, CALIBRATION_SEED = 2_000_003;
    static final int HELD_OUT_STORIES = 400;

    private DataSources() {}

    static EvalDataset evalText(String name) {
        if (name.equals("stories"))
            return new EvalDataset("stories (generated, seed " + HELD_OUT_SEED + ")",
                    java.util.List.of(new StoryCorpus(HELD_OUT_SEED).stories(HELD_OUT_STORIES).split("\n\n")), "\n\n", 0);
        return EvalDataset.load(name);
    }

    /** Calibration text: "stories-calib" is generated stories from a third seed; anything else as {@link #evalText}. */
    static EvalDataset calibrationText(String name) {
        if (name.equals("stories-calib"))
            return new EvalDataset("stories (generated, seed " + CALIBRATION_SEED + ")",
                    java.util.List.of(new StoryCorpus(CALIBRATION_SEED).stories(HELD_OUT_STORIES).split("\n\n")), "\n\n", 0);
        return evalText(name);
    }
}
