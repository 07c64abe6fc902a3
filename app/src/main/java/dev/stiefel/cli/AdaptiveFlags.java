package dev.stiefel.cli;

import dev.stiefel.quant.adaptive.OutlierGuided;
import dev.stiefel.quant.adaptive.TransformKind;
import picocli.CommandLine.Option;

/** The outlier-guided rule's settings (method adaptive-kurtosis; `analyze kurtosis` shows the plan they give). */
final class AdaptiveFlags {
    private static final OutlierGuided.Rule D = OutlierGuided.Rule.defaults();

    @Option(names = "--kurtosis-threshold", paramLabel = "Z", defaultValue = "" + OutlierGuided.DEFAULT_THRESHOLD,
            description = "adaptive-kurtosis: blocks whose robust z-score of weight kurtosis exceeds this get the high kind (default: ${DEFAULT-VALUE})")
    double threshold = D.threshold();

    @Option(names = "--kurtosis-high", paramLabel = "KIND",
            description = "adaptive-kurtosis: kind for blocks above the threshold (default: ${DEFAULT-VALUE})")
    String high = D.high().name().toLowerCase(java.util.Locale.ROOT);

    @Option(names = "--kurtosis-low", paramLabel = "KIND",
            description = "adaptive-kurtosis: kind for the other blocks (default: ${DEFAULT-VALUE})")
    String low = D.low().name().toLowerCase(java.util.Locale.ROOT);

    @Option(names = "--kurtosis-pooling", paramLabel = "HOW",
            description = "adaptive-kurtosis: raw (a block's weights as stored) or standardized (each matrix at unit variance first) (default: ${DEFAULT-VALUE})")
    String pooling = D.pooling().name().toLowerCase(java.util.Locale.ROOT);

    OutlierGuided.Rule rule() {
        return new OutlierGuided.Rule(threshold, TransformKind.parse(high), TransformKind.parse(low), OutlierGuided.Pooling.parse(pooling));
    }
}
