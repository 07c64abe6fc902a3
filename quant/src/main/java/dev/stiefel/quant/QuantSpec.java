package dev.stiefel.quant;

import java.util.Locale;

/**
 * How one kind of tensor is quantized: the integer grid, which elements share a scale, how the range is clipped,
 * when the scale is found and how values are rounded. A spec prints itself in one line (the form every report
 * records) and {@link #parse} reads that line back.
 *
 * <p>The integer grids follow QuaRot's {@code quant_utils} (Ashkboos et al. 2024), which the later rotation papers
 * reuse: symmetric q ∈ [−2^(b−1), 2^(b−1) − 1] with s = max|x| / (2^(b−1) − 1) and no zero point; asymmetric
 * q ∈ [0, 2^b − 1] with s = (max − min) / (2^b − 1) and z = round(−min / s), the range widened to contain 0 as
 * GPTQ's {@code find_params} does (so 0 is exact and z lies on the grid).
 *
 * <p>A tensor is seen as rows along its last axis: a weight [out, in] has one row per output channel, an activation
 * [..., in] one row per token, a K/V tensor [B, T, heads, headDim] one row per token and head. Every granularity
 * but {@link Granularity#PER_TENSOR} gives each row its own scale; {@code groupSize > 0} splits each row further into
 * groups of that many consecutive elements (the last group of a row may be shorter).
 *
 * @param bits        2..8
 * @param symmetric   symmetric grid without zero point, or asymmetric with one
 * @param granularity what a row is (and whether rows share one scale)
 * @param groupSize   0 for one scale per row, else elements per group along the last axis
 * @param clipping    none, a fixed ratio of the range, or a search over ratios minimising the Lp error
 * @param dynamic     scales computed from each tensor as it passes (activations), or fixed once (weights, or
 *                    activations calibrated beforehand)
 * @param rounding    how x/s becomes an integer
 */
