package dev.stiefel.llama.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Builds small tokenizer.json trees for tests. */
final class TokenizerJsonBuilder {
    static final ObjectMapper JSON = new ObjectMapper();

    /** Qwen2's Split regex as its tokenizer.json spells it (Qwen2, Qwen2.5 and Qwen3 share it). */
    static final String QWEN2_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** LLaMA-3's Split regex as its tokenizer.json spells it. */
    static final String LLAMA3_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    final ObjectNode root = JSON.createObjectNode();
    final ObjectNode model = root.putObject("model");
    final ObjectNode vocab;
    final ArrayNode merges;
    final ArrayNode added = root.putArray("added_tokens");
    private int next;

    TokenizerJsonBuilder() {
        model.put("type", "BPE");
        model.putNull("unk_token");
        vocab = model.putObject("vocab");
        merges = model.putArray("merges");
        root.putNull("normalizer");
        root.putNull("pre_tokenizer");
        root.putNull("post_processor");
        root.putNull("decoder");
    }

    /** GPT-2 style: ids 0..255 are the byte-alphabet characters of bytes 0..255, so byte b has id b. */
    static TokenizerJsonBuilder byteLevel() {
        TokenizerJsonBuilder b = new TokenizerJsonBuilder();
        for (int i = 0; i < 256; i++) b.token(String.valueOf(ByteLevel.toChar(i)));
        b.root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", true);
        b.root.putObject("decoder").put("type", "ByteLevel");
        return b;
    }

    /**
     * The pre-tokenizer of LLaMA-3's and Qwen's files: Split with {@code regex} (Isolated), then ByteLevel without its
     * own regex.
     */
    TokenizerJsonBuilder splitThenByteLevel(String regex) {
        ArrayNode steps = root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
        steps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false).putObject("pattern").put("Regex", regex);
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false).put("use_regex", false);
        return this;
    }

    /** Adds a vocabulary entry with the next id and returns that id. */
    int token(String text) {
        vocab.put(text, next);
        return next++;
    }

    /** Adds the merge "left right" and its result as the next id. */
    int merge(String left, String right) {
        merges.add(left + " " + right);
        return token(left + right);
    }

    int added(String content, boolean special) {
        int id = next++;
        ObjectNode a = added.addObject();
        a.put("id", id).put("content", content).put("special", special).put("lstrip", false).put("rstrip", false)
                .put("single_word", false).put("normalized", !special);
        return id;
    }

    ObjectNode lastAdded() { return (ObjectNode) added.get(added.size() - 1); }

    static ObjectNode node(String type) { return JSON.createObjectNode().put("type", type); }

    BpeTokenizer build() { return build(null); }

    BpeTokenizer build(JsonNode config) { return TokenizerJsonFile.parse("test tokenizer.json", root, config); }
}
