package dev.stiefel.llama.io;


import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One entry point for every format: {@link #load(Path)} looks at the path and picks the loader. A directory with a
 * config.json (or that config.json itself) is a Hugging Face checkpoint; a file starting with "GGUF" is GGUF;
 * a file starting with llama2.c's "ak42" magic is a versioned llama2.c export; any other {@code .bin} file is
 * taken as a legacy llama2.c checkpoint (which has no magic; its loader checks the header against the size).
 */
public final class ModelFiles {
    private ModelFiles() {}

    public static LoadedModel load(Path path) throws IOException {
        return switch (detect(path)) {
            case HUGGING_FACE -> {
                Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
                var section = HuggingFaceLoader.isCheckpoint(dir) ? HuggingFaceConfig.readQuantization(dir.resolve(HuggingFaceLoader.CONFIG)) : null;
                var sectionTensors = section != null ? PackedCheckpoint.sectionTensors(dir) : java.util.Map.<String, double[]>of();
                yield new LoadedModel(HuggingFaceLoader.load(dir), null, ModelFormat.HUGGING_FACE, dir, null, section, sectionTensors);
            }
            case GGUF -> GgufLoader.load(path);
            case LLAMA2C -> new LoadedModel(Llama2cLoader.load(path), null, ModelFormat.LLAMA2C, path);
        };
    }

    public static ModelFormat detect(Path path) throws IOException {
        if (!Files.exists(path)) throw new java.nio.file.NoSuchFileException(path.toString(), null, "no model at this path");
        if (Files.isDirectory(path)) {
            if (HuggingFaceLoader.isCheckpoint(path)) return ModelFormat.HUGGING_FACE;
            throw new ModelFormatException(path, "a directory without " + HuggingFaceLoader.CONFIG
                    + " is not a model; pass a Hugging Face checkpoint directory, a .gguf file or a llama2.c .bin file");
        }
        String name = path.getFileName().toString();
        if (name.equals(HuggingFaceLoader.CONFIG)) return ModelFormat.HUGGING_FACE;
        int magic = firstInt(path);
        if (magic == GgufFile.MAGIC) return ModelFormat.GGUF;
        if (magic == Llama2cLoader.MAGIC) return ModelFormat.LLAMA2C;
        if (name.endsWith(".bin")) return ModelFormat.LLAMA2C;
        if (name.endsWith(".safetensors"))
            throw new ModelFormatException(path, "a safetensors file alone has no config; pass its Hugging Face directory (with config.json)");
        throw new ModelFormatException(path, String.format("unrecognized model file: starts with 0x%08x, which is neither GGUF nor llama2.c's "
                + "\"ak42\", and the name does not end in .bin", magic));
    }

    private static int firstInt(Path path) throws IOException {
        byte[] b = new byte[4];
        try (InputStream in = Files.newInputStream(path)) {
            int n = in.readNBytes(b, 0, 4);
            if (n < 4) return 0;
        }
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

}