public record QuantSpec(int bits, boolean symmetric, Granularity granularity, int groupSize, Clipping clipping,
                        boolean dynamic, Rounding rounding) {

    /** Which elements share a scale. All but PER_TENSOR are "per row of the last axis"; the name says what a row is. */
    public enum Granularity {
        PER_TENSOR("per-tensor"), PER_CHANNEL("per-channel"), PER_TOKEN("per-token"), PER_HEAD("per-head");

        private final String label;

        Granularity(String label) { this.label = label; }

        public String label() { return label; }
    }

    /** Round to nearest, ties to even (torch.round, Math.rint), as every method here uses. */
    public enum Rounding { NEAREST }

    /**
     * The range [min, max] a scale must cover. NONE keeps it; FIXED multiplies it by {@code ratio} (QuaRot's
     * clip_ratio for activations); SEARCH tries the ratios 1 − i/grid for i = 0 … ⌊maxShrink·grid⌋ − 1 and keeps
     * the one with the smallest Σ|Q(x) − x|^p over the group, as GPTQ's and QuaRot's {@code find_params(mse=True)}
     * do for weights (p = 2.4, grid 100, maxShrink 0.8 there).
     */
    public record Clipping(Kind kind, double ratio, double norm, int grid, double maxShrink) {
        public enum Kind { NONE, FIXED, SEARCH }

        public static final Clipping NONE = new Clipping(Kind.NONE, 1, 0, 0, 0);

        public Clipping {
            if (kind == null) throw new IllegalArgumentException("quant spec: clipping kind is required");
            switch (kind) {
                case NONE -> { }
                case FIXED -> {
                    if (!(ratio > 0 && ratio <= 1)) throw new IllegalArgumentException("quant spec: clip ratio must be in (0, 1], got " + ratio);
                }
                case SEARCH -> {
                    if (!(norm > 0 && Double.isFinite(norm)))
                        throw new IllegalArgumentException("quant spec: clip search norm p must be positive, got " + norm);
                    if (grid < 1) throw new IllegalArgumentException("quant spec: clip search grid must be >= 1, got " + grid);
                    if (!(maxShrink > 0 && maxShrink <= 1) || (int) (maxShrink * grid) < 1)
                        throw new IllegalArgumentException("quant spec: clip search maxShrink must be in (0, 1] and try at least one ratio, got "
                                + maxShrink + " with grid " + grid);
                }
            }
        }

        public static Clipping fixed(double ratio) { return new Clipping(Kind.FIXED, ratio, 0, 0, 0); }

        /** The search of GPTQ/QuaRot: p = 2.4, 100 steps, ratios down to 0.21. */
        public static Clipping search() { return search(2.4); }

        public static Clipping search(double norm) { return new Clipping(Kind.SEARCH, 1, norm, 100, 0.8); }

        public static Clipping search(double norm, int grid, double maxShrink) { return new Clipping(Kind.SEARCH, 1, norm, grid, maxShrink); }

        /** How many ratios the search tries. */
        public int candidates() { return kind == Kind.SEARCH ? (int) (maxShrink * grid) : 1; }

        /** The i-th ratio tried: 1 − i/grid for a search, the fixed ratio, or 1. */
        public double ratio(int i) {
            return switch (kind) {
                case NONE -> 1;
                case FIXED -> ratio;
                case SEARCH -> 1 - (double) i / grid;
            };
        }

        @Override public String toString() {
            return switch (kind) {
                case NONE -> "";
                case FIXED -> "clip(" + num(ratio) + ")";
                case SEARCH -> "clip-search(p=" + num(norm) + (grid == 100 && maxShrink == 0.8 ? "" : ",grid=" + grid + ",maxshrink=" + num(maxShrink)) + ")";
            };
        }
    }

    public QuantSpec {
        if (bits < 2 || bits > 8)
            throw new IllegalArgumentException("quant spec: bits must be 2..8 (16 means no quantization: leave the spec out), got " + bits);
        if (granularity == null || clipping == null || rounding == null)
            throw new IllegalArgumentException("quant spec: granularity, clipping and rounding are required");
        if (groupSize < 0) throw new IllegalArgumentException("quant spec: group size must be >= 0 (0 = whole row), got " + groupSize);
        if (granularity == Granularity.PER_TENSOR && groupSize > 0)
            throw new IllegalArgumentException("quant spec: a per-tensor scale cannot also be split into groups of " + groupSize);
    }

    // ------------------------------------------------------------ the usual specs

    /** Weights: static, per output channel (or groups of {@code group} input channels when group > 0), no clipping. */
    public static QuantSpec weights(int bits, boolean symmetric, int group) {
        return new QuantSpec(bits, symmetric, Granularity.PER_CHANNEL, group, Clipping.NONE, false, Rounding.NEAREST);
    }

    /** Activations: dynamic per token (a scale per row of [..., in]), optionally in groups along the features. */
    public static QuantSpec activations(int bits, boolean symmetric, int group) {
        return new QuantSpec(bits, symmetric, Granularity.PER_TOKEN, group, Clipping.NONE, true, Rounding.NEAREST);
    }

    /**
     * K or V cache: dynamic, a scale per token and head ({@code group == 0}), or per token in groups of
     * {@code group} features across the concatenated heads (QuaRot's k_groupsize).
     */
    public static QuantSpec kv(int bits, boolean symmetric, int group) {
        return group == 0 ? new QuantSpec(bits, symmetric, Granularity.PER_HEAD, 0, Clipping.NONE, true, Rounding.NEAREST)
                : new QuantSpec(bits, symmetric, Granularity.PER_TOKEN, group, Clipping.NONE, true, Rounding.NEAREST);
    }

    public QuantSpec withClipping(Clipping c) { return new QuantSpec(bits, symmetric, granularity, groupSize, c, dynamic, rounding); }

    public QuantSpec withGroupSize(int g) { return new QuantSpec(bits, symmetric, granularity, g, clipping, dynamic, rounding); }

    public QuantSpec withSymmetric(boolean sym) { return new QuantSpec(bits, sym, granularity, groupSize, clipping, dynamic, rounding); }

    public QuantSpec withDynamic(boolean d) { return new QuantSpec(bits, symmetric, granularity, groupSize, clipping, d, rounding); }

    public QuantSpec withGranularity(Granularity g) { return new QuantSpec(bits, symmetric, g, groupSize, clipping, dynamic, rounding); }

    // ------------------------------------------------------------ the integer grid

    /** Smallest integer level: −2^(b−1) symmetric, 0 asymmetric. */
    public int qmin() { return symmetric ? -(1 << (bits - 1)) : 0; }

    /** Largest integer level: 2^(b−1) − 1 symmetric, 2^b − 1 asymmetric. */
    public int qmax() { return symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }

    // ------------------------------------------------------------ one line each way

    /** E.g. {@code int4 asym g128 clip-search(p=2.4) dynamic per-token}. */
    @Override public String toString() {
        StringBuilder s = new StringBuilder("int").append(bits).append(symmetric ? " sym" : " asym");
        if (groupSize > 0) s.append(" g").append(groupSize);
        if (clipping.kind() != Clipping.Kind.NONE) s.append(' ').append(clipping);
        s.append(dynamic ? " dynamic " : " static ").append(granularity.label());
        return s.toString();
    }

    /**
     * Reads the form {@link #toString} writes; words may come in any order. Defaults for what is left out: asym,
     * per-channel, whole rows, no clipping, static (dynamic for per-token and per-head), nearest rounding.
     */
    public static QuantSpec parse(String text) {
        Integer bits = null, group = 0;
        Boolean sym = null, dyn = null;
        Granularity gran = Granularity.PER_CHANNEL;
        Clipping clip = Clipping.NONE;
        for (String word : text.trim().toLowerCase(Locale.ROOT).split("\\s+")) {
            try {
                if (word.matches("int\\d+")) bits = Integer.parseInt(word.substring(3));
                else if (word.equals("sym")) sym = true;
                else if (word.equals("asym")) sym = false;
                else if (word.matches("g\\d+")) group = Integer.parseInt(word.substring(1));
                else if (word.equals("static")) dyn = false;
                else if (word.equals("dynamic")) dyn = true;
                else if (word.equals("nearest")) { /* the only rounding */ }
                else if (word.startsWith("clip-search(") && word.endsWith(")")) clip = parseSearch(word.substring(12, word.length() - 1));
                else if (word.startsWith("clip(") && word.endsWith(")")) clip = Clipping.fixed(Double.parseDouble(word.substring(5, word.length() - 1)));
                else {
                    Granularity found = null;
                    for (Granularity g : Granularity.values()) if (g.label().equals(word)) found = g;
                    if (found == null) throw new IllegalArgumentException("unknown word");
                    gran = found;
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("quant spec '" + text + "': cannot read the number in '" + word + "'");
            } catch (IllegalArgumentException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("quant spec")) throw e;
                throw new IllegalArgumentException("quant spec '" + text + "': unknown word '" + word
                        + "' (expected intN, sym|asym, gN, clip(r), clip-search(p=..), static|dynamic, per-tensor|per-channel|per-token|per-head)");
            }
        }
        if (bits == null) throw new IllegalArgumentException("quant spec '" + text + "': the bit width (e.g. int4) is missing");
        boolean dynamic = dyn != null ? dyn : gran == Granularity.PER_TOKEN || gran == Granularity.PER_HEAD;
        return new QuantSpec(bits, sym != null && sym, gran, group, clip, dynamic, Rounding.NEAREST);
    }

    private static Clipping parseSearch(String args) {
        double norm = 2.4, maxShrink = 0.8;
        int grid = 100;
        for (String kv : args.split(",")) {
            if (kv.isEmpty()) continue;
            String[] p = kv.split("=", 2);
            if (p.length != 2) throw new IllegalArgumentException("quant spec: clip-search arguments are key=value, got '" + kv + "'");
            switch (p[0]) {
                case "p" -> norm = Double.parseDouble(p[1]);
                case "grid" -> grid = Integer.parseInt(p[1]);
                case "maxshrink" -> maxShrink = Double.parseDouble(p[1]);
                default -> throw new IllegalArgumentException("quant spec: unknown clip-search argument '" + p[0] + "' (p, grid, maxshrink)");
            }
        }
        return Clipping.search(norm, grid, maxShrink);
    }

    private static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
