package dev.stiefel.quant.plot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ChartTest {
    @TempDir Path dir;

    @Test void aLinePlotIsWrittenAsAReadablePngWithTheSeriesColours() throws Exception {
        Path file = dir.resolve("sub/lines.png");
        Chart.of("title", "block", "value", 400, 300)
                .line("first", new double[]{0, 1, 2, 3}, new double[]{0.2, 0.4, Double.NaN, 0.8})
                .line("second", new double[]{0, 1, 2, 3}, new double[]{0.7, 0.6, 0.5, 0.4})
                .horizontal("threshold", 0.5, 0, 3, Color.BLACK).integerX().writePng(file);
        BufferedImage img = ImageIO.read(file.toFile());
        assertThat(img.getWidth()).isEqualTo(400);
        assertThat(img.getHeight()).isEqualTo(300);
        // both series' colours are drawn somewhere, and no temporary file is left beside the PNG
        assertThat(count(img, Chart.PALETTE.get(0))).isPositive();
        assertThat(count(img, Chart.PALETTE.get(1))).isPositive();
        try (Stream<Path> files = Files.list(file.getParent())) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("lines.png");
        }
    }

    @Test void tilesPanelsInRowsOnWhite() {
        BufferedImage a = Chart.of("a", "x", "y", 200, 150).points("p", new double[]{1, 2}, new double[]{3, 4}).render();
        BufferedImage b = Chart.of("b", "x", "y", 120, 180).cloud(new double[]{1, 2}, new double[]{3, 4}, Color.RED).noLegend().render();
        BufferedImage t = Png.tile(List.of(a, b, a), 2);
        assertThat(t.getWidth()).isEqualTo(400);
        assertThat(t.getHeight()).isEqualTo(360);
        assertThat(t.getRGB(399, 359)).isEqualTo(Color.WHITE.getRGB()); // the empty fourth cell
        assertThat(t.getRGB(10, 10)).isEqualTo(a.getRGB(10, 10));
        assertThat(t.getRGB(210, 10)).isEqualTo(b.getRGB(10, 10));
    }

    @Test void badSeriesAreRefusedWithTheSeriesName() {
        Chart c = Chart.of("t", "x", "y", 200, 200);
        assertThatThrownBy(() -> c.line("kv", new double[]{1, 2}, new double[]{1})).hasMessageContaining("'kv'").hasMessageContaining("2 x values but 1 y");
        assertThatThrownBy(() -> c.points("all nan", new double[]{1}, new double[]{Double.NaN})).hasMessageContaining("no point with finite coordinates");
        assertThatThrownBy(() -> c.curve(new double[]{1, Double.POSITIVE_INFINITY}, new double[]{1, 2}, Color.BLACK, false)).hasMessageContaining("point 1");
        assertThatThrownBy(() -> Chart.of("t", "x", "y", 10, 200)).hasMessageContaining("too small");
        assertThatThrownBy(() -> Png.tile(List.of(), 2)).hasMessageContaining("no panels");
    }

    private static int count(BufferedImage img, Color c) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xffffff) == (c.getRGB() & 0xffffff)) n++;
        return n;
    }
}
