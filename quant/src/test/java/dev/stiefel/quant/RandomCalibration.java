package dev.stiefel.quant;

import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.calib.CalibrationData;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Calibration sets of random tokens for the quantization tests (the models come from llama's {@link RandomModels}). */
public final class RandomCalibration {
    private RandomCalibration() {}

    /** n calibration samples of t random tokens. */
    public static CalibrationData of(int n, int t, int vocab, long seed) {
        Random rnd = new Random(seed);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < n; i++) s.add(RandomModels.tokens(rnd, t, vocab));
        return new CalibrationData(s, "random tokens", seed);
    }
}
