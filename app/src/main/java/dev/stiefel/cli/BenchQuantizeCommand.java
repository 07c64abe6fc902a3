package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code quantize} on a checkpoint of a real model's shape with random weights, so anyone can reproduce a time and
 * memory figure without the real model: the checkpoint is a GGUF (matrices memory-mapped in their dtype, the synthetic
 * vocabulary embedded) written once under {@code --cache} and reused, and every other option goes to {@code quantize},
 * whose summary prints the seconds per stage and the peak heap. Perplexities of random weights mean nothing; the times do.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Run quantize on a synthetic checkpoint of a real model shape (written once, then reused) and report time per stage and peak "
                + "memory; options it does not know go to quantize (e.g. --method gptq --config W4A16g128 --nsamples 8 --seqlen 512 --calib c4).")
final class BenchQuantizeCommand implements Callable<Integer> {
    @Mixin SyntheticShape shape;
    @Option(names = "--cache", defaultValue = "${java.io.tmpdir}/stiefel-synthetic", description = "where the checkpoint is kept (default ${DEFAULT-VALUE})") Path cache;
    @Unmatched List<String> quantizeArgs = new ArrayList<>();

    @Override public Integer call() throws Exception {
        for (String a : quantizeArgs)
            if (a.equals("--model") || a.startsWith("--model=")) throw new IllegalArgumentException("bench quantize: the model is the synthetic --preset; use quantize --model for a file");
        LlamaConfig c = shape.config();
        DType type = shape.dtype(DType.BF16);
        Path file = cache.resolve(shape.preset + "-" + type.lower() + "-" + c.layers() + "layers.gguf");
        if (!Files.isRegularFile(file)) {
            System.err.printf("writing %s (%d layers, random %s weights) to %s, once ...%n", shape.preset, c.layers(), type.lower(), file);
            Files.createDirectories(cache);
            SyntheticShape.writeGguf(SyntheticWeights.source(c, type, 1), type, file); // one block in memory at a time
        } else System.err.printf("reusing %s%n", file);
        List<String> args = new ArrayList<>(List.of("quantize", "--model", file.toString()));
        args.addAll(quantizeArgs);
        return Main.commandLine().execute(args.toArray(String[]::new));
    }
}
