package dev.stiefel.llama.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.stiefel.llama.tokenizer.TokenizerJsonBuilder.node;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The LLaMA-2 vocabulary as Hugging Face ships it for LLaMA-2 and TinyLlama: a tokenizer.json with rank-ordered
 * merges, byte fallback and a Prepend/Replace normalizer. The file is built here from tokenizer.model the way
 * transformers' LlamaConverter does (SentencePieceExtractor: every split of every piece into two pieces is a merge,
 * ordered by the merged piece's score, then by the ids of the halves), and must tokenize like SentencePiece.
 */
class LlamaTokenizerJsonTest {

    static ObjectNode llamaTokenizerJson(Vocabulary v) {
        TokenizerJsonBuilder b = new TokenizerJsonBuilder();
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < v.size(); i++) {
            b.token(v.tokens().get(i));
            ids.put(v.tokens().get(i), i);
        }
        record Merge(String left, String right, float score, int leftId, int rightId) {}
        List<Merge> merges = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            String piece = v.tokens().get(i);
            for (int k = 1; k < piece.length(); k++) {
                Integer l = ids.get(piece.substring(0, k)), r = ids.get(piece.substring(k));
                if (l != null && r != null) merges.add(new Merge(piece.substring(0, k), piece.substring(k), v.scores()[i], l, r));
            }
        }
        merges.sort(Comparator.comparingDouble((Merge m) -> -m.score()).thenComparingInt(Merge::leftId).thenComparingInt(Merge::rightId));
        ArrayNode mergeArray = b.model.putArray("merges");
        for (Merge m : merges) mergeArray.add(m.left() + " " + m.right());
        b.model.put("unk_token", "<unk>").put("byte_fallback", true).put("fuse_unk", true);
        for (String special : new String[]{"<unk>", "<s>", "</s>"})
            b.added.addObject().put("id", ids.get(special)).put("content", special).put("special", true);
        ObjectNode norm = b.root.putObject("normalizer").put("type", "Sequence");
        ObjectNode replace = node("Replace").put("content", "▁");
        replace.putObject("pattern").put("String", " ");
        norm.putArray("normalizers").add(node("Prepend").put("prepend", "▁")).add(replace);
        ObjectNode template = b.root.putObject("post_processor").put("type", "TemplateProcessing");
        template.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((ArrayNode) template.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        template.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(1);
        ObjectNode dec = b.root.putObject("decoder").put("type", "Sequence");
        ObjectNode unreplace = node("Replace").put("content", " ");
        unreplace.putObject("pattern").put("String", "▁");
        dec.putArray("decoders").add(unreplace).add(node("ByteFallback")).add(node("Fuse"))
                .add(node("Strip").put("content", " ").put("start", 1).put("stop", 0));
        return b.root;
    }

    @Test
    void tokenizesLikeSentencePieceOnConformanceCasesAndWikiText() throws IOException {
        SentencePieceTokenizer spm = SentencePieceModelFile.load(SharedData.require("tokenizers/llama2/tokenizer.model"));
        BpeTokenizer json = TokenizerJsonFile.parse("llama tokenizer.json", llamaTokenizerJson(spm.vocabulary()), null);
        assertThat(json.bos()).isEqualTo(1);
        assertThat(json.eos()).isEqualTo(2);
        assertThat(json.addsBosByDefault()).isTrue();
        List<String> texts = new ArrayList<>();
        for (LlamaSpmConformanceTest.Case c : LlamaSpmConformanceTest.cases()) texts.add(c.input());
        String[] lines = Files.readString(SharedData.require("data/wikitext2/wiki.test.raw"), StandardCharsets.UTF_8).split("\n");
        Random rnd = new Random(3);
        for (int i = 0; i < 500; i++) texts.add(lines[rnd.nextInt(lines.length)]);
        for (String s : texts) {
            if (s.isEmpty()) continue; // Prepend adds nothing to empty text either way
            assertThat(json.encode(s, true)).as(LlamaSpmConformanceTest.escape(s)).containsExactly(spm.encode(s, true));
            assertThat(json.decode(json.encode(s, true))).isEqualTo(s);
        }
    }
}
