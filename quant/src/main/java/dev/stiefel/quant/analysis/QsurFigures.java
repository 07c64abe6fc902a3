package dev.stiefel.quant.analysis;

import dev.stiefel.quant.analysis.QsurAnalysis.Case;
import dev.stiefel.quant.analysis.QsurAnalysis.Entry;
import dev.stiefel.quant.analysis.QsurAnalysis.Site;
import dev.stiefel.quant.plot.Chart;
import dev.stiefel.quant.plot.Png;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/** The per-layer QSUR plot: one panel per site kind, QSUR per dimension against the block, one line per case. */
public final class QsurFigures {
    private QsurFigures() {}

    public static BufferedImage perLayer(QsurAnalysis.Result r, String model) {
        List<BufferedImage> panels = new ArrayList<>();
        for (Site s : Site.values()) {
            List<Entry> es = r.entries().stream().filter(e -> e.site() == s).toList();
            if (es.isEmpty()) continue;
            double[] x = new double[es.size()];
            for (int i = 0; i < x.length; i++) x[i] = es.get(i).layer();
            String d = es.get(0).groups() > 1 ? es.get(0).dimensions() + " per head" : Integer.toString(es.get(0).dimensions());
            Chart c = Chart.of(s.label + " (d = " + d + ")", "block", "(QSUR / max)^(1/d)", 480, 340);
            for (Case k : r.cases()) {
                double[] y = new double[x.length];
                for (int i = 0; i < y.length; i++) y[i] = es.get(i).perDimension().get(k);
                if (java.util.Arrays.stream(y).anyMatch(Double::isFinite)) c.line(k.label, x, y, k.ordinal());
            }
            c.integerX().range(-0.3, es.get(es.size() - 1).layer() + 0.3, 0.0, 1.0);
            panels.add(c.render());
        }
        BufferedImage grid = Png.tile(panels, 3);
        return Titled.above(grid, "QSUR per layer, " + model);
    }
}
