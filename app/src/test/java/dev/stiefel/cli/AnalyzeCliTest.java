package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code stiefel analyze qsur|kurtosis} in-process, on the embedded model and on stories260K when ../shared has it. */
class AnalyzeCliTest {
    @TempDir Path dir;

    private static String[] run(String... args) { return CliRun.run(args); }

    private static Path stories260K() {
        Path p = Path.of(System.getProperty("stiefel.shared", "../shared")).resolve("models/stories260K/stories260K.bin");
        Assumptions.assumeTrue(Files.isRegularFile(p), "stories260K is not in ../shared (" + p + "); skipped");
        return p;
    }

    private static BufferedImage png(Path p) throws Exception {
        assertThat(p).exists();
        BufferedImage img = ImageIO.read(p.toFile());
        assertThat(img).as(p.toString()).isNotNull();
        return img;
    }

    @Test void kurtosisOnTheEmbeddedModel() throws Exception {
        String[] r = run("analyze", "kurtosis", "--out", dir.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1].lines().filter(l -> l.matches("^[0-4] +\\d.*"))).hasSize(5);
        assertThat(r[1]).contains("median kurtosis", "z > 3.5 -> rotation, else affine");
        assertThat(png(dir.resolve("kurtosis.png")).getWidth()).isGreaterThan(1000);
        JsonNode n = new ObjectMapper().readTree(dir.resolve("kurtosis.json").toFile());
        assertThat(n.get("blocks")).hasSize(5);
        for (JsonNode b : n.get("blocks")) {
            assertThat(b.get("kurtosis").asDouble()).isGreaterThan(1);
            assertThat(b.get("kind").asText()).isEqualTo(b.get("z").asDouble() > 3.5 ? "ROTATION" : "AFFINE");
        }
        // a threshold under the smallest z gives every block the high kind, and the other direction can be asked for
        String[] all = run("analyze", "kurtosis", "--threshold", "-100", "--high", "affine", "--low", "rotation", "--out", dir.toString());
        assertThat(all[0]).as(all[2]).isEqualTo("0");
        assertThat(all[1]).contains("5 of 5 blocks get affine");
        String[] std = run("analyze", "kurtosis", "--pooling", "standardized", "--out", dir.toString());
        assertThat(std[0]).as(std[2]).isEqualTo("0");
        assertThat(std[1]).contains("standardized pooling");
    }

    @Test void qsurOnTheEmbeddedModel() throws Exception {
        String[] r = run("analyze", "qsur", "--nsamples", "4", "--seqlen", "64", "--epochs", "1", "--out", dir.toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[1]).contains("none", "smooth", "rotation", "ostquant", "L4 down in", "L0 K", "mean all", "ostquant: 1 steps");
        png(dir.resolve("qsur.png"));
        png(dir.resolve("qsur-2d.png"));
        JsonNode n = new ObjectMapper().readTree(dir.resolve("qsur.json").toFile());
        assertThat(n.get("sites")).hasSize(5 * 6);
        for (JsonNode s : n.get("sites"))
            for (String k : new String[]{"none", "smooth", "rotation", "ostquant"})
                assertThat(s.get("per_dimension").get(k).asDouble()).as(s.toString()).isBetween(0.0, 1.0);
        assertThat(n.get("illustration").size()).isEqualTo(2 + 4);
    }

    @Test void bothCommandsOnStories260K() throws Exception {
        Path model = stories260K();
        String[] k = run("analyze", "kurtosis", "--model", model.toString(), "--out", dir.toString());
        assertThat(k[0]).as(k[2]).isEqualTo("0");
        assertThat(k[1].lines().filter(l -> l.matches("^[0-4] +\\d.*"))).hasSize(5);
        String[] q = run("analyze", "qsur", "--model", model.toString(), "--calib", "tinystories", "--nsamples", "4", "--seqlen", "64",
                "--cases", "none,rotation", "--out", dir.toString());
        assertThat(q[0]).as(q[2]).isEqualTo("0");
        assertThat(q[1]).contains("L4 down in").doesNotContain("ostquant");
    }

    @Test void badInputIsOneLineAndExitCode2() {
        String[][] cases = {
                {"analyze", "kurtosis", "--threshold", "NaN", "--out", dir.toString()}, {"--threshold must be a finite number"},
                {"analyze", "kurtosis", "--high", "sideways", "--out", dir.toString()}, {"unknown transform kind 'sideways'"},
                {"analyze", "kurtosis", "--model", dir.resolve("nope").toString()}, {"nope"},
                {"analyze", "kurtosis", "--pooling", "mean", "--out", dir.toString()}, {"unknown pooling 'mean'"},
                {"analyze", "qsur", "--cases", "none,flip", "--out", dir.toString()}, {"unknown QSUR case 'flip'"},
                {"analyze", "qsur", "--nsamples", "1", "--seqlen", "64", "--out", dir.toString()}, {"more calibration tokens than features"},
                {"analyze", "qsur", "--cases", "none,rotation,none", "--out", dir.toString()}, {"--cases names none twice"},
                {"analyze", "qsur", "--figure-bits", "9", "--out", dir.toString()}, {"--figure-bits must be 1..6"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            String[] r = run(cases[i]);
            assertThat(r[0]).as(String.join(" ", cases[i]) + ": " + r[2]).isEqualTo("2");
            assertThat(r[2]).contains("stiefel: ").contains(cases[i + 1][0]).doesNotContain("\tat ");
            assertThat(r[2].strip().lines().count()).as(r[2]).isEqualTo(1);
        }
    }
}
