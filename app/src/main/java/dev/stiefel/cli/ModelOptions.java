package dev.stiefel.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** --model and --tokenizer, shared by every command that runs a model. */
final class ModelOptions {
    @Option(names = "--model", paramLabel = "PATH",
            description = "Hugging Face checkpoint directory, .gguf file or llama2.c .bin (default: the embedded story model)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "tokenizer.model, tokenizer.json or llama2.c tokenizer.bin (default: the GGUF's own vocabulary, or the one beside the model)")
    Path tokenizer;
}
