package dev.stiefel.llama.io;

/** The on-disk formats a model can come in. */
public enum ModelFormat {
    /** A Hugging Face directory: config.json plus safetensors. */
    HUGGING_FACE,
    /** llama.cpp's GGUF (v3). */
    GGUF,
    /** llama2.c's .bin checkpoint: the legacy header or a versioned "ak42" export. */
    LLAMA2C
}
