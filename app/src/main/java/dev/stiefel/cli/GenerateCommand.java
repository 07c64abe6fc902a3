package dev.stiefel.cli;

import dev.stiefel.llama.Generator;
import dev.stiefel.llama.Sampler;
import dev.stiefel.llama.tokenizer.StreamDecoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.concurrent.Callable;

/** Streams a continuation of a prompt, then prints prefill and decode speed. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt, token by token.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;
    @Mixin BackendOption backendOption;
    @Option(names = "--prompt", defaultValue = "Once upon a time,", description = "the text to continue (default: ${DEFAULT-VALUE})") String prompt;
    @Option(names = {"-n", "--tokens"}, defaultValue = "100", description = "tokens to generate (default: ${DEFAULT-VALUE})") int tokens;
    @Option(names = "--temperature", defaultValue = "0", description = "0 is greedy (default: ${DEFAULT-VALUE})") double temperature;
    @Option(names = "--top-p", defaultValue = "0.9", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})") double topP;
    @Option(names = "--seed", defaultValue = "0", description = "sampling seed (default: ${DEFAULT-VALUE})") long seed;

    @Override public Integer call() throws Exception {
        if (tokens < 1) throw new IllegalArgumentException("-n must be positive, got " + tokens);
        try (ModelSession s = ModelSession.open(modelOptions)) {
            int[] ids = s.tokenizer().encode(prompt, true);
            Sampler sampler = temperature == 0 ? Sampler.greedy() : Sampler.of(temperature, topP, seed);
            System.out.print(prompt);
            System.out.flush();
            StreamDecoder decoder = s.tokenizer().streamDecoder(false);
            Generator.Result r = new Generator(s.model()).generate(ids, tokens, sampler, s.tokenizer().eos(), id -> {
                System.out.print(decoder.next(id));
                System.out.flush();
            });
            System.out.println();
            System.err.printf(Locale.ROOT, "%s: %d prompt tokens at %.1f tokens/s, %d generated at %.1f tokens/s%n", s.description(),
                    r.promptTokens(), r.prefillTokensPerSecond(), r.generated(), r.decodeTokensPerSecond());
        }
        return 0;
    }
}
