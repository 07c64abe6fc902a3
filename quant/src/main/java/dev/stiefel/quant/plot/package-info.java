/**
 * PNG plots for the analysis commands: {@link dev.stiefel.quant.plot.Chart} (lines, points, unlabeled curves and
 * reference lines on one pair of axes, drawn by XChart) and {@link dev.stiefel.quant.plot.Png} (panels side by side,
 * written atomically). Everything renders off screen: the classes switch AWT to headless mode before it starts.
 */
package dev.stiefel.quant.plot;
