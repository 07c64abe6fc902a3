package dev.stiefel.cli;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The quantize table prints perplexities as RESULTS.md does, and the astronomical ones of random weights readably. */
class PerplexityFormatTest {
    @Test void fourDecimalsUpToAMillionThenFourSignificantDigits() {
        assertThat(QuantizeCommand.perplexity(4.010795788185795)).isEqualTo("4.0108");
        assertThat(QuantizeCommand.perplexity(326.18)).isEqualTo("326.1800");
        assertThat(QuantizeCommand.perplexity(999_999.4)).isEqualTo("999999.4000");
        assertThat(QuantizeCommand.perplexity(1.2763023251369760e100)).isEqualTo("1.2763e+100");
        assertThat(QuantizeCommand.perplexity(Double.POSITIVE_INFINITY)).isEqualTo("Infinity");
    }
}
