package dev.stiefel.cli;

import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.quant.export.PackedExport;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** A loaded model with its tokenizer, found the way users lay their files out. */
record ModelSession(LoadedModel loaded, Tokenizer tokenizer, Path tokenizerFile, String description) implements AutoCloseable {

    static ModelSession open(ModelOptions o) throws IOException {
        Path modelPath = o.model != null ? o.model : EmbeddedModel.directory();
        LoadedModel loaded = ModelFiles.load(modelPath);
        try {
            Path tokFile = o.tokenizer != null ? o.tokenizer : loaded.vocabulary() != null ? null : findTokenizer(loaded.source());
            Tokenizer tok = tokFile != null ? Tokenizers.load(tokFile) : loaded.embeddedTokenizer();
            if (tok.vocabSize() > loaded.weights().config().vocabSize())
                throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize() + " tokens but the model only "
                        + loaded.weights().config().vocabSize() + " embedding rows");
            // a model is named by its file or folder name, never by a machine's absolute path (reports and figures travel)
            String what = (o.model != null ? String.valueOf(modelPath.toAbsolutePath().normalize().getFileName()) : "embedded story model") + " (" + (loaded.isPacked() ? "packed" : loaded.format().toString().toLowerCase()) + ")";
            return new ModelSession(loaded, tok, tokFile, what);
        } catch (IOException | RuntimeException e) {
            loaded.close();
            throw e;
        }
    }

    /** tokenizer.json, tokenizer.model, tokenizer.bin, then any tok*.bin, in the model's directory. */
    static Path findTokenizer(Path model) throws IOException {
        Path dir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        for (String name : List.of("tokenizer.json", "tokenizer.model", "tokenizer.bin"))
            if (Files.isRegularFile(dir.resolve(name))) return dir.resolve(name);
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().matches("tok.*\\.bin")).sorted().findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no tokenizer found beside " + model
                            + " (looked for tokenizer.json, tokenizer.model, tokenizer.bin, tok*.bin); pass --tokenizer"));
        }
    }

    LlamaWeights weights() { return loaded.weights(); }

    /**
     * The model on the current backend: with a device backend its weights are uploaded once and stay there. A packed
     * model runs its codes (on the CPU's packed kernels, or kept packed on a device), with the activation/KV quantizers
     * and online transforms its file describes.
     */
    LlamaModel model() {
        Backend b = Backends.current();
        if (loaded.isPacked()) {
            try {
                return PackedExport.load(loaded, b).model();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        return new LlamaModel(b.name().equals(CpuBackend.NAME) ? loaded.weights() : loaded.weights().map(b::resident));
    }

    @Override public void close() { loaded.close(); }
}
