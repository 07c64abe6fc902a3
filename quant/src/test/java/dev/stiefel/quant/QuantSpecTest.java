package dev.stiefel.quant;

import dev.stiefel.quant.QuantSpec.Clipping;
import dev.stiefel.quant.QuantSpec.Granularity;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class QuantSpecTest {

    @Test void printsInOneLineAndParsesItBack() {
        QuantSpec s = QuantSpec.activations(4, false, 128).withClipping(Clipping.search());
        assertThat(s.toString()).isEqualTo("int4 asym g128 clip-search(p=2.4) dynamic per-token");
        assertThat(QuantSpec.parse(s.toString())).isEqualTo(s);
        List<QuantSpec> specs = List.of(
                QuantSpec.weights(3, true, 0),
                QuantSpec.weights(2, false, 64).withClipping(Clipping.fixed(0.9)),
                QuantSpec.kv(4, false, 0),
                QuantSpec.kv(8, true, 128),
                QuantSpec.weights(8, false, 0).withGranularity(Granularity.PER_TENSOR),
                QuantSpec.activations(6, true, 0).withGranularity(Granularity.PER_TENSOR).withDynamic(false).withClipping(Clipping.fixed(0.75)),
                QuantSpec.weights(5, false, 7).withClipping(Clipping.search(2.0, 50, 0.5)));
        for (QuantSpec spec : specs) {
            assertThat(spec.toString()).doesNotContain("\n");
            assertThat(QuantSpec.parse(spec.toString())).as(spec.toString()).isEqualTo(spec);
        }
        assertThat(QuantSpec.weights(3, true, 0).toString()).isEqualTo("int3 sym static per-channel");
        assertThat(QuantSpec.kv(4, false, 0).toString()).isEqualTo("int4 asym dynamic per-head");
        assertThat(QuantSpec.weights(5, false, 7).withClipping(Clipping.search(2.0, 50, 0.5)).toString())
                .isEqualTo("int5 asym g7 clip-search(p=2,grid=50,maxshrink=0.5) static per-channel");
    }

    @Test void parseFillsDefaultsAndNamesWhatItCannotRead() {
        QuantSpec s = QuantSpec.parse("int4 per-token");
        assertThat(s.symmetric()).isFalse();
        assertThat(s.dynamic()).isTrue();
        assertThat(s.groupSize()).isZero();
        assertThat(QuantSpec.parse("INT8  sym").granularity()).isEqualTo(Granularity.PER_CHANNEL);
        assertThat(QuantSpec.parse("int8 sym").dynamic()).isFalse();
        assertThatThrownBy(() -> QuantSpec.parse("int4 fancy")).hasMessageContaining("unknown word 'fancy'");
        assertThatThrownBy(() -> QuantSpec.parse("sym g128")).hasMessageContaining("bit width");
        assertThatThrownBy(() -> QuantSpec.parse("int4 gx")).hasMessageContaining("unknown word 'gx'");
        assertThatThrownBy(() -> QuantSpec.parse("int4 clip(abc)")).hasMessageContaining("clip(abc)");
        assertThatThrownBy(() -> QuantSpec.parse("int4 clip-search(q=3)")).hasMessageContaining("unknown clip-search argument 'q'");
    }

    @Test void bitsOutsideTwoToEightAreRejected() {
        for (int bits : new int[]{-1, 0, 1, 9, 16, 32})
            assertThatThrownBy(() -> QuantSpec.weights(bits, false, 0)).as("bits %d", bits).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("bits must be 2..8").hasMessageContaining(String.valueOf(bits));
        assertThatThrownBy(() -> QuantSpec.parse("int1 asym")).hasMessageContaining("bits must be 2..8");
        assertThatThrownBy(() -> QuantSpec.parse("int9 asym")).hasMessageContaining("bits must be 2..8");
        for (int bits = 2; bits <= 8; bits++) {
            QuantSpec sym = QuantSpec.weights(bits, true, 0), asym = QuantSpec.weights(bits, false, 0);
            assertThat(sym.qmax() - sym.qmin() + 1).isEqualTo(1 << bits);
            assertThat(sym.qmin()).isEqualTo(-(1 << (bits - 1)));
            assertThat(asym.qmin()).isZero();
            assertThat(asym.qmax()).isEqualTo((1 << bits) - 1);
        }
    }

    @Test void inconsistentSettingsAreRejected() {
        assertThatThrownBy(() -> QuantSpec.weights(4, false, 0).withGranularity(Granularity.PER_TENSOR).withGroupSize(32))
                .hasMessageContaining("per-tensor");
        assertThatThrownBy(() -> QuantSpec.weights(4, false, -1)).hasMessageContaining("group size");
        assertThatThrownBy(() -> Clipping.fixed(0)).hasMessageContaining("clip ratio");
        assertThatThrownBy(() -> Clipping.fixed(1.5)).hasMessageContaining("clip ratio");
        assertThatThrownBy(() -> Clipping.search(-1)).hasMessageContaining("norm");
        assertThatThrownBy(() -> Clipping.search(2.4, 10, 0.05)).hasMessageContaining("at least one ratio");
    }

    @Test void clipSearchTriesTheReferenceRatios() {
        Clipping c = Clipping.search();
        assertThat(c.candidates()).isEqualTo(80);
        assertThat(c.ratio(0)).isEqualTo(1.0);
        assertThat(c.ratio(79)).isCloseTo(0.21, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(Clipping.fixed(0.9).candidates()).isEqualTo(1);
        assertThat(Clipping.fixed(0.9).ratio(0)).isEqualTo(0.9);
    }

    // ------------------------------------------------------------ the shorthand

    @Test void shorthandGivesWeightActivationAndKvSpecs() {
        QuantConfig w4 = QuantConfig.parse("W4A16");
        assertThat(w4.weight()).isEqualTo(QuantSpec.weights(4, false, 0));
        assertThat(w4.activation()).isNull();
        assertThat(w4.key()).isNull();
        assertThat(w4.value()).isNull();
        assertThat(w4.quantizeEmbedding()).isFalse();
        assertThat(w4.quantizeHead()).isFalse();

        QuantConfig w2 = QuantConfig.parse("W2A16 g128");
        assertThat(w2.weight().groupSize()).isEqualTo(128);
        assertThat(w2.weight().granularity()).isEqualTo(Granularity.PER_CHANNEL);
        assertThat(QuantConfig.parse("w2a16g128")).isEqualTo(w2);

        QuantConfig w8a8 = QuantConfig.parse("W8A8");
        assertThat(w8a8.activation()).isEqualTo(QuantSpec.activations(8, false, 0));
        assertThat(w8a8.activation().dynamic()).isTrue();
        assertThat(w8a8.activation().granularity()).isEqualTo(Granularity.PER_TOKEN);
        assertThat(w8a8.key()).isNull();

        QuantConfig w4a4kv4 = QuantConfig.parse("W4A4KV4");
        assertThat(w4a4kv4.key()).isEqualTo(QuantSpec.kv(4, false, 0)).isEqualTo(w4a4kv4.value());
        assertThat(w4a4kv4.key().granularity()).isEqualTo(Granularity.PER_HEAD);

        QuantConfig kv16 = QuantConfig.parse("W4A4KV16");
        assertThat(kv16.activation().bits()).isEqualTo(4);
        assertThat(kv16.key()).isNull();
        assertThat(kv16.value()).isNull();

        QuantConfig k2v2 = QuantConfig.parse("W3A3K2V2");
        assertThat(k2v2.weight().bits()).isEqualTo(3);
        assertThat(k2v2.activation().bits()).isEqualTo(3);
        assertThat(k2v2.key().bits()).isEqualTo(2);
        assertThat(k2v2.value().bits()).isEqualTo(2);
        assertThat(QuantConfig.parse("W4A4K4V8").value().bits()).isEqualTo(8);

        for (String s : List.of("W4A16", "W3A16", "W2A16 g128", "W8A8", "W6A6", "W4A8", "W4A4KV4", "W4A4K4V8"))
            assertThat(QuantConfig.parse(s).shorthand()).isEqualTo(s);
        // equal K and V bits print as KV
        assertThat(QuantConfig.parse("W3A3K2V2").shorthand()).isEqualTo("W3A3KV2");
        assertThat(QuantConfig.parse("W3A3K2V2")).isEqualTo(QuantConfig.parse("W3A3KV2"));
        assertThat(QuantConfig.parse("W4A4KV16").shorthand()).isEqualTo("W4A4");
        assertThat(QuantConfig.parse("W16A16").weight()).isNull();
    }

    @Test void shorthandErrorsSayWhatIsExpected() {
        assertThatThrownBy(() -> QuantConfig.parse("W1A16")).hasMessageContaining("weight bits must be 2..8 or 16");
        assertThatThrownBy(() -> QuantConfig.parse("W4A9")).hasMessageContaining("activation bits must be 2..8 or 16");
        assertThatThrownBy(() -> QuantConfig.parse("W4A4KV1")).hasMessageContaining("KV bits");
        assertThatThrownBy(() -> QuantConfig.parse("int4")).hasMessageContaining("expected W<bits>A<bits>");
        assertThatThrownBy(() -> QuantConfig.parse("W4A16 g0")).hasMessageContaining("group size must be positive");
    }

    @Test void configVariantsAndReport() {
        QuantConfig c = QuantConfig.parse("W4A4KV4 g128").withKvGroup(64).withWeightClipping(Clipping.search()).withEmbeddingAndHead(false, true);
        assertThat(c.key().groupSize()).isEqualTo(64);
        assertThat(c.key().granularity()).isEqualTo(Granularity.PER_TOKEN);
        assertThat(c.weight().clipping()).isEqualTo(Clipping.search());
        assertThat(c.describe()).containsEntry("shorthand", "W4A4KV4 g128")
                .containsEntry("weights", "int4 asym g128 clip-search(p=2.4) static per-channel")
                .containsEntry("activations", "int4 asym dynamic per-token")
                .containsEntry("k_cache", "int4 asym g64 dynamic per-token")
                .containsEntry("embedding", "fp");
        assertThat(c.describe().get("head").toString()).contains("int4 asym g128");
        assertThat(c.toString()).startsWith("W4A4KV4 g128: weights int4").contains("head quantized");
        assertThat(QuantConfig.FP.shorthand()).isEqualTo("W16A16");
    }
}
