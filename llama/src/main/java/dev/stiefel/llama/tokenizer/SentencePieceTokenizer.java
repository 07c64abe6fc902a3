package dev.stiefel.llama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece BPE as LLaMA-1/2 use it (google/sentencepiece's {@code bpe_model.cc}; llama.cpp's
 * {@code llm_tokenizer_spm} computes the same ids for this vocabulary).
 * <ol>
 * <li>Normalize: with the identity normalizer only optional whitespace clean-up; then prepend one space (the
 *     "dummy prefix", so "world" and "hello world" end in the same piece) and write every space as '▁' (U+2581).</li>
 * <li>Split into Unicode characters (user-defined pieces stay whole and never merge).</li>
 * <li>Repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece (ties: leftmost), using a
 *     priority queue of candidate pairs over a linked list of symbols: O(n log n), not a rescan per merge.</li>
 * <li>Emit each remaining symbol's id; a symbol that is no piece (a character the vocabulary lacks) becomes its
 *     UTF-8 bytes as {@code <0xXX>} tokens when the vocabulary has them (byte fallback), else the unknown token.</li>
 * </ol>
 * Only normal, user-defined and unused pieces are merge targets, as in SentencePiece: control pieces ({@code <s>})
 * and byte pieces are never produced by merging text.
 */
public final class SentencePieceTokenizer implements Tokenizer {
    static final char SPACE = '\u2581';
    /** SentencePiece's default rendering of the unknown piece (TrainerSpec.unk_surface). */
    static final String UNK_SURFACE = " \u2047 ";

    private final Vocabulary vocab;
    private final boolean removeExtraWhitespaces;
    private final int[] types;
    private final float[] scores;
    private final PieceIndex index;     // merge targets only
    private final PieceIndex allPieces;
    private final int[] byteTokens = new int[256];
    private final boolean byteFallback;
    private final String[] userDefined;
    private final byte[][] decoded;
    /** BMP characters that occur in no merge target longer than one character: no merge can cross them. */
    private final boolean[] isolating = new boolean[Character.MAX_VALUE + 1];

    /**
     * @param vocab                  a {@link Vocabulary.Kind#SENTENCEPIECE} vocabulary with scores; token types may
     *                               be null (then inferred as llama2.c's tokenizer.bin implies: unk, control bos/eos,
     *                               {@code <0xXX>} byte pieces, the rest normal)
     * @param removeExtraWhitespaces SentencePiece's normalizer flag (false for LLaMA): drop leading and trailing spaces
     *                               and collapse runs of spaces before encoding
     */
    public SentencePieceTokenizer(Vocabulary vocab, boolean removeExtraWhitespaces) {
        if (vocab.kind() != Vocabulary.Kind.SENTENCEPIECE)
            throw new IllegalArgumentException("SentencePiece tokenizer needs a SENTENCEPIECE vocabulary, got " + vocab.kind());
        Tokenizers.validate(vocab, "SentencePiece vocabulary");
        this.vocab = vocab;
        this.removeExtraWhitespaces = removeExtraWhitespaces;
        this.scores = vocab.scores();
        this.types = vocab.types() != null ? vocab.types() : inferTypes(vocab.tokens(), vocab.unk(), vocab.bos(), vocab.eos());
        List<String> mergeable = new ArrayList<>(vocab.size());
        List<String> users = new ArrayList<>();
        Arrays.fill(byteTokens, -1);
        for (int id = 0; id < vocab.size(); id++) {
            String piece = vocab.tokens().get(id);
            int type = types[id];
            boolean target = type == Vocabulary.NORMAL || type == Vocabulary.USER_DEFINED || type == Vocabulary.UNUSED;
            mergeable.add(target ? piece : null);
            if (type == Vocabulary.USER_DEFINED) users.add(piece);
            if (type == Vocabulary.BYTE) {
                int b = parseByte(piece); // a <0xXX> piece: validate checked
                if (byteTokens[b] < 0) byteTokens[b] = id;
            }
        }
        this.index = new PieceIndex(mergeable);
        Arrays.fill(isolating, true);
        for (String piece : mergeable)
            if (piece != null && piece.length() > 1) for (int i = 0; i < piece.length(); i++) isolating[piece.charAt(i)] = false;
        for (String user : users) for (int i = 0; i < user.length(); i++) isolating[user.charAt(i)] = false;
        for (char c = Character.MIN_SURROGATE; c <= Character.MAX_SURROGATE; c++) isolating[c] = false;
        this.allPieces = new PieceIndex(vocab.tokens());
        this.byteFallback = Arrays.stream(byteTokens).anyMatch(t -> t >= 0);
        users.sort((a, b) -> b.length() - a.length()); // longest match first
        this.userDefined = users.toArray(String[]::new);
        this.decoded = new byte[vocab.size()][];
        for (int id = 0; id < vocab.size(); id++) decoded[id] = pieceBytes(id);
    }

