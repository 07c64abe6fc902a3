package dev.stiefel.quant.calib;

import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.MappedPages;
import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.CRC32;

/**
 * Checksums that name what a resumable run depends on, so a work directory is only ever resumed by the same run:
 * every weight of the model, every calibration token, and the directory a fingerprint's run lives in.
 */
public final class Fingerprints {
    private Fingerprints() {}

    /**
     * CRC32 of every value of every tensor of {@code w} (float bits, little-endian), read a slab of rows at a time. A
     * memory-mapped tensor's pages leave resident memory once read when the run releases blocks ({@link MappedPages}):
     * a 7B checkpoint read whole would otherwise stay resident, 13.5 GB.
     */
    public static long model(LlamaWeights w) {
        CRC32 crc = new CRC32();
        for (Tensor t : w.tensors()) {
            update(crc, t);
            if (MappedPages.releasingAfterEachBlock() && t.storage() instanceof MappedStorage m) m.releasePages();
        }
        return crc.getValue();
    }

    /** CRC32 of the float bits of {@code tensors}, in order. */
    public static long tensors(Iterable<Tensor> tensors) {
        CRC32 crc = new CRC32();
        for (Tensor t : tensors) update(crc, t);
        return crc.getValue();
    }

    /** CRC32 of every token of every calibration sample, in order. */
    public static long tokens(CalibrationData calibration) {
        CRC32 crc = new CRC32();
        for (int[] sample : calibration.samples()) {
            ByteBuffer b = ByteBuffer.allocate(4 * sample.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asIntBuffer().put(sample);
            crc.update(b);
        }
        return crc.getValue();
    }

    /** {@code root/label-<first 12 hex digits of SHA-256(fingerprint)>}: one subdirectory per run, several runs per root. */
    public static Path runDirectory(Path root, String label, String fingerprint) {
        return root.resolve(label.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + sha256(fingerprint).substring(0, 12));
    }

    public static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static void update(CRC32 crc, Tensor t) {
        Tensor m = t.shape().length == 0 ? t.reshape(1) : t;
        int rows = m.size(0);
        long perRow = Math.max(1, m.numel() / Math.max(1, rows));
        int slab = (int) Math.max(1, Math.min(rows, (1L << 20) / perRow));
        for (int r = 0; r < rows; r += slab) {
            float[] f = m.narrow(0, r, Math.min(slab, rows - r)).contiguous().toFloatArray();
            ByteBuffer b = ByteBuffer.allocate(4 * f.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(f);
            crc.update(b);
        }
    }
}
