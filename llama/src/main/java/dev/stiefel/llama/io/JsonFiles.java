package dev.stiefel.llama.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Reads a JSON file (config.json, the safetensors index, tokenizer.json) as a tree. The file is read as bytes and
 * parsed by Jackson, so invalid UTF-8, bad JSON and Jackson's own limits (nesting depth 1000, numbers of 1000 digits,
 * strings of 20 M characters) all become a {@link ModelFormatException} naming the file and the line and column.
 */
public final class JsonFiles {
    private JsonFiles() {}

    /** The JSON tree of {@code file} (a missing node for an empty file), which may have at most {@code maxBytes} bytes. */
    public static JsonNode read(Path file, long maxBytes, ObjectMapper json) throws IOException {
        byte[] bytes = ReadLimits.readAll(file, maxBytes, "the JSON file");
        try {
            return json.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr()), e);
        } catch (IOException e) { // CharConversionException and the like: the bytes are in no encoding JSON allows
            throw new ModelFormatException(file, "not valid JSON text (UTF-8 expected): " + e.getMessage(), e);
        }
    }
}
