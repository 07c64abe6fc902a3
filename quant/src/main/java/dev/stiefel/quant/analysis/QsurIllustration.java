package dev.stiefel.quant.analysis;

import dev.stiefel.quant.method.Qsur;
import dev.stiefel.quant.plot.Chart;
import dev.stiefel.quant.plot.Png;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * A two-dimensional picture of what QSUR measures, like Figure 1 of the OSTQuant paper: a Gaussian cloud, the ellipse
 * holding 99% of it, and the square a quantizer with one range for both features must cover, cut into its 2^bits × 2^bits
 * cells; QSUR is the ellipse's area over the square's. Four panels: the cloud as drawn (long along one feature, as an
 * outlier channel makes it, slightly tilted and off centre), after a SmoothQuant scaling (s_j = √max|x_j|, α = 0.5 with
 * unit weights), after a 2 × 2 Hadamard rotation (QuaRot), and after a rotation onto the principal axes followed by a
 * scaling that makes them equal, the optimum OSTQuant's rotation and scaling can reach for one Gaussian (its learning
 * minimises a loss, not QSUR, so a learned pair only approaches it).
 */
public final class QsurIllustration {
    private QsurIllustration() {}

    /**
     * One panel.
     *
     * @param title what was applied
     * @param x     the points' first coordinates
     * @param y     their second coordinates
     * @param mean  the sample mean
     * @param cov   the sample covariance
     * @param qsur  QSUR with the 99% ellipse
     */
    public record Panel(String title, double[] x, double[] y, double[] mean, DMatrix cov, Qsur qsur) {

        /** c = √χ²₂(0.99), the ellipse's radius in standard deviations. */
        public double radius() { return Math.sqrt(Qsur.chiSquare99(2)); }

        /** Half the side of the quantizer's square: max_i(|μ_i| + c·√Σ_ii), as in {@link Qsur#of}. */
        public double halfRange() {
            double c = radius();
            return Math.max(Math.abs(mean[0]) + c * Math.sqrt(cov.data[0]), Math.abs(mean[1]) + c * Math.sqrt(cov.data[3]));
        }
    }

    /** The four panels for {@code n} points drawn with {@code seed}. */
    public static List<Panel> panels(long seed, int n) {
        if (n < 3) throw new IllegalArgumentException("QSUR illustration: need at least 3 points, got " + n);
        Random rnd = new Random(seed);
        // x = μ + R(8°)·diag(3, 0.6)·z: a long cloud along one feature (an outlier channel), slightly tilted and off centre
        double t = Math.toRadians(8), s1 = 3, s2 = 0.6, mx = 0.4 * Math.cos(t), my = 0.4 * Math.sin(t);
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            double a = rnd.nextGaussian() * s1, b = rnd.nextGaussian() * s2;
            x[i] = mx + Math.cos(t) * a - Math.sin(t) * b;
            y[i] = my + Math.sin(t) * a + Math.cos(t) * b;
        }
        List<Panel> out = new ArrayList<>();
        out.add(panel("original", x, y));

        // SmoothQuant with unit weights: x_j / √max|x_j|
        double sx = Math.sqrt(maxAbs(x)), sy = Math.sqrt(maxAbs(y));
        double[] ax = new double[n], ay = new double[n];
        for (int i = 0; i < n; i++) { ax[i] = x[i] / sx; ay[i] = y[i] / sy; }
        out.add(panel("smoothing", ax, ay));

        // the 2 × 2 Hadamard matrix / √2
        double h = Math.sqrt(0.5);
        double[] bx = new double[n], by = new double[n];
        for (int i = 0; i < n; i++) { bx[i] = h * (x[i] + y[i]); by[i] = h * (x[i] - y[i]); }
        out.add(panel("rotation (Hadamard)", bx, by));

