package dev.stiefel.quant;

import dev.stiefel.llama.io.ggml.BlockFormat;

/**
 * One matrix [rows, cols] laid on a ggml block format with its block headers fixed: the headers (and initial codes)
 * are the format's reference quantization of the weights given at construction; afterwards a method picks each
 * element's code on that grid ({@link #quantize}), GPTQ column by column. {@link #blocks()} then holds the headers with
 * the chosen codes, and the values {@link #quantize} returned are exactly what ggml's dequantizer gives for them.
 */
public final class MatrixGrid {
    private final BlockFormat format;
    private final int rows, cols, blocksPerRow;
    private final byte[] blocks;

    MatrixGrid(BlockFormat format, float[] w, int rows, int cols) {
        if (cols % format.blockSize() != 0)
            throw new IllegalArgumentException(format.type() + ": rows of " + cols + " values are not whole blocks of " + format.blockSize());
        if (w.length != rows * cols) throw new IllegalArgumentException("grid: " + w.length + " values for " + rows + "×" + cols);
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        this.blocksPerRow = cols / format.blockSize();
        this.blocks = format.quantizeRow(w, 0, w.length);
    }

    public BlockFormat format() { return format; }
    public int rows() { return rows; }
    public int cols() { return cols; }

    private int blockAt(int r, int c) { return (r * blocksPerRow + c / format.blockSize()) * format.blockBytes(); }

    /**
     * Chooses the code of element (r, c) nearest x on its block's grid, stores it and returns its value. Calls for
     * different rows may run at once (a row's blocks are its own bytes).
     */
    public float quantize(int r, int c, float x) {
        int at = blockAt(r, c), i = c % format.blockSize();
        int code = format.nearest(blocks, at, i, x);
        format.setCode(blocks, at, i, code);
        return format.value(blocks, at, i, code);
    }

    /** The blocks: headers from the reference rule, codes as last chosen. */
    public byte[] blocks() { return blocks.clone(); }
}
