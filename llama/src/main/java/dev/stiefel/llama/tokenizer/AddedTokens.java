package dev.stiefel.llama.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens (special tokens such as {@code <|begin_of_text|>}, and user-added words) in raw text before any
 * normalization or splitting, leftmost first and longest at a position, as tokenizers' AddedVocabulary does. The text
 * between them is tokenized normally; the tokens themselves become their ids whole.
 */
final class AddedTokens {

    /**
     * One added token.
     *
     * @param lstrip     whether whitespace before the token belongs to it (is dropped from the text before)
     * @param rstrip     whether whitespace after the token belongs to it
     * @param singleWord whether it only matches as a whole word (no letter, digit or '_' right before or after)
     */
    record Token(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord) {}

    /** A stretch of the input: text [start, end) when {@code id} is -1, else the added token {@code id}. */
    record Segment(int start, int end, int id) {}

    private final Map<Character, List<Token>> byFirstChar = new HashMap<>();

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens)
            if (!t.content().isEmpty()) byFirstChar.computeIfAbsent(t.content().charAt(0), c -> new ArrayList<>()).add(t);
        for (List<Token> list : byFirstChar.values()) list.sort(Comparator.comparingInt((Token t) -> t.content().length()).reversed());
    }

    boolean isEmpty() { return byFirstChar.isEmpty(); }

    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        int textStart = 0;
        for (int pos = 0; pos < text.length(); pos++) {
            List<Token> candidates = byFirstChar.get(text.charAt(pos));
            if (candidates == null) continue;
            Token match = null;
            for (Token t : candidates) {
                if (text.startsWith(t.content(), pos) && (!t.singleWord() || isWholeWord(text, pos, pos + t.content().length()))) {
                    match = t;
                    break;
                }
            }
            if (match == null) continue;
            int before = pos, after = pos + match.content().length();
            if (match.lstrip()) while (before > textStart && Character.isWhitespace(text.charAt(before - 1))) before--;
            if (match.rstrip()) while (after < text.length() && Character.isWhitespace(text.charAt(after))) after++;
            if (before > textStart) out.add(new Segment(textStart, before, -1));
            out.add(new Segment(before, after, match.id()));
            textStart = after;
            pos = after - 1;
        }
        if (textStart < text.length()) out.add(new Segment(textStart, text.length(), -1));
        return out;
    }

    private static boolean isWholeWord(String text, int start, int end) {
        return (start == 0 || !isWordChar(text.charAt(start - 1))) && (end == text.length() || !isWordChar(text.charAt(end)));
    }

    private static boolean isWordChar(char c) { return Character.isLetterOrDigit(c) || c == '_'; }
}
