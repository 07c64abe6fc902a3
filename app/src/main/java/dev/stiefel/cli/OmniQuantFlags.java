package dev.stiefel.cli;

import dev.stiefel.quant.omni.OmniQuant;
import picocli.CommandLine.Option;

/**
 * OmniQuant's settings on the command line (docs/methods/omniquant.md). Every flag left out keeps
 * {@link OmniQuant.Options#defaults()}, the reference's {@code main.py} defaults and scripts' recipe; the ablation
 * methods omniquant-lwc, omniquant-let and omniquant-lwc-let then force LWC/LET on or off over {@code --[no-]lwc} and
 * {@code --[no-]let}.
 */
final class OmniQuantFlags {
    @Option(names = "--omni-epochs", paramLabel = "N",
            description = "OmniQuant: passes over the calibration set per block (default: 40 for 2-bit weights, else 20, as the reference scripts; 0: no training)")
    Integer epochs;

    @Option(names = "--lwc-lr", paramLabel = "LR", description = "OmniQuant: AdamW learning rate of LWC's clipping parameters (default: " + OmniQuant.Options.DEFAULT_LWC_LR + ")")
    Double lwcLr;

    @Option(names = "--let-lr", paramLabel = "LR", description = "OmniQuant: AdamW learning rate of LET's scales (default: " + OmniQuant.Options.DEFAULT_LET_LR + ")")
    Double letLr;

    @Option(names = "--omni-alpha", paramLabel = "A", description = "OmniQuant: SmoothQuant migration strength of LET's initial scales (default: " + OmniQuant.Options.DEFAULT_ALPHA + ")")
    Double alpha;

    @Option(names = "--lwc", negatable = true,
            description = "OmniQuant: learnable weight clipping (default: on when weights are quantized)")
    Boolean lwc;

    @Option(names = "--let", negatable = true,
            description = "OmniQuant: learnable equivalent transformation (default: on when activations or K/V are quantized)")
    Boolean let;

    @Option(names = "--aug-loss", negatable = true,
            description = "OmniQuant: also match the full-precision block on the quantized inputs (default: on for 2-bit weight-only)")
    Boolean augLoss;

    @Option(names = "--omni-query", negatable = true,
            description = "OmniQuant: quantize Q after RoPE with K's spec when K is quantized, as the reference's W4A4 (default: on)")
    Boolean quantizeQuery;

    /** The defaults with every given flag applied. */
    OmniQuant.Options options() {
        OmniQuant.Options o = OmniQuant.Options.defaults();
        if (epochs != null) o = o.withEpochs(epochs);
        if (lwcLr != null || letLr != null) o = o.withLearningRates(lwcLr != null ? lwcLr : o.lwcLr(), letLr != null ? letLr : o.letLr());
        if (alpha != null) o = o.withAlpha(alpha);
        if (lwc != null) o = o.withLwc(lwc);
        if (let != null) o = o.withLet(let);
        if (augLoss != null) o = o.withAugLoss(augLoss);
        if (quantizeQuery != null) o = o.withQuantizeQuery(quantizeQuery);
        return o;
    }
}