    public Vocabulary vocabulary() { return vocab; }

    /** Types as SentencePiece's llama2.c export implies them when a file carries none. */
    static int[] inferTypes(List<String> tokens, int unk, int bos, int eos) {
        int[] t = new int[tokens.size()];
        for (int id = 0; id < t.length; id++) {
            if (id == unk) t[id] = Vocabulary.UNKNOWN;
            else if (id == bos || id == eos) t[id] = Vocabulary.CONTROL;
            else if (parseByte(tokens.get(id)) >= 0) t[id] = Vocabulary.BYTE;
            else t[id] = Vocabulary.NORMAL;
        }
        return t;
    }

    /** The byte a {@code <0xXX>} piece stands for, or -1 if the piece has another form. */
    static int parseByte(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') return -1;
        int hi = Character.digit(piece.charAt(3), 16), lo = Character.digit(piece.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addBos && vocab.bos() >= 0) out.add(vocab.bos());
        String normalized = normalize(text);
        // Merges never cross a character no multi-character piece contains (LLaMA: '\n'), so the text can be cut
        // there and each stretch merged alone: the same result with small queues that stay in cache.
        int start = 0;
        for (int i = 0; i < normalized.length(); i++) {
            if (isolating[normalized.charAt(i)]) {
                if (i > start) new Segmentation(normalized.substring(start, i)).run(out);
                new Segmentation(normalized.substring(i, i + 1)).run(out);
                start = i + 1;
            }
        }
        if (start < normalized.length()) new Segmentation(normalized.substring(start)).run(out);
        return out.toArray();
    }

