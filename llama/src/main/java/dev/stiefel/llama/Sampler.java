package dev.stiefel.llama;

import java.util.Arrays;
import java.util.Random;

/**
 * Picks the next token from a row of logits: greedy (argmax), or a draw from softmax(logits / temperature)
 * restricted to the smallest set of most likely tokens whose probability reaches topP (nucleus sampling,
 * Holtzman et al. 2020). Probabilities are computed in f64; every draw comes from one seeded generator.
 */
public final class Sampler {
    private final double temperature, topP;
    private final Random random;

    private Sampler(double temperature, double topP, long seed) {
        if (!(temperature >= 0)) throw new IllegalArgumentException("sampler: temperature must be >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("sampler: top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topP = topP;
        this.random = new Random(seed);
    }

    public static Sampler greedy() { return new Sampler(0, 1, 0); }

    /** temperature 0 is greedy; topP 1 samples from the whole distribution. */
    public static Sampler of(double temperature, double topP, long seed) { return new Sampler(temperature, topP, seed); }

    public boolean isGreedy() { return temperature == 0; }

    public int sample(float[] logits) {
        if (temperature == 0) return argmax(logits);
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) { p[i] = Math.exp((logits[i] - max) / temperature); sum += p[i]; }
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        if (topP < 1) return sampleTopP(p);
        double r = random.nextDouble(), cdf = 0;
        for (int i = 0; i < p.length; i++) {
            cdf += p[i];
            if (r < cdf) return i;
        }
        return argmax(logits); // r fell in the rounding gap above the last cdf value
    }

    /** Draws from the most likely tokens whose cumulative probability first reaches topP, renormalized. */
    private int sampleTopP(double[] p) {
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]) != 0 ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        double mass = 0;
        int keep = 0;
        while (keep < order.length) {
            mass += p[order[keep++]];
            if (mass >= topP) break;
        }
        double r = random.nextDouble() * mass, cdf = 0;
        for (int i = 0; i < keep; i++) {
            cdf += p[order[i]];
            if (r < cdf) return order[i];
        }
        return order[keep - 1];
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
