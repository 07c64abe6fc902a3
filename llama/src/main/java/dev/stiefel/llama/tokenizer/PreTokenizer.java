package dev.stiefel.llama.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text (the stretch between two added tokens) into the words BPE merges within; merges never cross a word
 * boundary. Mirrors the pre-tokenizers of Hugging Face's tokenizers library that LLaMA-family tokenizer.json files
 * use: Split with a regex, ByteLevel (GPT-2's regex and the byte-to-unicode map), Digits, Metaspace, and a Sequence
 * of these, each applied to every piece the previous one produced.
 */
sealed interface PreTokenizer {

    /**
     * Appends the words of {@code text} to {@code out}.
     *
     * @param atTextStart whether {@code text} begins the whole input (Metaspace's "first" prepend scheme needs it)
     */
    void split(String text, boolean atTextStart, List<String> out);

    /** Whether words come out in GPT-2's byte alphabet (so the decoder must map characters back to bytes). */
    default boolean byteLevel() { return false; }

    /** GPT-2's split (openai/gpt-2 encoder.py): contractions, letter runs, digit runs, other runs, each with one optional leading space; whitespace. */
    Pattern GPT2 = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** LLaMA-3's split (its tokenizer.json): case-insensitive contractions, digits in groups of at most three, newlines kept apart. */
    Pattern LLAMA3 = Pattern.compile("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /**
     * Qwen2/Qwen2.5/Qwen3's split (the Split pre-tokenizer of their tokenizer.json; llama.cpp's "qwen2"): LLaMA-3's
     * regex except that every digit is a piece of its own.
     */
    Pattern QWEN2 = Pattern.compile("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /**
     * The pre-tokenizer llama.cpp associates with a GGUF {@code tokenizer.ggml.pre} name (llama-vocab.cpp), for the
     * names of LLaMA-family models: null/"default"/"gpt2"/"gpt-2" → GPT-2's ByteLevel regex; "llama-bpe"/"llama3" →
     * LLaMA-3's regex; "qwen2"/"deepseek-r1-qwen" → Qwen2's regex; "smollm"/"starcoder"/"refact" → single digits split
     * off, then GPT-2's regex.
     */
    static PreTokenizer forGgufName(String name) {
        if (name == null) name = "default";
        return switch (name) {
            case "default", "gpt2", "gpt-2" -> new ByteLevelStep(false, true);
            case "llama-bpe", "llama3", "llama-v3" -> new Sequence(List.of(new Split(LLAMA3, Behavior.ISOLATED, false), new ByteLevelStep(false, false)));
            case "qwen2", "deepseek-r1-qwen" -> new Sequence(List.of(new Split(QWEN2, Behavior.ISOLATED, false), new ByteLevelStep(false, false)));
            case "smollm", "starcoder", "refact" -> new Sequence(List.of(new Digits(true), new ByteLevelStep(false, true)));
            default -> throw new TokenizerFormatException("byte-level BPE pre-tokenizer '" + name + "' (GGUF tokenizer.ggml.pre) is not supported; "
                    + "supported: default, gpt2, llama-bpe, qwen2, smollm, starcoder, refact");
        };
    }

    /**
     * The names {@link #ggufName} writes, one per split llama.cpp implements for LLaMA-family byte-level vocabularies
     * (llama-vocab.cpp, commit c392e50): "gpt-2" (not "default", whose llama.cpp regexes differ from GPT-2's),
     * "llama-bpe" (LLaMA-3), "qwen2" (Qwen2, Qwen2.5, Qwen3), "smollm" (digits one by one, then GPT-2's).
     */
    List<String> GGUF_NAMES = List.of("gpt-2", "llama-bpe", "qwen2", "smollm");

    /**
     * The GGUF {@code tokenizer.ggml.pre} name under which llama.cpp splits text as {@code p} does, or null when none of
     * {@link #GGUF_NAMES} does: {@link #forGgufName} of the name has the same structure (steps, regex source and flags,
     * behaviours, ByteLevel settings), so a tokenizer.json's Split regex matches a name only when it is that name's
     * regex verbatim.
     */
    static String ggufName(PreTokenizer p) {
        String shape = shape(p);
        for (String name : GGUF_NAMES) if (shape(forGgufName(name)).equals(shape)) return name;
        return null;
    }

    /** A canonical description of what {@code p} does, with one-step and nested sequences flattened. */
    private static String shape(PreTokenizer p) {
        return switch (p) {
            case Sequence s -> s.steps().stream().map(PreTokenizer::shape).filter(x -> !x.isEmpty()).reduce((a, b) -> a + " | " + b).orElse("");
            case None n -> "";
            case Split s -> "split(" + s.pattern().pattern().pattern() + ", flags " + s.pattern().pattern().flags() + ", " + s.behavior() + ", invert " + s.invert() + ")";
            case Digits d -> "digits(" + d.individual() + ")";
            case ByteLevelStep b -> "byte-level(prefix " + b.addPrefixSpace() + ", regex " + b.useRegex() + ")";
            case Metaspace m -> "metaspace(" + m.replacement() + ", " + m.prepend() + ", " + m.splitWords() + ")";
        };
    }

    /** Leaves text whole. */
    record None() implements PreTokenizer {
        @Override public void split(String text, boolean atTextStart, List<String> out) {
            if (!text.isEmpty()) out.add(text);
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override public void split(String text, boolean atTextStart, List<String> out) {
            List<String> pieces = List.of(text);
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < pieces.size(); i++) step.split(pieces.get(i), atTextStart && i == 0, next);
                pieces = next;
            }
            out.addAll(pieces);
        }

        @Override public boolean byteLevel() { return steps.stream().anyMatch(PreTokenizer::byteLevel); }
    }

    /** What a split does with the matches of its pattern (tokenizers' SplitDelimiterBehavior). */
    enum Behavior {
        /** Matches and the text between them are separate pieces. */
        ISOLATED,
        /** Matches are dropped. */
        REMOVED,
        /** Each match ends the piece before it. */
        MERGED_WITH_PREVIOUS,
        /** Each match starts the piece after it. */
        MERGED_WITH_NEXT,
        /** Like isolated, with adjacent matches joined into one piece. */
        CONTIGUOUS
    }

    /** Splits around the matches of a pattern; with {@code invert} the matches are the pieces and the rest the delimiters. */
    record Split(FilePattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        Split(Pattern builtIn, Behavior behavior, boolean invert) { this(FilePattern.builtIn(builtIn), behavior, invert); }

        @Override public void split(String text, boolean atTextStart, List<String> out) {
            splitAround(pattern.matcher(text), text, behavior, invert, out);
        }
    }

    /** Splits runs of digits (Unicode \p{N}) off the text, or every single digit when {@code individual}. */
    record Digits(boolean individual) implements PreTokenizer {
        private static final Pattern ONE = Pattern.compile("\\p{N}"), RUN = Pattern.compile("\\p{N}+");

        @Override public void split(String text, boolean atTextStart, List<String> out) {
            splitAround((individual ? ONE : RUN).matcher(text), text, Behavior.ISOLATED, false, out);
        }
    }

    /**
     * GPT-2's byte-level step: optionally a leading space, optionally GPT-2's regex split, then every piece written in
     * the byte alphabet ({@link ByteLevel}).
     */
    record ByteLevelStep(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        @Override public void split(String text, boolean atTextStart, List<String> out) {
            if (addPrefixSpace && !text.startsWith(" ")) text = " " + text;
            if (!useRegex) {
                if (!text.isEmpty()) out.add(ByteLevel.encode(text));
                return;
            }
            List<String> pieces = new ArrayList<>();
            splitAround(GPT2.matcher(text), text, Behavior.ISOLATED, false, pieces);
            for (String p : pieces) out.add(ByteLevel.encode(p));
        }

        @Override public boolean byteLevel() { return true; }
    }

    enum PrependScheme { ALWAYS, FIRST, NEVER }

    /**
     * SentencePiece's whitespace handling as a pre-tokenizer: spaces become {@code replacement} ('▁'), one is prepended
     * (always, or only at the start of the input, or never), and with {@code split} every '▁' starts a new word.
     */
    record Metaspace(char replacement, PrependScheme prepend, boolean splitWords) implements PreTokenizer {
        @Override public void split(String text, boolean atTextStart, List<String> out) {
            String s = text.replace(' ', replacement);
            boolean add = prepend == PrependScheme.ALWAYS || (prepend == PrependScheme.FIRST && atTextStart);
            if (add && !s.isEmpty() && s.charAt(0) != replacement) s = replacement + s;
            if (!splitWords) {
                if (!s.isEmpty()) out.add(s);
                return;
            }
            int start = 0;
            for (int i = 1; i < s.length(); i++) {
                if (s.charAt(i) == replacement) {
                    out.add(s.substring(start, i));
                    start = i;
                }
            }
            if (start < s.length()) out.add(s.substring(start));
        }
    }

    /** The pieces of {@code text} around the non-empty matches of {@code m}, arranged as {@code behavior} says. */
    private static void splitAround(Matcher m, String text, Behavior behavior, boolean invert, List<String> out) {
        // (start, end, isDelimiter) spans covering the text
        List<int[]> spans = new ArrayList<>();
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) continue;
            if (m.start() > last) spans.add(new int[]{last, m.start(), invert ? 1 : 0});
            spans.add(new int[]{m.start(), m.end(), invert ? 0 : 1});
            last = m.end();
        }
        if (last < text.length()) spans.add(new int[]{last, text.length(), invert ? 1 : 0});
        int pieceStart = 0;
        for (int i = 0; i < spans.size(); i++) {
            int[] s = spans.get(i);
            boolean delimiter = s[2] == 1;
            switch (behavior) {
                case ISOLATED -> out.add(text.substring(s[0], s[1]));
                case REMOVED -> { if (!delimiter) out.add(text.substring(s[0], s[1])); }
                case MERGED_WITH_PREVIOUS -> {
                    if (delimiter || i == spans.size() - 1) {
                        out.add(text.substring(pieceStart, s[1]));
                        pieceStart = s[1];
                    }
                }
                case MERGED_WITH_NEXT -> {
                    if (delimiter && s[0] > pieceStart) {
                        out.add(text.substring(pieceStart, s[0]));
                        pieceStart = s[0];
                    }
                    if (i == spans.size() - 1) out.add(text.substring(pieceStart, s[1]));
                }
                case CONTIGUOUS -> {
                    boolean joinsNext = delimiter && i + 1 < spans.size() && spans.get(i + 1)[2] == 1;
                    if (!joinsNext) {
                        out.add(text.substring(pieceStart, s[1]));
                        pieceStart = s[1];
                    }
                }
            }
            if (behavior == Behavior.ISOLATED || behavior == Behavior.REMOVED) pieceStart = s[1];
        }
    }
}
