package dev.stiefel.llama.tokenizer;

import java.text.Normalizer;
import java.util.List;
import java.util.Locale;

/**
 * A tokenizer.json normalizer: rewrites each stretch of text between added tokens before pre-tokenization. The ones
 * LLaMA-family files use: Prepend and Replace (LLaMA-2/TinyLlama write SentencePiece's dummy prefix and '▁' this way),
 * Unicode normal forms, Lowercase, Strip, and a Sequence of these.
 */
sealed interface TextNormalizer {
    String apply(String text);

    /** Prepends a string to non-empty text (tokenizers' Prepend). */
    record Prepend(String prefix) implements TextNormalizer {
        @Override public String apply(String text) { return text.isEmpty() ? text : prefix + text; }
    }

    /** Replaces every match of a regex or every occurrence of a literal string. */
    record Replace(FilePattern pattern, String content) implements TextNormalizer {

        @Override public String apply(String text) {
            return pattern.matcher(text).replaceAll(java.util.regex.Matcher.quoteReplacement(content));
        }
    }

    record UnicodeForm(Normalizer.Form form) implements TextNormalizer {
        @Override public String apply(String text) { return Normalizer.normalize(text, form); }
    }

    record Lowercase() implements TextNormalizer {
        @Override public String apply(String text) { return text.toLowerCase(Locale.ROOT); }
    }

    /** Removes leading and/or trailing whitespace. */
    record Strip(boolean left, boolean right) implements TextNormalizer {
        @Override public String apply(String text) {
            if (left) text = text.stripLeading();
            if (right) text = text.stripTrailing();
            return text;
        }
    }

    record Sequence(List<TextNormalizer> steps) implements TextNormalizer {
        @Override public String apply(String text) {
            for (TextNormalizer n : steps) text = n.apply(text);
            return text;
        }
    }
}
