package dev.stiefel.llama.train;

import dev.stiefel.llama.tokenizer.Vocabulary;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Trains a SentencePiece-style BPE vocabulary (the kind LLaMA-1/2 and llama2.c use) on a text: spaces become '▁'
 * and start the word they precede (plus the dummy prefix at the start), words never merge across that boundary,
 * and the most frequent adjacent pair of symbols is merged until the vocabulary is full (Sennrich et al. 2016).
 * Pieces get the score −(merge rank), so an encoder that always merges the highest-scoring pair (SentencePiece,
 * llama.cpp) replays the merges in training order. Characters outside the text's printable set, newlines included,
 * are left to the 256 byte-fallback pieces, as in LLaMA's vocabulary.
 *
 * <p>Layout: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, 3..258 &lt;0x00&gt;..&lt;0xFF&gt;, then single characters by
 * frequency, then merged pieces in merge order.
 */
public final class BpeTrainer {
    private BpeTrainer() {}

    public static final String SPACE = "\u2581";

    public static Vocabulary train(String text, int vocabSize) {
        // word frequencies, each word a list of code points starting with ▁ (the dummy prefix makes the first one too)
        Map<String, Integer> words = new HashMap<>();
        StringBuilder word = new StringBuilder();
        String normal = SPACE + text.replace(" ", SPACE);
        for (int i = 0; i < normal.length(); ) {
            int cp = normal.codePointAt(i);
            i += Character.charCount(cp);
            boolean starts = cp == SPACE.codePointAt(0) || !printable(cp);
            if (starts && !word.isEmpty()) { words.merge(word.toString(), 1, Integer::sum); word.setLength(0); }
            if (!printable(cp)) continue; // byte fallback encodes it; it never joins a piece
            word.appendCodePoint(cp);
        }
        if (!word.isEmpty()) words.merge(word.toString(), 1, Integer::sum);

        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        int fixed = tokens.size();
        if (vocabSize <= fixed) throw new IllegalArgumentException("bpe: vocabulary size must exceed " + fixed + " (specials and bytes), got " + vocabSize);

        // single characters by frequency (ties by code point, so training is deterministic)
        Map<Integer, Long> charCount = new TreeMap<>();
        for (var e : words.entrySet()) e.getKey().codePoints().forEach(cp -> charCount.merge(cp, (long) e.getValue(), Long::sum));
        List<Map.Entry<Integer, Long>> chars = new ArrayList<>(charCount.entrySet());
        chars.sort((x, y) -> y.getValue().equals(x.getValue()) ? Integer.compare(x.getKey(), y.getKey()) : Long.compare(y.getValue(), x.getValue()));
        for (var c : chars) {
            if (tokens.size() == vocabSize) break;
            tokens.add(new String(Character.toChars(c.getKey())));
        }

        List<List<String>> symbols = new ArrayList<>();
        List<Integer> freq = new ArrayList<>();
        for (var e : new TreeMap<>(words).entrySet()) {
            List<String> s = new ArrayList<>();
            e.getKey().codePoints().forEach(cp -> s.add(new String(Character.toChars(cp))));
            symbols.add(s);
            freq.add(e.getValue());
        }
        java.util.Set<String> known = new java.util.HashSet<>(tokens);
        int merges = 0;
        while (tokens.size() < vocabSize) {
            Map<String, Long> pairs = new HashMap<>();
            for (int w = 0; w < symbols.size(); w++) {
                List<String> s = symbols.get(w);
                for (int i = 0; i + 1 < s.size(); i++) pairs.merge(s.get(i) + "\u0000" + s.get(i + 1), (long) freq.get(w), Long::sum);
            }
            String best = null;
            long bestCount = 0;
            for (var p : pairs.entrySet()) {
                String merged = p.getKey().replace("\u0000", "");
                if (known.contains(merged)) continue;
                if (p.getValue() > bestCount || (p.getValue() == bestCount && p.getKey().compareTo(best) < 0)) {
                    best = p.getKey();
                    bestCount = p.getValue();
                }
            }
            if (best == null || bestCount < 2) break; // nothing left worth a piece
            String left = best.substring(0, best.indexOf('\u0000')), right = best.substring(best.indexOf('\u0000') + 1);
            String merged = left + right;
            for (List<String> s : symbols)
                for (int i = 0; i + 1 < s.size(); i++)
                    if (s.get(i).equals(left) && s.get(i + 1).equals(right)) { s.set(i, merged); s.remove(i + 1); }
            tokens.add(merged);
            known.add(merged);
            merges++;
        }

        float[] scores = new float[tokens.size()];
        int[] types = new int[tokens.size()];
        types[0] = Vocabulary.UNKNOWN;
        types[1] = types[2] = Vocabulary.CONTROL;
        for (int i = 3; i < fixed; i++) types[i] = Vocabulary.BYTE;
        int charEnd = tokens.size() - merges;
        for (int i = fixed; i < tokens.size(); i++) {
            types[i] = Vocabulary.NORMAL;
            // merged pieces: −(merge rank); characters rank below every merge
            scores[i] = i >= charEnd ? -(i - charEnd) : -(merges + (i - fixed));
        }
        return new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, tokens, scores, types, List.of(), 1, 2, 0, true, true);
    }

    /** Characters that get their own piece: not control characters and not whitespace other than the space. */
    private static boolean printable(int cp) {
        return cp == SPACE.codePointAt(0) || !(Character.isISOControl(cp) || Character.isWhitespace(cp));
    }
}
