package dev.stiefel.llama;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class ProgressTest {

    private static String lines(java.util.function.Consumer<PrintStream> work) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        work.accept(new PrintStream(b, true, StandardCharsets.UTF_8));
        return b.toString(StandardCharsets.UTF_8);
    }

    @Test void aLineShowsDoneTotalUnitAndStatus() {
        String out = lines(ps -> {
            Progress p = Progress.to(ps, "gptq layer 3/32", 7, "linears");
            p.status("q_proj loss 0.18");
            p.step(7);
        });
        assertThat(out).startsWith("gptq layer 3/32 [==============================] 7/7 linears").contains("ETA 00:00", "q_proj loss 0.18");
    }

    /** A resumed bar's rate counts only this run's work: what an earlier run did says nothing about how fast this one goes. */
    @Test void aResumedBarKnowsNoRateBeforeItsOwnFirstStep() {
        String out = lines(ps -> Progress.to(ps, "blocks", 200, "blocks").resumedAt(99).step(0));
        assertThat(out).contains("99/200 blocks", "0.00 blocks/s", "ETA --:--");
    }

    @Test void clocksShowHoursOnlyFromAnHour() {
        assertThat(Progress.clock(59.4)).isEqualTo("00:59");
        assertThat(Progress.clock(3599)).isEqualTo("59:59");
        assertThat(Progress.clock(7 * 3600 + 13 * 60 + 20)).isEqualTo("7:13:20");
        assertThat(Progress.clock(Double.NaN)).isEqualTo("--:--");
    }
}
