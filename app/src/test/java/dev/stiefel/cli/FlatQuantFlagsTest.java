package dev.stiefel.cli;

import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.flat.Factor;
import dev.stiefel.quant.flat.FlatQuant;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The FlatQuant flags parse into FlatQuant.Options; without flags they are the reference's defaults. */
class FlatQuantFlagsTest {

    @Command(name = "t") static final class Holder { @Mixin FlatQuantFlags flags; }

    private static FlatQuant.Options parse(String... args) {
        Holder h = new Holder();
        new CommandLine(h).parseArgs(args);
        return h.flags.options(7);
    }

    @Test void defaultsAreTheReferenceScripts() {
        FlatQuant.Options o = parse();
        FlatQuant.Options d = FlatQuant.Options.defaults().withSeed(7);
        assertThat(o).isEqualTo(d);
    }

    @Test void flagsReachTheOptions() {
        FlatQuant.Options o = parse("--flat-epochs", "3", "--flat-lr", "1e-3", "--flat-batch", "2", "--flat-alpha", "0.5", "--flat-no-scales",
                "--flat-direct-inverse", "--plan", "affine,rotation,none", "--search-epochs", "2", "--search-temperature", "2,0.5",
                "--search-softmax", "--search-lr", "0.1", "--search-warmup", "1");
        assertThat(o.epochs()).isEqualTo(3);
        assertThat(o.lr()).isEqualTo(1e-3);
        assertThat(o.batch()).isEqualTo(2);
        assertThat(o.alpha()).isEqualTo(0.5);
        assertThat(o.scales()).isFalse();
        assertThat(o.affineForm()).isEqualTo(Factor.Form.FREE);
        assertThat(o.plan()).isEqualTo(List.of(TransformKind.AFFINE, TransformKind.ROTATION, TransformKind.NONE));
        assertThat(o.searchEpochs()).isEqualTo(2);
        assertThat(o.temperature()).isEqualTo(2.0);
        assertThat(o.finalTemperature()).isEqualTo(0.5);
        assertThat(o.gumbel()).isFalse();
        assertThat(o.searchLr()).isEqualTo(0.1);
        assertThat(o.searchWarmup()).isEqualTo(1);
        assertThat(o.seed()).isEqualTo(7);
    }

    @Test void badValuesNameWhatIsWrong() {
        assertThatThrownBy(() -> parse("--plan", "affine,rotaton")).hasMessageContaining("affine, rotation or none");
        assertThatThrownBy(() -> parse("--search-temperature", "1")).hasMessageContaining("START,END");
        assertThatThrownBy(() -> parse("--flat-batch", "0")).hasMessageContaining("batch");
        assertThatThrownBy(() -> parse("--search-epochs", "2", "--search-warmup", "3")).hasMessageContaining("warm-up");
    }
}
