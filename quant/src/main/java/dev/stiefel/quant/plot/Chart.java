package dev.stiefel.quant.plot;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.XYSeries.XYSeriesRenderStyle;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * One pair of axes with named series (lines with markers, or points) and unnamed helper curves (an ellipse, grid lines,
 * a threshold), drawn by XChart. Named series take colours from {@link #PALETTE} in the order they are added, so the
 * same cases get the same colours in every plot of a run.
 */
public final class Chart {
    static {
        Png.headless();
    }

    /** Distinguishable colours (Okabe–Ito, readable with colour-vision deficiencies). */
    public static final List<Color> PALETTE = List.of(new Color(0, 114, 178), new Color(230, 159, 0), new Color(0, 158, 115),
            new Color(204, 121, 167), new Color(213, 94, 0), new Color(86, 180, 233), new Color(240, 228, 66), Color.BLACK);

    private static final List<Marker> MARKERS = List.of(SeriesMarkers.CIRCLE, SeriesMarkers.SQUARE, SeriesMarkers.DIAMOND,
            SeriesMarkers.TRIANGLE_UP, SeriesMarkers.TRIANGLE_DOWN, SeriesMarkers.CROSS);

    private final XYChart chart;
    private int named, unnamed;

    private Chart(XYChart chart) { this.chart = chart; }

    /** Empty axes of {@code width × height} pixels. */
    public static Chart of(String title, String xTitle, String yTitle, int width, int height) {
        if (width < 50 || height < 50) throw new IllegalArgumentException("chart: " + width + "×" + height + " pixels is too small to draw");
        XYChart c = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        var s = c.getStyler();
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotBackgroundColor(Color.WHITE);
        s.setPlotGridLinesColor(new Color(225, 225, 225));
        s.setLegendPosition(Styler.LegendPosition.OutsideS);
        s.setLegendLayout(Styler.LegendLayout.Horizontal);
        s.setLegendBorderColor(Color.WHITE);
        s.setMarkerSize(7);
        s.setAntiAlias(true);
        return new Chart(c);
    }

    /** A named line with markers (one point per x); points with a non-finite coordinate are left out (a gap in the data). */
    public Chart line(String name, double[] x, double[] y) { return line(name, x, y, named); }

    /** A named line with the colour and marker of style {@code style} (the same style is the same look in every chart). */
    public Chart line(String name, double[] x, double[] y, int style) {
        double[][] f = finite(name, x, y);
        XYSeries s = add(name, f[0], f[1]);
        s.setXYSeriesRenderStyle(XYSeriesRenderStyle.Line);
        Color c = PALETTE.get(style % PALETTE.size());
        s.setLineColor(c);
        s.setMarkerColor(c);
        s.setMarker(MARKERS.get(style % MARKERS.size()));
        named++;
        return this;
    }

    /** Named points without a line; points with a non-finite coordinate are left out. */
    public Chart points(String name, double[] x, double[] y) { return points(name, x, y, named); }

    /** Named points with the colour and marker of style {@code style}. */
    public Chart points(String name, double[] x, double[] y, int style) {
        double[][] f = finite(name, x, y);
        XYSeries s = add(name, f[0], f[1]);
        s.setXYSeriesRenderStyle(XYSeriesRenderStyle.Scatter);
        Color c = PALETTE.get(style % PALETTE.size());
        s.setMarkerColor(c);
        s.setMarker(MARKERS.get(style % MARKERS.size()));
        named++;
        return this;
    }

    /** Small unnamed points of one colour (a sample cloud). */
    public Chart cloud(double[] x, double[] y, Color color) {
        XYSeries s = add("\u200b" + unnamed++, x, y);
        s.setXYSeriesRenderStyle(XYSeriesRenderStyle.Scatter);
        s.setMarker(SeriesMarkers.CIRCLE);
        s.setMarkerColor(color);
        s.setShowInLegend(false);
        return this;
    }

    /** An unnamed polyline (an ellipse, a grid line), solid or dashed, not in the legend. */
    public Chart curve(double[] x, double[] y, Color color, boolean dashed) {
        XYSeries s = add("\u200b" + unnamed++, x, y);
        s.setXYSeriesRenderStyle(XYSeriesRenderStyle.Line);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(color);
        s.setLineStyle(dashed ? SeriesLines.DASH_DASH : SeriesLines.SOLID);
        s.setShowInLegend(false);
        return this;
    }

    /** A named dashed horizontal line at y from xMin to xMax (a threshold). */
    public Chart horizontal(String name, double y, double xMin, double xMax, Color color) {
        XYSeries s = add(name, new double[]{xMin, xMax}, new double[]{y, y});
        s.setXYSeriesRenderStyle(XYSeriesRenderStyle.Line);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(color);
        s.setLineStyle(SeriesLines.DASH_DASH);
        return this;
    }

    /** Fixes the axis ranges (null leaves one automatic). */
    public Chart range(Double xMin, Double xMax, Double yMin, Double yMax) {
        var s = chart.getStyler();
        s.setXAxisMin(xMin);
        s.setXAxisMax(xMax);
        s.setYAxisMin(yMin);
        s.setYAxisMax(yMax);
        return this;
    }

    /** Whole-number x tick labels (block indices). */
    public Chart integerX() {
        chart.getStyler().setXAxisDecimalPattern("0");
        return this;
    }

    /** Marker size in pixels for every series of this chart (7 by default; a dense cloud wants 2 or 3). */
    public Chart markerSize(int pixels) {
        chart.getStyler().setMarkerSize(pixels);
        return this;
    }

    /** Antialiasing on (the default) or off; off keeps a PNG of thousands of points small. */
    public Chart antiAlias(boolean on) {
        chart.getStyler().setAntiAlias(on);
        return this;
    }

    /** Hides the legend (for panels whose series are all helpers). */
    public Chart noLegend() {
        chart.getStyler().setLegendVisible(false);
        return this;
    }

    public BufferedImage render() { return BitmapEncoder.getBufferedImage(chart); }

    /** Renders and writes a PNG atomically. */
    public void writePng(Path file) throws IOException { Png.write(file, render()); }

    /** The pairs with both coordinates finite; at least one must be. */
    private static double[][] finite(String name, double[] x, double[] y) {
        if (x.length != y.length) throw new IllegalArgumentException("chart series '" + name + "': " + x.length + " x values but " + y.length + " y values");
        int n = 0;
        for (int i = 0; i < x.length; i++) if (Double.isFinite(x[i]) && Double.isFinite(y[i])) n++;
        if (n == 0) throw new IllegalArgumentException("chart series '" + name + "': no point with finite coordinates");
        double[] fx = new double[n], fy = new double[n];
        for (int i = 0, j = 0; i < x.length; i++)
            if (Double.isFinite(x[i]) && Double.isFinite(y[i])) { fx[j] = x[i]; fy[j++] = y[i]; }
        return new double[][]{fx, fy};
    }

    private XYSeries add(String name, double[] x, double[] y) {
        if (x.length != y.length) throw new IllegalArgumentException("chart series '" + name + "': " + x.length + " x values but " + y.length + " y values");
        if (x.length == 0) throw new IllegalArgumentException("chart series '" + name + "': no points");
        for (int i = 0; i < x.length; i++)
            if (!Double.isFinite(x[i]) || !Double.isFinite(y[i]))
                throw new IllegalArgumentException("chart series '" + name + "': point " + i + " is (" + x[i] + ", " + y[i] + "); plots need finite values");
        return chart.addSeries(name, x, y);
    }
}