        // onto the principal axes (eigenvectors of Σ), then each axis divided by its standard deviation
        Panel first = out.get(0);
        Linalg.Eigen e = Linalg.eigSymmetric(first.cov());
        DMatrix v = e.vectors();
        double[] cx = new double[n], cy = new double[n];
        for (int i = 0; i < n; i++) {
            double p = x[i] * v.data[0] + y[i] * v.data[2], q = x[i] * v.data[1] + y[i] * v.data[3];
            cx[i] = p / Math.sqrt(e.values()[0]);
            cy[i] = q / Math.sqrt(e.values()[1]);
        }
        out.add(panel("rotation + scaling (OSTQuant)", cx, cy));
        return out;
    }

    private static Panel panel(String title, double[] x, double[] y) {
        int n = x.length;
        double[] mean = new double[2];
        for (int i = 0; i < n; i++) { mean[0] += x[i] / n; mean[1] += y[i] / n; }
        DMatrix cov = new DMatrix(2, 2);
        for (int i = 0; i < n; i++) {
            double a = x[i] - mean[0], b = y[i] - mean[1];
            cov.data[0] += a * a / (n - 1);
            cov.data[1] += a * b / (n - 1);
            cov.data[3] += b * b / (n - 1);
        }
        cov.data[2] = cov.data[1];
        return new Panel(title, x, y, mean, cov, Qsur.of(mean, cov, Math.sqrt(Qsur.chiSquare99(2))));
    }

    private static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** The panels side by side (2 × 2), each with its cloud, ellipse and quantization grid of {@code bits} bits per axis. */
    public static BufferedImage render(List<Panel> panels, int bits) {
        if (bits < 1 || bits > 6) throw new IllegalArgumentException("QSUR illustration: bits must be 1..6 to draw a readable grid, got " + bits);
        List<BufferedImage> images = new ArrayList<>();
        for (Panel p : panels) {
            double r = p.halfRange();
            Chart c = Chart.of(String.format(Locale.ROOT, "%s: QSUR %.3f", p.title(), Math.exp(p.qsur().log())), "x₁", "x₂", 420, 420)
                    .markerSize(3).antiAlias(false).noLegend().range(-1.12 * r, 1.12 * r, -1.12 * r, 1.12 * r);
            c.cloud(p.x(), p.y(), new Color(86, 160, 210));
            int cells = 1 << bits;
            Color gridColor = new Color(150, 150, 150);
            for (int k = 0; k <= cells; k++) {
                double u = -r + 2 * r * k / cells;
                boolean edge = k == 0 || k == cells;
                c.curve(new double[]{u, u}, new double[]{-r, r}, edge ? Color.BLACK : gridColor, false);
                c.curve(new double[]{-r, r}, new double[]{u, u}, edge ? Color.BLACK : gridColor, false);
            }
            double[][] ellipse = ellipse(p, 200);
            c.curve(ellipse[0], ellipse[1], new Color(213, 94, 0), false);
            images.add(c.render());
        }
        return Titled.above(Png.tile(images, 2), "QSUR in two dimensions: the 99% ellipse over the " + (1 << bits) + " × " + (1 << bits)
                + " quantization grid that covers it");
    }

    /** μ + c·V·diag(√λ)·(cos θ, sin θ), closed. */
    static double[][] ellipse(Panel p, int points) {
        Linalg.Eigen e = Linalg.eigSymmetric(p.cov());
        DMatrix v = e.vectors();
        double c = p.radius(), a = c * Math.sqrt(e.values()[0]), b = c * Math.sqrt(e.values()[1]);
        double[] x = new double[points + 1], y = new double[points + 1];
        for (int i = 0; i <= points; i++) {
            double t = 2 * Math.PI * i / points, u = a * Math.cos(t), w = b * Math.sin(t);
            x[i] = p.mean()[0] + v.data[0] * u + v.data[1] * w;
            y[i] = p.mean()[1] + v.data[2] * u + v.data[3] * w;
        }
        return new double[][]{x, y};
    }
}
