package dev.stiefel.llama.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Evaluation text as the papers' code builds it: a dataset's rows, joined into one string that is tokenized once.
 *
 * <ul>
 *   <li>{@code wikitext2}: the rows of Hugging Face's wikitext-2-raw-v1 test split, i.e. the lines of
 *       wiki.test.raw with their newline, blank lines as empty rows (the dataset script yields {@code row} when
 *       {@code row.strip()} is non-empty, else ""), joined with "\n\n" (GPTQ's get_wikitext2).</li>
 *   <li>{@code c4}: the first 1,100 documents of the C4 validation sample joined with " ", scored on at most 256
 *       windows (GPTQ's get_c4 evaluation set).</li>
 *   <li>{@code tinystories}: the validation stories (separated by blank lines), joined with "\n\n".</li>
 *   <li>any other name is a text file, taken as one row.</li>
 * </ul>
 */
public record EvalDataset(String name, String text, int rows, int defaultMaxWindows) {

    public static final int C4_DOCUMENTS = 1100, C4_WINDOWS = 256;

    /** Where ../shared is: the {@code stiefel.shared} property, the STIEFEL_SHARED variable, else ../shared. */
    public static Path sharedDir() {
        String p = System.getProperty("stiefel.shared");
        if (p == null) p = System.getenv("STIEFEL_SHARED");
        return Path.of(p != null ? p : "../shared");
    }

    public static EvalDataset load(String nameOrPath) {
        Path shared = sharedDir();
        try {
            return switch (nameOrPath) {
                case "wikitext2" -> {
                    List<String> rows = wikitextRows(Files.readString(require(shared.resolve("data/wikitext2/wiki.test.raw")), StandardCharsets.UTF_8));
                    yield new EvalDataset("wikitext2", String.join("\n\n", rows), rows.size(), 0);
                }
                case "c4" -> {
                    List<String> docs = new ArrayList<>();
                    ObjectMapper json = new ObjectMapper();
                    Path file = require(shared.resolve("data/c4/c4_validation_2k.jsonl"));
                    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                        if (line.isBlank()) continue;
                        JsonNode text = json.readTree(line).get("text");
                        if (text == null) throw new IllegalArgumentException(file + ": line " + (docs.size() + 1) + " has no \"text\" field");
                        docs.add(text.asText());
                        if (docs.size() == C4_DOCUMENTS) break;
                    }
                    yield new EvalDataset("c4", String.join(" ", docs), docs.size(), C4_WINDOWS);
                }
                case "tinystories" -> {
                    String all = Files.readString(require(shared.resolve("data/tinystories/tinystories_val.txt")), StandardCharsets.UTF_8);
                    List<String> stories = new ArrayList<>();
                    for (String s : all.split("\\n\\s*\\n")) if (!s.isBlank()) stories.add(s.strip());
                    yield new EvalDataset("tinystories", String.join("\n\n", stories), stories.size(), 0);
                }
                default -> {
                    Path file = require(Path.of(nameOrPath));
                    yield new EvalDataset(file.getFileName().toString(), Files.readString(file, StandardCharsets.UTF_8), 1, 0);
                }
            };
        } catch (IOException e) {
            throw new UncheckedIOException("reading dataset " + nameOrPath + ": " + e.getMessage(), e);
        }
    }

    /** Lines with their "\n" kept; a line of only whitespace becomes "" (as the Hugging Face wikitext script yields them). */
    static List<String> wikitextRows(String raw) {
        List<String> rows = new ArrayList<>();
        int at = 0;
        while (at < raw.length()) {
            int nl = raw.indexOf('\n', at);
            int end = nl < 0 ? raw.length() : nl + 1;
            String row = raw.substring(at, end);
            rows.add(row.isBlank() ? "" : row);
            at = end;
        }
        return rows;
    }

    private static Path require(Path p) {
        if (!Files.isRegularFile(p))
            throw new IllegalArgumentException("dataset file " + p.toAbsolutePath().normalize() + " does not exist"
                    + " (built-in datasets are read from ../shared; set -Dstiefel.shared or STIEFEL_SHARED to point elsewhere)");
        return p;
    }
}
