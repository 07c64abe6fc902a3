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
 *   <li>{@code tinystories}: the validation file's paragraphs (blank-line separated; a story may span several, and
 *       the file marks no story boundary), joined with "\n\n", which gives back the file's text.</li>
 *   <li>any other name is a text file, taken as one row.</li>
 * </ul>
 */
public record EvalDataset(String name, List<String> rowList, String separator, int defaultMaxWindows) {

    public static final int C4_DOCUMENTS = 1100, C4_WINDOWS = 256;

    public EvalDataset { rowList = List.copyOf(rowList); }

    /** The rows joined by the separator: the text the standard protocol tokenizes once. */
    public String text() { return String.join(separator, rowList); }

    public int rows() { return rowList.size(); }

    /**
     * Token ids to score. Standard protocol: BOS (when {@code bos >= 0}) then the joined text, tokenized once.
     * With {@code bosPerRow}: every row stripped, tokenized on its own after a BOS, and the results concatenated,
     * as llama2.c pretokenizes TinyStories (the protocol behind stories260K's published validation loss).
     */
    public int[] tokens(java.util.function.Function<String, int[]> encodeWithoutBos, int bos, boolean bosPerRow) {
        List<String> parts = bosPerRow ? rowList.stream().map(String::strip).toList() : List.of(text());
        it.unimi.dsi.fastutil.ints.IntArrayList out = new it.unimi.dsi.fastutil.ints.IntArrayList();
        for (String part : parts) {
            if (bos >= 0) out.add(bos);
            out.addElements(out.size(), encodeWithoutBos.apply(part));
        }
        return out.toIntArray();
    }

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
                    yield new EvalDataset("wikitext2", rows, "\n\n", 0);
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
                    yield new EvalDataset("c4", docs, " ", C4_WINDOWS);
                }
                case "tinystories" -> {
                    String all = Files.readString(require(shared.resolve("data/tinystories/tinystories_val.txt")), StandardCharsets.UTF_8);
                    List<String> paragraphs = new ArrayList<>();
                    for (String s : all.split("\\n\\s*\\n")) if (!s.isBlank()) paragraphs.add(s.strip());
                    yield new EvalDataset("tinystories", paragraphs, "\n\n", 0);
                }
                default -> {
                    Path file = require(Path.of(nameOrPath));
                    yield new EvalDataset(file.getFileName().toString(), List.of(Files.readString(file, StandardCharsets.UTF_8)), "", 0);
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
