package dev.stiefel.llama.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A regex that came from a file (tokenizer.json's Split pre-tokenizer and Replace normalizer), compiled and matched
 * so that no file can make it hang:
 * <ul>
 *   <li>its source is at most {@link #MAX_PATTERN_CHARS} characters: java.util.regex compiles a literal of n characters
 *       in O(n²) (the Boyer-Moore table of a quoted string), so a 100,000-character Replace pattern took 22 s to compile;
 *       real pre-tokenizer regexes are a few hundred characters;</li>
 *   <li>matching runs over a {@link Budgeted} view of the text that counts the engine's character reads and stops a
 *       match past {@link #STEPS_PER_CHAR} reads per character (plus {@link #BASE_STEPS}): catastrophic backtracking
 *       (such as {@code (a+)+b}) is exponential, while the regexes of real tokenizers read each character a few dozen
 *       times. A step budget rather than a deadline keeps the outcome the same on every machine and under any load.</li>
 * </ul>
 *
 * @param pattern the compiled regex
 * @param where   the file and JSON field it came from, for error messages
 */
record FilePattern(Pattern pattern, String where) {
    static final int MAX_PATTERN_CHARS = 4096;
    static final long STEPS_PER_CHAR = 10_000, BASE_STEPS = 1_000_000;

    /** A pattern compiled into the program (not from a file): matched without a budget. */
    static FilePattern builtIn(Pattern pattern) { return new FilePattern(pattern, null); }

    /**
     * Compiles {@code regex} (or the literal {@code regex} when {@code literal}) read at {@code where}.
     *
     * @throws TokenizerFormatException when it is too long or does not compile
     */
    static FilePattern compile(String regex, boolean literal, String where) {
        if (regex.length() > MAX_PATTERN_CHARS)
            throw new TokenizerFormatException(where + ": pattern of " + regex.length() + " characters, expected at most " + MAX_PATTERN_CHARS);
        try {
            return new FilePattern(literal ? Pattern.compile(Pattern.quote(regex)) : Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS), where);
        } catch (PatternSyntaxException e) {
            throw new TokenizerFormatException(where + ": regex does not compile in java.util.regex: " + e.getDescription() + " in " + regex);
        } catch (StackOverflowError e) { // the compiler recurses once per nested group
            throw new TokenizerFormatException(where + ": regex nests too deeply to compile");
        }
    }

    /** A matcher over {@code text}; a file's pattern reads it through a step budget. */
    Matcher matcher(String text) {
        return pattern.matcher(where == null ? text : new Budgeted(text, where, BASE_STEPS + STEPS_PER_CHAR * text.length()));
    }

    /** The text a file's regex reads: every character read counts, and past the budget the match fails with the field named. */
    static final class Budgeted implements CharSequence {
        private final String text;
        private final String where;
        private long stepsLeft;

        Budgeted(String text, String where, long steps) {
            this.text = text;
            this.where = where;
            this.stepsLeft = steps;
        }

        @Override public char charAt(int index) {
            if (--stepsLeft < 0)
                throw new TokenizerFormatException(where + ": regex " + "needs more than " + STEPS_PER_CHAR
                        + " steps per character on a text of " + text.length() + " characters (catastrophic backtracking)");
            return text.charAt(index);
        }

        @Override public int length() { return text.length(); }

        @Override public CharSequence subSequence(int start, int end) { return text.substring(start, end); }

        @Override public String toString() { return text; }
    }
}
