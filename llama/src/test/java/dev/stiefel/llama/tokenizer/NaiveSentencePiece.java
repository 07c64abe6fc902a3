package dev.stiefel.llama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A deliberately plain reference for SentencePiece BPE encoding, written like llama2.c's encode(): keep a list of
 * piece strings, rescan every adjacent pair for the best-scoring merge (first one wins ties), merge, repeat. O(n²),
 * no queue, no shared code with the tokenizer under test (only the vocabulary). For normal pieces, no user-defined
 * or unused ones.
 */
final class NaiveSentencePiece {
    private final Map<String, Integer> ids = new HashMap<>();
    private final Vocabulary v;

    NaiveSentencePiece(Vocabulary v) {
        this.v = v;
        for (int i = v.size() - 1; i >= 0; i--) {
            int type = v.types()[i];
            if (type == Vocabulary.NORMAL) ids.put(v.tokens().get(i), i);
        }
    }

    int[] encode(String text) {
        if (text.isEmpty()) return new int[0];
        String s = (v.addSpacePrefix() ? " " + text : text).replace(' ', '\u2581');
        List<String> symbols = new ArrayList<>();
        s.codePoints().forEach(cp -> symbols.add(Character.toString(cp)));
        while (true) {
            float best = Float.NEGATIVE_INFINITY;
            int at = -1;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer id = ids.get(symbols.get(i) + symbols.get(i + 1));
                if (id != null && v.scores()[id] > best) {
                    best = v.scores()[id];
                    at = i;
                }
            }
            if (at < 0) break;
            symbols.set(at, symbols.get(at) + symbols.remove(at + 1));
        }
        List<Integer> out = new ArrayList<>();
        for (String sym : symbols) {
            Integer id = ids.get(sym);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : sym.getBytes(StandardCharsets.UTF_8)) out.add(v.tokens().indexOf(String.format("<0x%02X>", b & 0xff)));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
