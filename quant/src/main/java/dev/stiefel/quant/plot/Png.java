package dev.stiefel.quant.plot;

import dev.stiefel.llama.io.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** PNG images: panels tiled into one image, and files written so a reader never sees half of one. */
public final class Png {
    static {
        headless();
    }

    private Png() {}

    /**
     * Switches AWT to headless mode unless the user chose otherwise: the commands run on servers without a display, and
     * must decide before the first AWT class initialises.
     */
    public static void headless() {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    /** Encodes {@code image} as PNG and writes it to {@code file} atomically (temp file in the same folder, then rename). */
    public static void write(Path file, BufferedImage image) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(image, "png", bytes)) throw new IOException(file + ": no PNG writer is available in this JVM");
        AtomicFiles.write(file, bytes.toByteArray());
    }

    /** The panels in rows of {@code columns}, left to right, on white; cells are as large as the largest panel. */
    public static BufferedImage tile(List<BufferedImage> panels, int columns) {
        if (panels.isEmpty()) throw new IllegalArgumentException("tile: no panels");
        if (columns < 1) throw new IllegalArgumentException("tile: columns must be >= 1, got " + columns);
        int w = 0, h = 0;
        for (BufferedImage p : panels) { w = Math.max(w, p.getWidth()); h = Math.max(h, p.getHeight()); }
        int cols = Math.min(columns, panels.size()), rows = (panels.size() + cols - 1) / cols;
        BufferedImage out = new BufferedImage(cols * w, rows * h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, out.getWidth(), out.getHeight());
            for (int i = 0; i < panels.size(); i++) g.drawImage(panels.get(i), (i % cols) * w, (i / cols) * h, null);
        } finally {
            g.dispose();
        }
        return out;
    }
}
