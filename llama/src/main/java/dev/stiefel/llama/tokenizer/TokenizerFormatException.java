package dev.stiefel.llama.tokenizer;

/**
 * A tokenizer file that cannot be read, or that asks for something this package does not implement. The message
 * names the file and, where it applies, the byte offset or the JSON field and what was expected there.
 */
public class TokenizerFormatException extends RuntimeException {
    public TokenizerFormatException(String message) { super(message); }

    public TokenizerFormatException(String message, Throwable cause) { super(message, cause); }
}