    /** Whitespace clean-up (optional), the dummy-prefix space, spaces as '▁'. Empty text stays empty. */
    String normalize(String text) {
        if (removeExtraWhitespaces) text = collapseSpaces(text);
        if (text.isEmpty()) return text;
        StringBuilder sb = new StringBuilder(text.length() + 1);
        if (vocab.addSpacePrefix()) sb.append(SPACE);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            sb.append(c == ' ' ? SPACE : c);
        }
        return sb.toString();
    }

    private static String collapseSpaces(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ' ' && (sb.isEmpty() || sb.charAt(sb.length() - 1) == ' ')) continue;
            sb.append(c);
        }
        if (!sb.isEmpty() && sb.charAt(sb.length() - 1) == ' ') sb.setLength(sb.length() - 1);
        return sb.toString();
    }

    /** One encoding call's symbols: a doubly linked list over [start, end) ranges of the normalized text. */
    private final class Segmentation {
        final String s;
        final int[] start, end, prev, next;
        final boolean[] frozen;
        final PairHeap queue = new PairHeap();
        Map<String, String[]> unusedSplits; // how an unused piece was formed, to undo it (SentencePiece's rev_merge)

        Segmentation(String s) {
            this.s = s;
            int n = s.length();
            start = new int[n];
            end = new int[n];
            prev = new int[n];
            next = new int[n];
            frozen = new boolean[n];
            int count = 0;
            for (int i = 0; i < n; ) {
                int len = userDefinedAt(i);
                boolean user = len > 0;
                if (!user) len = Character.charCount(s.codePointAt(i));
                start[count] = i;
                end[count] = i + len;
                frozen[count] = user;
                prev[count] = count - 1;
                next[count] = count + 1;
                count++;
                i += len;
            }
            next[count - 1] = -1;
        }

        private int userDefinedAt(int i) {
            for (String u : userDefined) if (s.startsWith(u, i)) return u.length();
            return 0;
        }

        void run(IntList out) {
            for (int i = 0; next[i] >= 0; i = next[i]) offer(i, next[i]);
            while (!queue.isEmpty()) {
                queue.pop();
                int l = queue.topLeft, r = queue.topRight;
                // stale: one side was merged into a neighbour since this pair was queued
                if (end[l] == start[l] || end[r] == start[r] || end[r] - start[l] != queue.topLength) continue;
                end[l] = end[r];
                start[r] = end[r]; // r is now empty
                next[l] = next[r];
                if (next[r] >= 0) prev[next[r]] = l;
                if (prev[l] >= 0) offer(prev[l], l);
                if (next[l] >= 0) offer(l, next[l]);
            }
            for (int i = 0; i >= 0; i = next[i]) emit(start[i], end[i], out);
        }

        private void offer(int l, int r) {
            if (frozen[l] || frozen[r]) return;
            int id = index.get(s, start[l], end[r]);
            if (id < 0) return;
            queue.push(scores[id], l, r, end[r] - start[l]);
            if (types[id] == Vocabulary.UNUSED) {
                if (unusedSplits == null) unusedSplits = new HashMap<>();
                unusedSplits.put(s.substring(start[l], end[r]), new String[]{s.substring(start[l], end[l]), s.substring(start[r], end[r])});
            }
        }

        private void emit(int from, int to, IntList out) {
            int id = index.get(s, from, to);
            if (id >= 0 && types[id] == Vocabulary.UNUSED && unusedSplits != null) {
                String[] parts = unusedSplits.get(s.substring(from, to));
                if (parts != null) { // an unused piece is never output: split it back into what formed it
                    emit(from, from + parts[0].length(), out);
                    emit(from + parts[0].length(), to, out);
                    return;
                }
            }
            if (id >= 0) {
                out.add(id);
            } else if (byteFallback) {
                for (byte b : s.substring(from, to).getBytes(StandardCharsets.UTF_8)) {
                    int t = byteTokens[b & 0xff];
                    out.add(t >= 0 ? t : vocab.unk());
                }
            } else if (out.size() == 0 || out.last() != vocab.unk()) {
                out.add(vocab.unk()); // SentencePiece merges a run of unknown symbols into one <unk>
            }
        }
    }

    private byte[] pieceBytes(int id) {
        return switch (types[id]) {
            case Vocabulary.CONTROL -> new byte[0];
            case Vocabulary.UNKNOWN -> UNK_SURFACE.getBytes(StandardCharsets.UTF_8);
            case Vocabulary.BYTE -> new byte[]{(byte) parseByte(vocab.tokens().get(id))};
            default -> vocab.tokens().get(id).replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
        };
    }

    @Override
    public byte[] tokenBytes(int id, boolean atStart) {
        if (id < 0 || id >= decoded.length) throw new IllegalArgumentException("token id " + id + " outside [0, " + decoded.length + ")");
        byte[] b = decoded[id];
        // SentencePiece drops the dummy-prefix space of the first piece (only of normal pieces, not of a <0x20> byte)
        boolean dropSpace = atStart && (vocab.addSpacePrefix() || removeExtraWhitespaces)
                && b.length > 0 && b[0] == ' ' && types[id] != Vocabulary.BYTE && types[id] != Vocabulary.UNKNOWN;
        return dropSpace ? Arrays.copyOfRange(b, 1, b.length) : b.clone();
    }

    @Override public boolean isSpecial(int id) { return types[id] == Vocabulary.CONTROL; }

    @Override public String token(int id) { return vocab.tokens().get(id); }

    @Override public int id(String token) { return allPieces.get(token); }

    @Override public int vocabSize() { return vocab.size(); }

    @Override public int bos() { return vocab.bos(); }

    @Override public int eos() { return vocab.eos(); }

    @Override public boolean addsBosByDefault() { return vocab.addBos(); }

    @Override public String toString() {
        return "SentencePieceTokenizer[" + vocab.size() + " pieces, byte fallback " + byteFallback + ", dummy prefix " + vocab.addSpacePrefix() + "]";
    }
}
