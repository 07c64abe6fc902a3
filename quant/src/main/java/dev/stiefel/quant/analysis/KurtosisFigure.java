package dev.stiefel.quant.analysis;

import dev.stiefel.quant.adaptive.OutlierGuided;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.plot.Chart;
import dev.stiefel.quant.plot.Png;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/**
 * Outlier-guided selection at a glance: the weight kurtosis per block and the robust z-score per block with the threshold
 * as a dashed line, each block's point drawn in the colour and marker of the kind it gets.
 */
public final class KurtosisFigure {
    private KurtosisFigure() {}

    public static BufferedImage render(OutlierGuided.Analysis a, double threshold, List<TransformKind> kinds, String model) {
        int n = a.blocks().size();
        if (kinds.size() != n) throw new IllegalArgumentException("kurtosis figure: " + kinds.size() + " kinds for " + n + " blocks");
        Chart kurt = Chart.of("weight kurtosis per block (Gaussian = 3)", "block", "kurtosis κ", 620, 420).integerX();
        Chart z = Chart.of("robust z-score 0.6745·(κ − median κ) / MAD", "block", "z", 620, 420).integerX();
        double zMin = threshold, zMax = threshold;
        for (TransformKind k : TransformKind.values()) {
            List<Double> xs = new ArrayList<>(), ks = new ArrayList<>(), zs = new ArrayList<>();
            for (int l = 0; l < n; l++)
                if (kinds.get(l) == k) {
                    xs.add((double) l);
                    ks.add(a.blocks().get(l).kurtosis());
                    zs.add(a.blocks().get(l).z());
                }
            if (xs.isEmpty()) continue;
            double[] x = xs.stream().mapToDouble(Double::doubleValue).toArray();
            kurt.points(k.name().toLowerCase(java.util.Locale.ROOT), x, ks.stream().mapToDouble(Double::doubleValue).toArray(), k.ordinal());
            z.points(k.name().toLowerCase(java.util.Locale.ROOT), x, zs.stream().mapToDouble(Double::doubleValue).toArray(), k.ordinal());
            for (double v : zs) { zMin = Math.min(zMin, v); zMax = Math.max(zMax, v); }
        }
        z.horizontal("threshold " + threshold, threshold, -0.5, n - 0.5, Color.BLACK);
        double pad = 0.1 * Math.max(1, zMax - zMin);
        z.range(-0.5, n - 0.5, zMin - pad, zMax + pad);
        kurt.range(-0.5, n - 0.5, null, null);
        return Titled.above(Png.tile(List.of(kurt.render(), z.render()), 2), "Outlier-guided selection, " + model
                + " (blocks with z > " + threshold + " stand out)");
    }
}
