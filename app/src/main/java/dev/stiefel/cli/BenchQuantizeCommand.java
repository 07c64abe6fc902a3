package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.tensor.DType;
import picocli.CommandLine.Command;
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
    @Option(names = "--preset", defaultValue = "tinyllama-1.1b", description = "model shape: tinyllama-1.1b, llama-2-7b, smollm-135m (default ${DEFAULT-VALUE})") String preset;
    @Option(names = "--layers", description = "keep only this many blocks") Integer layers;
    @Option(names = "--dtype", defaultValue = "bf16", description = "weight storage: f32, bf16 or f16 (default ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--cache", defaultValue = "${java.io.tmpdir}/stiefel-synthetic", description = "where the checkpoint is kept (default ${DEFAULT-VALUE})") Path cache;
    @Unmatched List<String> quantizeArgs = new ArrayList<>();

    @Override public Integer call() throws Exception {
        for (String a : quantizeArgs)
            if (a.equals("--model") || a.startsWith("--model=")) throw new IllegalArgumentException("bench quantize: the model is the synthetic --preset; use quantize --model for a file");
        LlamaConfig c = BenchCommand.preset(preset, layers);
        DType type = DType.parse(dtype);
        Path file = cache.resolve(preset + "-" + type.lower() + "-" + c.layers() + "layers.gguf");
        if (!Files.isRegularFile(file)) {
            System.err.printf("writing %s (%d layers, random %s weights) to %s, once ...%n", preset, c.layers(), type.lower(), file);
            Files.createDirectories(cache);
            LlamaWeights w = SyntheticWeights.create(c, type, 1);
            GgufModelWriter.write(w, SyntheticWeights.vocabulary(c.vocabSize()), file, switch (type) {
                case F32 -> GgmlType.F32;
                case F16 -> GgmlType.F16;
                case BF16 -> GgmlType.BF16;
                case I32 -> throw new IllegalArgumentException("synthetic weights are f32, f16 or bf16");
            });
        } else System.err.printf("reusing %s%n", file);
        List<String> args = new ArrayList<>(List.of("quantize", "--model", file.toString()));
        args.addAll(quantizeArgs);
        return Main.commandLine().execute(args.toArray(String[]::new));
    }
}
