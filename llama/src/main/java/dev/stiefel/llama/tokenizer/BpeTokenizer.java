package dev.stiefel.llama.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rank-ordered BPE (Sennrich et al. 2016) as Hugging Face tokenizers' BPE model runs it, with the pipeline around it:
 * <ol>
 * <li>added tokens are found in the raw text first and become their ids whole;</li>
 * <li>each stretch between them is normalized, then pre-tokenized into words (for byte-level vocabularies — GPT-2,
 *     LLaMA-3, SmolLM — a regex split and GPT-2's byte-to-unicode map);</li>
 * <li>each word starts as one symbol per character (a character the vocabulary lacks becomes its {@code <0xXX>} byte
 *     tokens with byte fallback, else the unknown token), and the adjacent pair with the lowest merge rank is merged
 *     until no pair has a rule (ties: leftmost). A priority queue over a linked list of symbols keeps this
 *     O(n log n) even for words of thousands of characters.</li>
 * </ol>
 * Decoding reverses the byte map (byte-level) or SentencePiece's '▁' and byte tokens (Metaspace / byte-fallback files).
 */
public final class BpeTokenizer implements Tokenizer {
    private static final int CACHE_LIMIT = 1 << 16, CACHE_MAX_WORD = 64;

    /**
     * How decoding turns tokens back into text.
     *
     * @param byteLevel     map GPT-2 alphabet characters back to bytes
     * @param metaspace     replace '▁' by ' '
     * @param byteFallback  {@code <0xXX>} tokens are single bytes
     * @param stripAtStart  spaces to drop from the start of the text (tokenizers' Strip decoder, Metaspace's prefix)
     */
    public record Decoding(boolean byteLevel, boolean metaspace, boolean byteFallback, int stripAtStart) {
        public static final Decoding BYTE_LEVEL = new Decoding(true, false, false, 0);
    }

    /**
     * Everything a BPE tokenizer is made of, as a tokenizer.json or a GGUF vocabulary describes it.
     *
     * @param tokens       token strings by id (gaps, ids no file names, are null)
     * @param merges       merge rules in rank order, each the two halves
     * @param added        added tokens, matched in raw text before splitting
     * @param unk          unknown-token id or -1
     * @param fuseUnk      one unknown token for a run of unknown characters
     * @param ignoreMerges a word that is itself a token is emitted whole (LLaMA-3)
     * @param bosPrefix    ids encode(text, true) puts first (usually just BOS)
     */
    public record Spec(String source, List<String> tokens, List<String[]> merges, List<AddedTokens.Token> added,
                       TextNormalizer normalizer, PreTokenizer preTokenizer, Decoding decoding, boolean byteFallback,
                       int unk, boolean fuseUnk, boolean ignoreMerges, int bos, int eos, int[] bosPrefix, boolean addBos) {}

    private final Spec spec;
    private final List<String> tokens;
    private final PieceIndex vocab;
    private final MergeTable merges;
    private final AddedTokens added;
    private final boolean[] special;
    private final String[] addedContent;
    private final int[] byteTokens = new int[256];
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    BpeTokenizer(Spec spec) {
        this.spec = spec;
        this.tokens = spec.tokens();
        this.vocab = new PieceIndex(tokens);
        this.merges = new MergeTable(spec.merges().size());
        for (int rank = 0; rank < spec.merges().size(); rank++) {
            String[] m = spec.merges().get(rank);
            int left = vocab.get(m[0]), right = vocab.get(m[1]), result = vocab.get(m[0] + m[1]);
            if (left < 0 || right < 0 || result < 0)
                throw new TokenizerFormatException(spec.source() + ": merge " + rank + " '" + m[0] + " " + m[1] + "' names "
                        + (left < 0 ? "'" + m[0] + "'" : right < 0 ? "'" + m[1] + "'" : "'" + m[0] + m[1] + "'") + ", which is not in the vocabulary");
            merges.put(left, right, rank, result);
        }
        this.added = new AddedTokens(spec.added());
        this.special = new boolean[tokens.size()];
        this.addedContent = new String[tokens.size()];
        for (AddedTokens.Token t : spec.added()) {
            special[t.id()] = t.special();
            addedContent[t.id()] = t.content();
        }
        Arrays.fill(byteTokens, -1);
        for (int b = 0; b < 256; b++) byteTokens[b] = vocab.get(String.format("<0x%02X>", b));
    }

    /** A byte-level BPE tokenizer for a vocabulary read from a model file (GGUF "gpt2" tokenizer model). */
    static BpeTokenizer fromVocabulary(Vocabulary v, PreTokenizer preTokenizer) {
        Tokenizers.validate(v, "vocabulary");
        List<String[]> merges = new ArrayList<>(v.merges().size());
        for (String m : v.merges()) { // Tokenizers.validate checked each is "left right"
            int space = m.indexOf(' ', 1);
            merges.add(new String[]{m.substring(0, space), m.substring(space + 1)});
        }
        // Control and user-defined tokens are what llama.cpp matches in text before BPE; control ones are special.
        List<AddedTokens.Token> added = new ArrayList<>();
        int[] types = v.types();
        for (int id = 0; types != null && id < types.length; id++)
            if (types[id] == Vocabulary.CONTROL || types[id] == Vocabulary.USER_DEFINED)
                added.add(new AddedTokens.Token(id, v.tokens().get(id), types[id] == Vocabulary.CONTROL, false, false, false));
        int[] prefix = v.bos() >= 0 ? new int[]{v.bos()} : new int[0];
        return new BpeTokenizer(new Spec("vocabulary", v.tokens(), merges, added, null, preTokenizer, Decoding.BYTE_LEVEL,
                false, v.unk(), false, false, v.bos(), v.eos(), prefix, v.addBos() && v.bos() >= 0));
    }

    /**
     * The vocabulary as a GGUF "gpt2" tokenizer stores it, for a byte-level tokenizer (GPT-2, LLaMA-3, Qwen, SmolLM), as
     * convert_hf_to_gguf.py lays it out: every token by id, typed NORMAL, added tokens CONTROL when special and
     * USER_DEFINED otherwise, ids no file names and the ids from here to {@code size} (a model's embedding may have more
     * rows than the tokenizer has tokens) as "[PADn]" of type UNUSED; merges as "left right". The normalizer (Qwen's
     * NFC) and a BOS prefix of more than one token are not part of it: llama.cpp has neither.
     *
     * @throws IllegalArgumentException when this tokenizer is not byte-level, or has more than {@code size} tokens
     */
    public Vocabulary vocabulary(int size) {
        if (!isByteLevel())
            throw new IllegalArgumentException(spec.source() + ": only a byte-level BPE tokenizer has a GGUF \"gpt2\" vocabulary; this one is " + this);
        if (tokens.size() > size)
            throw new IllegalArgumentException(spec.source() + ": " + tokens.size() + " tokens, more than the model's " + size + " embedding rows");
        List<String> out = new ArrayList<>(size);
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            String t = id < tokens.size() ? tokens.get(id) : null;
            out.add(t != null ? t : "[PAD" + id + "]");
            types[id] = t == null ? Vocabulary.UNUSED : addedContent[id] == null ? Vocabulary.NORMAL : special[id] ? Vocabulary.CONTROL : Vocabulary.USER_DEFINED;
        }
        List<String> merges = new ArrayList<>(spec.merges().size());
        for (String[] m : spec.merges()) merges.add(m[0] + " " + m[1]);
        return new Vocabulary(Vocabulary.Kind.BYTE_LEVEL_BPE, out, null, types, merges, spec.bos(), spec.eos(), spec.unk(), spec.addBos(), false);
    }

    /** Whether words are split and decoded in GPT-2's byte alphabet, with no byte fallback: what a GGUF "gpt2" vocabulary is. */
    public boolean isByteLevel() { return spec.preTokenizer().byteLevel() && spec.decoding().byteLevel() && !spec.byteFallback(); }

    /** The tokenizer.ggml.pre names {@link #ggufPreTokenizer} knows. */
    public static final List<String> GGUF_PRE_TOKENIZERS = PreTokenizer.GGUF_NAMES;

    /**
     * The GGUF {@code tokenizer.ggml.pre} name under which llama.cpp splits text as this tokenizer does ("gpt-2",
     * "llama-bpe", "qwen2", "smollm"), or null when it has none of them.
     */
    public String ggufPreTokenizer() { return PreTokenizer.ggufName(spec.preTokenizer()); }

    @Override
    public int[] encode(String text, boolean addBos) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addBos) out.addAll(spec.bosPrefix());
        if (added.isEmpty()) {
            encodeText(text, true, out);
        } else {
            for (AddedTokens.Segment s : added.split(text)) {
                if (s.id() >= 0) out.add(s.id());
                else encodeText(text.substring(s.start(), s.end()), s.start() == 0, out);
            }
        }
        return out.toArray();
    }

    private void encodeText(String text, boolean atTextStart, IntList out) {
        if (spec.normalizer() != null) text = spec.normalizer().apply(text);
        if (text.isEmpty()) return;
        List<String> words = new ArrayList<>();
        spec.preTokenizer().split(text, atTextStart, words);
        for (String word : words) {
            int[] cached = cache.get(word);
            if (cached == null) {
                cached = encodeWord(word);
                if (word.length() <= CACHE_MAX_WORD && cache.size() < CACHE_LIMIT) cache.put(word, cached);
            }
            out.addAll(cached);
        }
    }

    /** BPE within one word. */
    int[] encodeWord(String word) {
        if (spec.ignoreMerges()) {
            int whole = vocab.get(word);
            if (whole >= 0) return new int[]{whole};
        }
        // Initial symbols: one per character; weight counts the characters a symbol covers, to spot stale candidates.
        int n = word.length();
        int[] id = new int[n * 4], weight = new int[n * 4];
        int count = 0;
        for (int i = 0; i < n; ) {
            int len = Character.charCount(word.codePointAt(i));
            int t = vocab.get(word, i, i + len);
            if (t >= 0) {
                id[count] = t;
                weight[count++] = 1;
            } else if (spec.byteFallback() && allBytesKnown(word.substring(i, i + len))) {
                for (byte b : word.substring(i, i + len).getBytes(StandardCharsets.UTF_8)) {
                    id[count] = byteTokens[b & 0xff];
                    weight[count++] = 1;
                }
            } else {
                if (spec.unk() < 0)
                    throw new IllegalArgumentException(spec.source() + ": character " + String.format("U+%04X", word.codePointAt(i))
                            + " is not in the vocabulary, which has no unknown token and no byte fallback");
                if (spec.fuseUnk() && count > 0 && id[count - 1] == spec.unk()) weight[count - 1]++;
                else {
                    id[count] = spec.unk();
                    weight[count++] = 1;
                }
            }
            i += len;
        }
        if (count == 1) return new int[]{id[0]};
        int[] prev = new int[count], next = new int[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        PairHeap queue = new PairHeap();
        for (int i = 0; i + 1 < count; i++) offer(queue, id, weight, i, i + 1);
        while (!queue.isEmpty()) {
            queue.pop();
            int l = queue.topLeft, r = queue.topRight;
            if (weight[l] == 0 || weight[r] == 0 || weight[l] + weight[r] != queue.topLength) continue; // stale
            id[l] = merges.result(merges.find(id[l], id[r]));
            weight[l] += weight[r];
            weight[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) prev[next[r]] = l;
            if (prev[l] >= 0) offer(queue, id, weight, prev[l], l);
            if (next[l] >= 0) offer(queue, id, weight, l, next[l]);
        }
        IntList out = new IntList(count);
        for (int i = 0; i >= 0; i = next[i]) out.add(id[i]);
        return out.toArray();
    }

    private void offer(PairHeap queue, int[] id, int[] weight, int l, int r) {
        int rule = merges.find(id[l], id[r]);
        if (rule >= 0) queue.push(-merges.rank(rule), l, r, weight[l] + weight[r]);
    }

    private boolean allBytesKnown(String character) {
        for (byte b : character.getBytes(StandardCharsets.UTF_8)) if (byteTokens[b & 0xff] < 0) return false;
        return true;
    }

    @Override
    public byte[] tokenBytes(int id, boolean atStart) {
        if (id < 0 || id >= tokens.size()) throw new IllegalArgumentException("token id " + id + " outside [0, " + tokens.size() + ")");
        if (special[id]) return new byte[0];
        byte[] b;
        String t = tokens.get(id);
        Decoding d = spec.decoding();
        if (addedContent[id] != null) {
            b = addedContent[id].getBytes(StandardCharsets.UTF_8);
        } else if (t == null) {
            b = new byte[0];
        } else if (d.byteFallback() && SentencePieceTokenizer.parseByte(t) >= 0) {
            b = new byte[]{(byte) SentencePieceTokenizer.parseByte(t)};
        } else if (d.byteLevel()) {
            b = ByteLevel.decode(t);
        } else {
            b = (d.metaspace() ? t.replace(SentencePieceTokenizer.SPACE, ' ') : t).getBytes(StandardCharsets.UTF_8);
        }
        if (atStart && d.stripAtStart() > 0) {
            int skip = 0;
            while (skip < b.length && skip < d.stripAtStart() && b[skip] == ' ') skip++;
            if (skip > 0) b = Arrays.copyOfRange(b, skip, b.length);
        }
        return b;
    }

    @Override public boolean isSpecial(int id) { return special[id]; }

    @Override public String token(int id) { return tokens.get(id); }

    @Override public int id(String token) { return vocab.get(token); }

    @Override public int vocabSize() { return tokens.size(); }

    @Override public int bos() { return spec.bos(); }

    @Override public int eos() { return spec.eos(); }

    @Override public boolean addsBosByDefault() { return spec.addBos(); }

    @Override public String toString() {
        return "BpeTokenizer[" + spec.source() + ", " + tokens.size() + " tokens, " + merges.size() + " merges, "
                + (spec.preTokenizer().byteLevel() ? "byte-level" : "character-level") + "]";
    }
}
