package dev.stiefel.llama.tokenizer;

import java.util.List;

/**
 * A tokenizer's vocabulary as the files carry it, before any algorithm runs on it: SentencePiece's
 * (tokenizer.model, llama2.c tokenizer.bin, GGUF "llama" vocab) or byte-level BPE's (tokenizer.json, GGUF "gpt2").
 *
 * @param kind     which algorithm the vocabulary is for
 * @param tokens   token strings by id (SentencePiece pieces use '▁' for a space; byte-level BPE uses GPT-2's byte-to-unicode map)
 * @param scores   SentencePiece merge scores by id (higher merges first), or null for BPE
 * @param types    SentencePiece token types by id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null
 * @param merges   BPE merges in rank order ("a b"), empty for SentencePiece
 * @param bos      beginning-of-sequence id, or -1
 * @param eos      end-of-sequence id, or -1
 * @param unk      unknown-token id, or -1
 * @param addBos   whether encoding prepends bos by default
 * @param addSpacePrefix whether SentencePiece prepends a space to the text (the "dummy prefix")
 */
public record Vocabulary(Kind kind, List<String> tokens, float[] scores, int[] types, List<String> merges,
                         int bos, int eos, int unk, boolean addBos, boolean addSpacePrefix) {

    public enum Kind { SENTENCEPIECE, BYTE_LEVEL_BPE }

    public static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    public Vocabulary {
        tokens = List.copyOf(tokens);
        merges = merges == null ? List.of() : List.copyOf(merges);
        if (scores != null && scores.length != tokens.size())
            throw new IllegalArgumentException("vocabulary: " + scores.length + " scores for " + tokens.size() + " tokens");
        if (types != null && types.length != tokens.size())
            throw new IllegalArgumentException("vocabulary: " + types.length + " token types for " + tokens.size() + " tokens");
        for (int id : new int[]{bos, eos, unk})
            if (id < -1 || id >= tokens.size()) throw new IllegalArgumentException("vocabulary: special id " + id + " outside [0, " + tokens.size() + ")");
    }

    public int size() { return tokens.size(); }
}
