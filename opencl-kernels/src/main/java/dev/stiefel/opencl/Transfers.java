package dev.stiefel.opencl;

/**
 * Host↔device traffic since the backend started: every upload (a host tensor an op reads, {@code resident}) and
 * every download (a device tensor Java code reads) is one call here. Tests take the difference of two snapshots
 * to show what a computation moved.
 */
public record Transfers(long uploads, long uploadBytes, long downloads, long downloadBytes) {
    public Transfers minus(Transfers earlier) {
        return new Transfers(uploads - earlier.uploads, uploadBytes - earlier.uploadBytes,
                downloads - earlier.downloads, downloadBytes - earlier.downloadBytes);
    }

    @Override public String toString() {
        return uploads + " uploads (" + uploadBytes + " bytes), " + downloads + " downloads (" + downloadBytes + " bytes)";
    }
}
