package dev.stiefel.llama.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.llama.io.JsonFiles;
import dev.stiefel.llama.io.ModelFormatException;
import dev.stiefel.llama.io.ReadLimits;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} whose model is BPE: byte-level files (GPT-2, LLaMA-3, SmolLM: a
 * ByteLevel pre-tokenizer and decoder) and SentencePiece-style files (LLaMA-2, TinyLlama: characters plus byte
 * fallback, with '▁' written by a Prepend/Replace normalizer or a Metaspace pre-tokenizer). BOS/EOS come from a
 * {@code tokenizer_config.json} beside the file when there is one, else from the TemplateProcessing post-processor.
 * Anything else (Unigram or WordPiece models, BERT-style or precompiled normalizers...) is refused with a message
 * naming the JSON field and the value this reader does not implement.
 */
public final class TokenizerJsonFile {
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * How far token ids may run past the number of entries that name them: ids are dense in real files, and the
     * vocabulary list is sized by the largest id, so a lone huge id must not size it.
     */
    static final int MAX_ID_GAP = 1 << 16;

    private final String source;

    private TokenizerJsonFile(String source) { this.source = source; }

    public static BpeTokenizer load(Path file) {
        JsonNode root, config = null;
        try {
            root = JsonFiles.read(file, ReadLimits.MAX_TOKENIZER_BYTES, JSON);
            Path configFile = file.resolveSibling("tokenizer_config.json");
            if (Files.isRegularFile(configFile)) config = JsonFiles.read(configFile, ReadLimits.MAX_CONFIG_JSON_BYTES, JSON);
        } catch (ModelFormatException e) {
            throw new TokenizerFormatException(e.getMessage(), e);
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read tokenizer JSON: " + e.getMessage(), e);
        }
        return parse(file.toString(), root, config);
    }

    /**
     * @param root   the tokenizer.json tree
     * @param config the tokenizer_config.json tree beside it, or null
     */
    public static BpeTokenizer parse(String source, JsonNode root, JsonNode config) {
        return new TokenizerJsonFile(source).read(root, config);
    }

