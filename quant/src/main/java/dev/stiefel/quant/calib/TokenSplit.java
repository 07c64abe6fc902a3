package dev.stiefel.quant.calib;

import java.util.Arrays;

/**
 * One token stream split into an evaluation part and a calibration part that never overlap, for when one file
 * serves both. The rule: the last {@code round(n · fraction)} tokens calibrate, everything before evaluates, so
 * {@code evaluation = tokens[0, cut)} and {@code calibration = tokens[cut, n)}. Evaluation keeps the beginning of
 * the file, where perplexity protocols start, and calibration windows drawn from the tail cannot reach back across
 * the cut. With fraction 0 the evaluation part is the whole stream (no calibration from this file).
 *
 * @param evaluation  tokens[0, cut)
 * @param calibration tokens[cut, n)
 * @param cut         the first calibration token's index in the stream
 */
public record TokenSplit(int[] evaluation, int[] calibration, int cut) {

    /** The calibration share when a file serves both: a tenth, from its end. */
    public static final double DEFAULT_CALIBRATION_FRACTION = 0.1;

    public static TokenSplit of(int[] tokens, double calibrationFraction) {
        if (!(calibrationFraction >= 0 && calibrationFraction < 1))
            throw new IllegalArgumentException("token split: the calibration fraction must be in [0, 1), got " + calibrationFraction);
        int cut = tokens.length - (int) Math.round(tokens.length * calibrationFraction);
        return new TokenSplit(Arrays.copyOfRange(tokens, 0, cut), Arrays.copyOfRange(tokens, cut, tokens.length), cut);
    }

    @Override public String toString() {
        return "TokenSplit[evaluation tokens [0, " + cut + "), calibration tokens [" + cut + ", " + (cut + calibration.length) + ")]";
    }
}
