package dev.stiefel.quant;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.BlockFormat;
import dev.stiefel.llama.io.ggml.BlockFormats;
import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.llama.io.ggml.FileType.Role;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Tensor;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Weights quantized on llama.cpp's own grids: the file type a model will be exported as ({@link FileType}: which ggml
 * type each matrix gets), and the blocks each method chose, kept beside the fake-quantized tensor they dequantize to,
 * so the GGUF written afterwards holds exactly the weights whose perplexity was measured.
 *
 * <p>A matrix's grid is the block format's: the block headers (f16 scales, Q4_K's 6-bit sub-block scales and mins) come
 * from the format's reference rule on the weights the method hands over; RTN keeps the rule's codes too (so its bytes
 * are llama.cpp's own), other methods choose codes on that grid ({@link MatrixGrid}). A matrix the rules store as F16
 * (rows that are not whole blocks) is rounded to f16, which is what the file holds.
 *
 * <p>One target collects the blocks of every method run with its config; entries are keyed by the tensor object a
 * method produced, so the exporter finds each matrix's blocks from the quantized weights themselves.
 */
public final class GgmlTarget {
    /** How one fake-quantized matrix is stored: its type, its blocks (null for F16/F32) and the fallback note, if any. */
    public record Encoded(GgmlType type, byte[] blocks, String fallback) {}

    private final FileType fileType;
    private final Map<Tensor, Encoded> encoded = Collections.synchronizedMap(new IdentityHashMap<>());

    public GgmlTarget(FileType fileType) { this.fileType = fileType; }

    public FileType fileType() { return fileType; }

    /**
     * A QuantSpec close to the file type's default grid, for code that reads a spec's bits or group size (reports,
     * searches that need a group size); the weights themselves are quantized by this target, never by the spec.
     */
    public QuantSpec approximateSpec() { return approximateSpec(fileType.defaultType()); }

    /** The QuantSpec closest to one ggml type's grid: its bits, its symmetry and its (sub-)block. */
    public static QuantSpec approximateSpec(GgmlType t) {
        return switch (t) {
            case Q4_0 -> QuantSpec.weights(4, true, 32);
            case Q5_0 -> QuantSpec.weights(5, true, 32);
            case Q5_1 -> QuantSpec.weights(5, false, 32);
            case Q8_0 -> QuantSpec.weights(8, true, 32);
            case Q5_K -> QuantSpec.weights(5, false, 32);
            case Q6_K -> QuantSpec.weights(6, true, 16);
            default -> QuantSpec.weights(4, false, 32);   // Q4_1, Q4_K
        };
    }

    /** The type of a block linear (or of the head, {@link Linear#HEAD}) of a model with {@code layers} layers. */
    public FileType.Choice choose(int layer, int layers, Linear which, int cols) {
        Role role = switch (which) {
            case Q -> Role.ATTN_Q;
            case K -> Role.ATTN_K;
            case V -> Role.ATTN_V;
            case O -> Role.ATTN_OUTPUT;
            case GATE -> Role.FFN_GATE;
            case UP -> Role.FFN_UP;
            case DOWN -> Role.FFN_DOWN;
            case HEAD -> Role.OUTPUT;
        };
        return fileType.choose(role, layer, layers, cols);
    }

    /** The token embedding's type: the head's rule when the head is tied to it (llama-quantize), else the default's. */
    public FileType.Choice chooseEmbedding(boolean tied, int cols) {
        return fileType.choose(tied ? Role.OUTPUT : Role.TOKEN_EMBD, 0, 1, cols);
    }

    /**
     * Round-to-nearest on the grid: llama.cpp's reference quantization of w [rows, cols] (so the blocks are the bytes
     * llama-quantize writes), returned dequantized; the blocks are recorded for the exporter.
     */
    public Tensor rtn(Tensor w, FileType.Choice choice, String name) {
        if (choice.type() == GgmlType.F16) return recordF16(w, choice);
        byte[] blocks = referenceBlocks(w, choice, name);
        return record(Tensor.wrap(dequantize(format(choice.type(), name), blocks, w.numel()), w.shape()), choice, blocks);
    }

    /**
     * What {@link #rtn} would store for w, dequantized, without recording it: the value of a candidate a search scores
     * (AWQ's scales and clipping) on exactly the grid the file will hold.
     */
    public Tensor roundTrip(Tensor w, FileType.Choice choice, String name) {
        if (choice.type() == GgmlType.F16) return w.to(DType.F16).to(DType.F32);
        byte[] blocks = referenceBlocks(w, choice, name);
        return Tensor.wrap(dequantize(format(choice.type(), name), blocks, w.numel()), w.shape());
    }

    private static byte[] referenceBlocks(Tensor w, FileType.Choice choice, String name) {
        if (w.dim() != 2) throw new IllegalArgumentException("ggml " + name + ": expected a matrix, got " + java.util.Arrays.toString(w.shape()));
        float[] x = w.toFloatArray();
        return format(choice.type(), name).quantizeRow(x, 0, x.length);
    }

    /** The block format of a choice (null for F16): its block is the group a search works on. */
    public static BlockFormat formatOf(FileType.Choice choice, String name) {
        return choice.type() == GgmlType.F16 ? null : format(choice.type(), name);
    }

    /** The grid of w [rows, cols] with headers by the format's rule on w, for a method that chooses its own codes. */
    public MatrixGrid grid(float[] w, int rows, int cols, FileType.Choice choice, String name) {
        return new MatrixGrid(format(choice.type(), name), w, rows, cols);
    }

    /** Records the weights a method chose on {@code grid}: the tensor of its dequantized blocks. */
    public Tensor record(MatrixGrid grid, FileType.Choice choice) {
        byte[] blocks = grid.blocks();
        float[] v = dequantize(grid.format(), blocks, grid.rows() * grid.cols());
        return record(Tensor.wrap(v, grid.rows(), grid.cols()), choice, blocks);
    }

    /** A matrix stored as F16 (a fallback): its values rounded to f16, as the file will hold them. */
    public Tensor recordF16(Tensor w, FileType.Choice choice) {
        return record(w.to(DType.F16).to(DType.F32), choice, null);
    }

    private Tensor record(Tensor t, FileType.Choice choice, byte[] blocks) {
        encoded.put(t, new Encoded(choice.type(), blocks, choice.fallback()));
        return t;
    }

    /** How {@code t} (a tensor some method produced through this target) is stored, or null if it was not. */
    public Encoded encoded(Tensor t) { return encoded.get(t); }

    static float[] dequantize(BlockFormat f, byte[] blocks, int n) {
        float[] y = new float[n];
        f.dequantize(blocks, 0, n / f.blockSize(), y, 0);
        return y;
    }

    private static BlockFormat format(GgmlType t, String name) {
        BlockFormat f = BlockFormats.of(t);
        if (f == null) throw new IllegalArgumentException("ggml " + name + ": " + t + " is not a block format implemented here " + BlockFormats.types());
        return f;
    }
}
