package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.quant.export.PackedExport;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** What this machine gives the kernels: JDK, vector width, threads, backends; with --model, what a model file holds. */
@Command(name = "info", description = "Print the JDK, SIMD width, thread count and available backends; with --model, the model's shape, "
        + "and for a packed model its method, quantization, online transforms and bytes.")
final class InfoCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "PATH", description = "also describe this model (any format Stiefel reads)") Path model;

    @Override public Integer call() throws Exception {
        System.out.printf("java        %s (%s)%n", Runtime.version(), System.getProperty("java.vm.name"));
        System.out.printf("os / cpu    %s %s, %d hardware threads%n", System.getProperty("os.name"), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors());
        System.out.printf("simd        %s: %d f32 lanes (%d-bit)%n", FloatVector.SPECIES_PREFERRED, FloatVector.SPECIES_PREFERRED.length(),
                FloatVector.SPECIES_PREFERRED.vectorBitSize());
        System.out.printf("threads     %d (-Dstiefel.threads to change)%n", Parallel.threads());
        System.out.printf("backend     %s (available: %s)%n", Backends.current().name(), String.join(", ", Backends.names()));
        for (String device : Backends.describe()) System.out.printf("            %s%n", device);
        System.out.printf("max heap    %d MiB%n", Runtime.getRuntime().maxMemory() >> 20);
        if (model != null) describe(model);
        return 0;
    }

    private static void describe(Path path) throws Exception {
        try (var loaded = dev.stiefel.llama.io.ModelFiles.load(path)) {
            LlamaConfig c = loaded.weights().config();
            System.out.printf("model       %s (%s, %s)%n", path.toAbsolutePath().normalize().getFileName(), loaded.format().toString().toLowerCase(Locale.ROOT),
                    c.architecture().toString().toLowerCase(Locale.ROOT));
            System.out.printf("shape       dim %d, hidden %d, %d layers, %d heads (%d KV) of %d, vocab %d, context %d%n", c.dim(), c.hiddenDim(), c.layers(),
                    c.heads(), c.kvHeads(), c.headDim(), c.vocabSize(), c.maxSeqLen());
            long params = 0, stored = 0;
            for (Tensor t : loaded.weights().tensors()) { // each once: a tied head is the embedding
                params += t.numel();
                stored += SyntheticShape.storedBytes(t);
            }
            System.out.printf("weights     %,d parameters in %.2f MB (%.2f bits per parameter)%n", params, stored / 1e6, 8.0 * stored / params);
            if (!loaded.isPacked()) return;
            QuantizedModel q = PackedExport.load(loaded);
            System.out.printf("packed      %s, %s%n", q.report().method(), q.config());
            System.out.printf("packing     %s%n", loaded.quantization().path("packing"));
            for (var o : q.online()) System.out.printf("online      %s%n", o.describe());
            var fallback = loaded.quantization().path("fallback");
            for (var it = fallback.fields(); it.hasNext(); ) {
                var e = it.next();
                System.out.printf("f32         %s: %s%n", e.getKey(), e.getValue().asText());
            }
        }
    }
}
