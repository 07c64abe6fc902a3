package dev.stiefel.llama.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A zero-shot task as a list of multiple-choice items. Each item lists (context, continuation) pairs; the model's
 * choice is the pair whose continuation it finds most likely after its context. Prompts follow lm-evaluation-harness
 * (the task files are MosaicML ICL json, so each task's query is completed to lm-eval's template): the continuation is
 * the choice after a space, and ARC/BoolQ/PIQA contexts end in "Answer:".
 *
 * <p>WinoGrande uses partial scoring (Sakaguchi et al.; lm-eval's partial evaluation): the two options end two contexts,
 * and only the shared continuation is scored. LAMBADA is one context and its final word; accuracy asks whether greedy
 * decoding produces every token of that word.
 */
public record ZeroShotTask(String name, List<Item> items, boolean greedyMatch) {

    /** Candidate (context, continuation) pairs and the index of the right one (0 for LAMBADA's single pair). */
    public record Item(List<String> contexts, List<String> continuations, int gold) {
        public Item {
            if (contexts.size() != continuations.size() || contexts.isEmpty())
                throw new IllegalArgumentException("zero-shot item: " + contexts.size() + " contexts for " + continuations.size() + " continuations");
            if (gold < 0 || gold >= contexts.size())
                throw new IllegalArgumentException("zero-shot item: gold " + gold + " outside [0, " + contexts.size() + ")");
        }

        static Item choices(String context, List<String> choices, int gold) {
            List<String> ctx = new ArrayList<>(), cont = new ArrayList<>();
            for (String c : choices) { ctx.add(context); cont.add(" " + c); }
            return new Item(ctx, cont, gold);
        }
    }

    public static final List<String> NAMES = List.of("piqa", "arc_easy", "arc_challenge", "boolq", "winogrande", "hellaswag",
            "lambada_openai", "openbook_qa", "siqa", "copa");

    /** Loads a task by name from {@code dir} (../shared/data/zeroshot), keeping the first {@code limit} items (0: all). */
    public static ZeroShotTask load(String name, Path dir, int limit) {
        try {
            return switch (name) {
                case "arc_easy", "arc_challenge", "boolq" -> choiceTask(name, dir, "\nAnswer:", limit);
                case "piqa" -> choiceTask(name, dir, "Answer:", limit); // the query already ends in "\n"
                case "openbook_qa", "siqa", "copa" -> choiceTask(name, dir, "", limit);
                case "winogrande" -> {
                    List<Item> items = new ArrayList<>();
                    for (JsonNode n : jsonl(dir.resolve("winogrande.jsonl"), limit)) {
                        List<String> ctx = strings(n, "context_options"), cont = new ArrayList<>();
                        for (int i = 0; i < ctx.size(); i++) cont.add(" " + text(n, "continuation"));
                        items.add(new Item(ctx, cont, n.path("gold").asInt()));
                    }
                    yield new ZeroShotTask(name, items, false);
                }
                case "lambada_openai" -> {
                    List<Item> items = new ArrayList<>();
                    for (JsonNode n : jsonl(dir.resolve("lambada_openai.jsonl"), limit))
                        items.add(new Item(List.of(text(n, "context")), List.of(" " + text(n, "continuation")), 0));
                    yield new ZeroShotTask(name, items, true);
                }
                case "hellaswag" -> new ZeroShotTask(name, hellaswag(dir.resolve("hellaswag_val_full.txt.bz2"), limit), false);
                default -> throw new IllegalArgumentException("unknown zero-shot task '" + name + "'; known: " + String.join(", ", NAMES));
            };
        } catch (IOException e) {
            throw new UncheckedIOException("reading zero-shot task " + name + " from " + dir + ": " + e.getMessage(), e);
        }
    }

    private static ZeroShotTask choiceTask(String name, Path dir, String suffix, int limit) throws IOException {
        List<Item> items = new ArrayList<>();
        Path file = dir.resolve(name + ".jsonl");
        for (JsonNode n : jsonl(file, limit)) items.add(Item.choices(text(n, "query") + suffix, strings(n, "choices"), n.path("gold").asInt(-1)));
        return new ZeroShotTask(name, items, false);
    }

    /** Six lines per item: context, gold label, four endings. */
    private static List<Item> hellaswag(Path file, int limit) throws IOException {
        requireFile(file);
        List<Item> items = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new BZip2CompressorInputStream(Files.newInputStream(file)), StandardCharsets.UTF_8))) {
            int lineNo = 0;
            while (limit == 0 || items.size() < limit) {
                String ctx = r.readLine();
                if (ctx == null) break;
                String[] lines = new String[5];
                for (int i = 0; i < 5; i++) {
                    lines[i] = r.readLine();
                    if (lines[i] == null) throw new IllegalArgumentException(file + ": item at line " + (lineNo + 1) + " is cut short (6 lines per item)");
                }
                int gold;
                try { gold = Integer.parseInt(lines[0].strip()); } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + ": line " + (lineNo + 2) + " should be the gold label 0-3, got '" + lines[0] + "'");
                }
                items.add(Item.choices(ctx, List.of(lines[1], lines[2], lines[3], lines[4]), gold));
                lineNo += 6;
            }
        }
        return items;
    }

    private static List<JsonNode> jsonl(Path file, int limit) throws IOException {
        requireFile(file);
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        int lineNo = 0;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            lineNo++;
            if (line.isBlank()) continue;
            try { out.add(json.readTree(line)); } catch (IOException e) {
                throw new IllegalArgumentException(file + ": line " + lineNo + " is not valid JSON: " + e.getMessage());
            }
            if (limit > 0 && out.size() == limit) break;
        }
        return out;
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException("zero-shot item " + n + " has no text field \"" + field + "\"");
        return v.asText();
    }

    private static List<String> strings(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isArray()) throw new IllegalArgumentException("zero-shot item " + n + " has no list field \"" + field + "\"");
        List<String> out = new ArrayList<>();
        v.forEach(x -> out.add(x.asText()));
        return out;
    }

    private static void requireFile(Path p) {
        if (!Files.isRegularFile(p)) throw new IllegalArgumentException("zero-shot task file " + p.toAbsolutePath().normalize() + " does not exist");
    }
}
