package dev.stiefel.cli;

import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.flat.Factor;
import dev.stiefel.quant.flat.FlatQuant;
import picocli.CommandLine.Option;

import java.util.List;

/**
 * FlatQuant's and the adaptive search's settings (methods flatquant, flatquant-rotation, adaptive-search). Each flag's
 * default is the field's initial value, taken from {@link FlatQuant.Options#defaults()} (picocli shows it as the default).
 */
final class FlatQuantFlags {
    private static final FlatQuant.Options D = FlatQuant.Options.defaults();

    @Option(names = "--flat-epochs", description = "FlatQuant: training epochs per block (fine-tuning after a search) (default: ${DEFAULT-VALUE})")
    int epochs = D.epochs();

    @Option(names = "--flat-lr", description = "FlatQuant: transforms' learning rate; clipping gets 10x (default: ${DEFAULT-VALUE})")
    double lr = D.lr();

    @Option(names = "--flat-batch", description = "FlatQuant: calibration samples per step (default: ${DEFAULT-VALUE})")
    int batch = D.batch();

    @Option(names = "--flat-alpha", description = "FlatQuant: SmoothQuant-style start of the per-channel scales (default: ${DEFAULT-VALUE})")
    double alpha = D.alpha();

    @Option(names = "--flat-no-scales", description = "FlatQuant: no per-channel scales") boolean noScales;

    @Option(names = "--flat-direct-inverse", description = "FlatQuant: affine factors as free matrices with their inverse on the tape (default: U·diag(σ)·Vᵀ)")
    boolean directInverse;

    @Option(names = "--plan", split = ",", paramLabel = "KIND",
            description = "flatquant: one transform kind per block, comma-separated: affine, rotation or none (default: all affine)")
    List<String> plan;

    @Option(names = "--search-epochs", description = "adaptive-search: epochs of the mixture before the argmax (default: ${DEFAULT-VALUE})")
    int searchEpochs = D.searchEpochs();

    @Option(names = "--search-warmup", description = "adaptive-search: first search epochs with the logits frozen at 0 (default: ${DEFAULT-VALUE})")
    int searchWarmup = D.searchWarmup();

    @Option(names = "--search-temperature", split = ",", paramLabel = "T",
            description = "adaptive-search: the mixture's temperature at the first and the last search epoch (default: ${DEFAULT-VALUE})")
    List<Double> temperature = new java.util.ArrayList<>(List.of(D.temperature(), D.finalTemperature()));

    @Option(names = "--search-softmax", description = "adaptive-search: a plain softmax instead of Gumbel-softmax") boolean softmax;

    @Option(names = "--search-lr", description = "adaptive-search: the mixture logits' learning rate (default: ${DEFAULT-VALUE})")
    double searchLr = D.searchLr();

    FlatQuant.Options options(long seed) {
        if (temperature.size() != 2) throw new IllegalArgumentException("--search-temperature: expected START,END, got " + temperature);
        List<TransformKind> kinds = plan == null ? null : plan.stream().map(TransformKind::parse).toList();
        return D.withEpochs(epochs).withLr(lr).withBatch(batch).withScales(!noScales, alpha)
                .withAffineForm(directInverse ? Factor.Form.FREE : Factor.Form.SVD).withPlan(kinds)
                .withSearch(searchEpochs, temperature.get(0), temperature.get(1), !softmax, searchLr).withSearchWarmup(searchWarmup).withSeed(seed);
    }
}
