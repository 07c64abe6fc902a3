package dev.stiefel.quant.analysis;

import dev.stiefel.quant.plot.Png;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;

/** A line of text above an image (the figure's title over its panels). */
final class Titled {
    private Titled() {}

    static BufferedImage above(BufferedImage image, String title) {
        Png.headless();
        int band = 34;
        BufferedImage out = new BufferedImage(image.getWidth(), image.getHeight() + band, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, out.getWidth(), out.getHeight());
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            int w = g.getFontMetrics().stringWidth(title);
            g.drawString(title, Math.max(8, (out.getWidth() - w) / 2), 23);
            g.drawImage(image, 0, band, null);
        } finally {
            g.dispose();
        }
        return out;
    }
}