    private BpeTokenizer read(JsonNode root, JsonNode config) {
        if (root == null || !root.isObject()) throw error("", "expected a JSON object");
        JsonNode model = root.path("model");
        if (!model.isObject()) throw error("model", "missing");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw unsupported("model.type", type, "only BPE models are");
        for (String field : new String[]{"continuing_subword_prefix", "end_of_word_suffix"})
            if (!model.path(field).isNull() && !model.path(field).asText("").isEmpty())
                throw unsupported("model." + field, model.path(field).asText(), "only BPE without word-piece affixes is");
        if (model.path("dropout").isNumber() && model.path("dropout").asDouble() > 0)
            throw unsupported("model.dropout", model.path("dropout").asText(), "encoding is deterministic; dropout must be null or 0");

        // Vocabulary by id: the model's vocab plus the added tokens, which may extend it.
        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject()) throw error("model.vocab", "expected an object of token -> id");
        JsonNode addedNode = array(root, "added_tokens");
        int idLimit = vocabNode.size() + addedNode.size() + MAX_ID_GAP;
        List<String> tokens = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            put(tokens, idOf(e.getValue()), idLimit, e.getKey(), "model.vocab['" + e.getKey() + "']");
        }
        List<AddedTokens.Token> added = new ArrayList<>();
        for (int i = 0; i < addedNode.size(); i++) {
            JsonNode a = addedNode.get(i);
            if (!a.isObject() || !a.path("content").isTextual())
                throw error("added_tokens[" + i + "]", "expected an object with a string content and an integer id, got " + a);
            String content = a.path("content").asText();
            int id = idOf(a.path("id"));
            put(tokens, id, idLimit, content, "added_tokens[" + i + "]");
            added.add(new AddedTokens.Token(id, content, a.path("special").asBoolean(false), a.path("lstrip").asBoolean(false),
                    a.path("rstrip").asBoolean(false), a.path("single_word").asBoolean(false)));
        }

        List<String[]> merges = new ArrayList<>();
        JsonNode mergesNode = array(model, "model.merges");
        for (int i = 0; i < mergesNode.size(); i++) {
            JsonNode m = mergesNode.get(i);
            if (m.isArray() && m.size() == 2) {
                merges.add(new String[]{m.get(0).asText(), m.get(1).asText()});
            } else if (m.isTextual() && m.asText().split(" ", -1).length == 2) {
                String[] parts = m.asText().split(" ", -1);
                merges.add(parts);
            } else {
                throw error("model.merges[" + i + "]", "expected \"left right\" or [left, right], got " + m);
            }
        }

        PreTokenizer pre = preTokenizer(root.path("pre_tokenizer"), "pre_tokenizer");
        TextNormalizer normalizer = normalizer(root.path("normalizer"), "normalizer");
        BpeTokenizer.Decoding decoding = decoding(root.path("decoder"), "decoder", pre.byteLevel());
        String unkToken = model.path("unk_token").isTextual() ? model.path("unk_token").asText() : null;
        int unk = unkToken == null ? -1 : tokens.indexOf(unkToken);

        // BOS/EOS: tokenizer_config.json names them; the post-processor's template says what encoding adds.
        int[] templatePrefix = templatePrefix(root.path("post_processor"), tokens);
        int bos = config != null ? tokenNamed(config.path("bos_token"), tokens) : -1;
        if (bos < 0 && templatePrefix.length > 0) bos = templatePrefix[0];
        int eos = config != null ? tokenNamed(config.path("eos_token"), tokens) : -1;
        for (String name : new String[]{"</s>", "<|end_of_text|>", "<|endoftext|>"}) if (eos < 0) eos = tokens.indexOf(name);
        boolean addBos = config != null && config.has("add_bos_token") ? config.path("add_bos_token").asBoolean() : templatePrefix.length > 0;
        int[] bosPrefix = templatePrefix.length > 0 ? templatePrefix : bos >= 0 ? new int[]{bos} : new int[0];
        addBos &= bosPrefix.length > 0;

        return new BpeTokenizer(new BpeTokenizer.Spec(source, tokens, merges, added, normalizer, pre, decoding,
                model.path("byte_fallback").asBoolean(false), unk, model.path("fuse_unk").asBoolean(false),
                model.path("ignore_merges").asBoolean(false), bos, eos, bosPrefix, addBos));
    }

    /** The id in {@code n}, or -1 when it is not an integer that fits an int. */
    private static int idOf(JsonNode n) { return n.isIntegralNumber() && n.canConvertToInt() ? n.asInt() : -1; }

    private void put(List<String> tokens, int id, int idLimit, String token, String where) {
        if (id < 0 || id >= idLimit)
            throw error(where, "token id " + id + " is not a valid id (expected 0 to " + (idLimit - 1) + ": the number of entries plus " + MAX_ID_GAP + ")");
        while (tokens.size() <= id) tokens.add(null);
        String old = tokens.get(id);
        if (old != null && !old.equals(token)) throw error(where, "id " + id + " is both '" + old + "' and '" + token + "'");
        tokens.set(id, token);
    }

    private PreTokenizer preTokenizer(JsonNode n, String where) {
        if (n.isMissingNode() || n.isNull()) return new PreTokenizer.None();
        String type = n.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                JsonNode list = array(n, where + ".pretokenizers");
                for (int i = 0; i < list.size(); i++) steps.add(preTokenizer(list.get(i), where + ".pretokenizers[" + i + "]"));
                yield new PreTokenizer.Sequence(steps);
            }
            case "Split" -> {
                FilePattern p = pattern(n.path("pattern"), where + ".pattern");
                PreTokenizer.Behavior behavior = switch (n.path("behavior").asText()) {
                    case "Isolated" -> PreTokenizer.Behavior.ISOLATED;
                    case "Removed" -> PreTokenizer.Behavior.REMOVED;
                    case "MergedWithPrevious" -> PreTokenizer.Behavior.MERGED_WITH_PREVIOUS;
                    case "MergedWithNext" -> PreTokenizer.Behavior.MERGED_WITH_NEXT;
                    case "Contiguous" -> PreTokenizer.Behavior.CONTIGUOUS;
                    default -> throw unsupported(where + ".behavior", n.path("behavior").asText(),
                            "Isolated, Removed, MergedWithPrevious, MergedWithNext and Contiguous are");
                };
                yield new PreTokenizer.Split(p, behavior, n.path("invert").asBoolean(false));
            }
            case "ByteLevel" -> new PreTokenizer.ByteLevelStep(n.path("add_prefix_space").asBoolean(false), n.path("use_regex").asBoolean(true));
            case "Digits" -> new PreTokenizer.Digits(n.path("individual_digits").asBoolean(false));
            case "Metaspace" -> new PreTokenizer.Metaspace(replacement(n, where), prependScheme(n, where), n.path("split").asBoolean(true));
            default -> throw unsupported(where + ".type", type, "Sequence, Split, ByteLevel, Digits and Metaspace pre-tokenizers are");
        };
    }

    private TextNormalizer normalizer(JsonNode n, String where) {
        if (n.isMissingNode() || n.isNull()) return null;
        String type = n.path("type").asText();
        return switch (type) {
            case "Sequence" -> {
                List<TextNormalizer> steps = new ArrayList<>();
                JsonNode list = array(n, where + ".normalizers");
                for (int i = 0; i < list.size(); i++) {
                    TextNormalizer step = normalizer(list.get(i), where + ".normalizers[" + i + "]");
                    if (step != null) steps.add(step);
                }
                yield new TextNormalizer.Sequence(steps);
            }
            case "Prepend" -> new TextNormalizer.Prepend(n.path("prepend").asText());
            case "Replace" -> new TextNormalizer.Replace(pattern(n.path("pattern"), where + ".pattern"), n.path("content").asText());
            case "NFC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFC);
            case "NFD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFD);
            case "NFKC" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKC);
            case "NFKD" -> new TextNormalizer.UnicodeForm(Normalizer.Form.NFKD);
            case "Lowercase" -> new TextNormalizer.Lowercase();
            case "Strip" -> new TextNormalizer.Strip(n.path("strip_left").asBoolean(true), n.path("strip_right").asBoolean(true));
            default -> throw unsupported(where + ".type", type, "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase and Strip normalizers are");
        };
    }

    private BpeTokenizer.Decoding decoding(JsonNode n, String where, boolean byteLevelWords) {
        if (n.isMissingNode() || n.isNull()) return new BpeTokenizer.Decoding(byteLevelWords, false, false, 0);
        List<JsonNode> steps = new ArrayList<>();
        if (n.path("type").asText().equals("Sequence")) array(n, where + ".decoders").forEach(steps::add);
        else steps.add(n);
        boolean byteLevel = false, metaspace = false, byteFallback = false;
        int strip = 0;
        for (int i = 0; i < steps.size(); i++) {
            JsonNode d = steps.get(i);
            String at = steps.size() == 1 ? where : where + ".decoders[" + i + "]";
            String type = d.path("type").asText();
            switch (type) {
                case "ByteLevel" -> byteLevel = true;
                case "ByteFallback" -> byteFallback = true;
                case "Fuse" -> { } // joining token strings is what decoding does anyway
                case "Metaspace" -> {
                    if (replacement(d, at) != SentencePieceTokenizer.SPACE) throw unsupported(at + ".replacement", d.path("replacement").asText(), "only '▁' is");
                    metaspace = true;
                    if (prependScheme(d, at) != PreTokenizer.PrependScheme.NEVER) strip = 1;
                }
                case "Replace" -> {
                    String from = d.path("pattern").path("String").asText(null), to = d.path("content").asText();
                    if (!"\u2581".equals(from) || !" ".equals(to))
                        throw unsupported(at, d.toString(), "only Replace '▁' -> ' ' is");
                    metaspace = true;
                }
                case "Strip" -> {
                    if (!" ".equals(d.path("content").asText()) || d.path("stop").asInt(0) != 0)
                        throw unsupported(at, d.toString(), "only stripping leading spaces is");
                    strip = d.path("start").asInt(0);
                }
                default -> throw unsupported(at + ".type", type, "ByteLevel, ByteFallback, Fuse, Metaspace, Replace and Strip decoders are");
            }
        }
        return new BpeTokenizer.Decoding(byteLevel, metaspace, byteFallback, strip);
    }

    /** The special tokens TemplateProcessing puts before the text of a single sequence ("single": [bos, $A]). */
    private int[] templatePrefix(JsonNode n, List<String> tokens) {
        if (n.isMissingNode() || n.isNull()) return new int[0];
        String type = n.path("type").asText();
        switch (type) {
            case "Sequence" -> {
                for (JsonNode p : array(n, "post_processor.processors")) {
                    int[] prefix = templatePrefix(p, tokens);
                    if (prefix.length > 0) return prefix;
                }
                return new int[0];
            }
            case "ByteLevel" -> { return new int[0]; }
            case "TemplateProcessing" -> {
                IntList prefix = new IntList(2);
                for (JsonNode item : array(n, "post_processor.single")) {
                    if (item.has("Sequence")) break;
                    String name = item.path("SpecialToken").path("id").asText(null);
                    if (name == null) continue;
                    JsonNode ids = n.path("special_tokens").path(name).path("ids");
                    if (ids.isArray() && !ids.isEmpty()) {
                        for (JsonNode id : ids) {
                            int i = idOf(id);
                            if (i < 0 || i >= tokens.size() || tokens.get(i) == null)
                                throw error("post_processor.special_tokens['" + name + "'].ids", "id " + id + " is not a token of the "
                                        + tokens.size() + "-token vocabulary");
                            prefix.add(i);
                        }
                    } else if (tokens.contains(name)) prefix.add(tokens.indexOf(name));
                    else throw error("post_processor.single", "special token '" + name + "' is not in the vocabulary");
                }
                return prefix.toArray();
            }
            default -> throw unsupported("post_processor.type", type, "TemplateProcessing, ByteLevel and Sequence post-processors are");
        }
    }

    /** A token named in tokenizer_config.json, as a string or as {"content": ...}; -1 if absent or unknown. */
    private static int tokenNamed(JsonNode n, List<String> tokens) {
        String name = n.isTextual() ? n.asText() : n.path("content").asText(null);
        return name == null ? -1 : tokens.indexOf(name);
    }

    private FilePattern pattern(JsonNode n, String where) {
        String at = source + ": " + where;
        if (n.path("String").isTextual()) return FilePattern.compile(n.path("String").asText(), true, at);
        if (n.path("Regex").isTextual()) return FilePattern.compile(n.path("Regex").asText(), false, at);
        throw error(where, "expected {\"String\": ...} or {\"Regex\": ...}, got " + n);
    }

    /**
     * The array at {@code field} of {@code parent} ({@code where} names it, the last path element being the field),
     * empty when absent or null; anything else that is not an array is an error.
     */
    private JsonNode array(JsonNode parent, String where) {
        JsonNode n = parent.path(where.substring(where.lastIndexOf('.') + 1));
        if (n.isMissingNode() || n.isNull()) return JSON.createArrayNode();
        if (!n.isArray()) throw error(where, "expected an array, got " + n.getNodeType());
        return n;
    }

    private char replacement(JsonNode n, String where) {
        String r = n.path("replacement").asText("\u2581");
        if (r.length() != 1) throw unsupported(where + ".replacement", r, "a single character is");
        return r.charAt(0);
    }

    /** Metaspace's prepend_scheme, or the older add_prefix_space flag. */
    private PreTokenizer.PrependScheme prependScheme(JsonNode n, String where) {
        if (n.has("prepend_scheme")) {
            return switch (n.path("prepend_scheme").asText()) {
                case "always" -> PreTokenizer.PrependScheme.ALWAYS;
                case "first" -> PreTokenizer.PrependScheme.FIRST;
                case "never" -> PreTokenizer.PrependScheme.NEVER;
                default -> throw unsupported(where + ".prepend_scheme", n.path("prepend_scheme").asText(), "always, first and never are");
            };
        }
        return n.path("add_prefix_space").asBoolean(true) ? PreTokenizer.PrependScheme.ALWAYS : PreTokenizer.PrependScheme.NEVER;
    }

    private TokenizerFormatException error(String where, String what) {
        return new TokenizerFormatException(source + (where.isEmpty() ? "" : ": " + where) + ": " + what);
    }

    private TokenizerFormatException unsupported(String where, String value, String supported) {
        return error(where, "'" + value + "' is not supported (" + supported + ")");
    }
}
