package dev.stiefel.cli;

import dev.stiefel.llama.Generator;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.Sampler;
import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.llama.eval.Perplexity;
import dev.stiefel.llama.tokenizer.StreamDecoder;
import dev.stiefel.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The main job in a few minutes on any machine: load a model (the embedded story model unless --model says
 * otherwise), tell a story with it, and measure its perplexity on held-out text, the figure quantization is judged by.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Load a model (default: the embedded story model), generate a story and measure perplexity.")
final class DemoCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;
    @Option(names = "--dataset", defaultValue = "stories", description = "perplexity text (default: ${DEFAULT-VALUE}, held-out generated stories)") String dataset;
    @Option(names = "--windows", defaultValue = "40", description = "perplexity windows to score (default: ${DEFAULT-VALUE})") int windows;

    @Override public Integer call() throws Exception {
        try (ModelSession s = ModelSession.open(modelOptions)) {
            LlamaConfig c = s.weights().config();
            long params = s.weights().tensors().stream().mapToLong(Tensor::numel).sum();
            System.out.printf(Locale.ROOT, "model      %s%n", s.description());
            System.out.printf(Locale.ROOT, "shape      dim %d, %d layers, %d heads (%d KV), head dim %d, SwiGLU %d, vocab %d, context %d: %,d parameters%n",
                    c.dim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.hiddenDim(), c.vocabSize(), c.maxSeqLen(), params);

            System.out.println();
            String prompt = "Once upon a time,"; // the training stories continue "time," as one piece
            System.out.print(prompt);
            StreamDecoder decoder = s.tokenizer().streamDecoder(false);
            Generator.Result g = new Generator(s.model()).generate(s.tokenizer().encode(prompt, true), 80, Sampler.greedy(),
                    s.tokenizer().eos(), id -> { System.out.print(decoder.next(id)); System.out.flush(); });
            System.out.printf(Locale.ROOT, "%n(greedy, %d tokens at %.0f tokens/s)%n%n", g.generated(), g.decodeTokensPerSecond());

            EvalDataset data = DataSources.evalText(dataset);
            int window = Math.min(256, c.maxSeqLen());
            int[] tokens = data.tokens(t -> s.tokenizer().encode(t, false), s.tokenizer().bos(), false);
            Perplexity.Options o = new Perplexity.Options(window, windows, 0);
            Perplexity.Result r;
            try (Progress p = Progress.of("perplexity", Perplexity.windows(tokens.length, o).size(), "windows")) {
                r = Perplexity.evaluate(s.model(), tokens, o, p);
            }
            System.out.printf(Locale.ROOT, "perplexity %.4f on %s (%d windows of %d tokens)%n", r.perplexity(), data.name(), r.windows(), r.seqLen());
        }
        return 0;
    }
}
