package dev.stiefel.quant.transform;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A rotation's dense f32 matrix where the current backend computes, made once per rotation and backend: the operand
 * of {@link Rotation#multiply(dev.stiefel.autograd.Var)} on the tape, which a learning pass uses in every block and
 * again in backward. Rebuilding it per call costs the rotation applied to every row of the identity (n² log n for a
 * Hadamard, n³ for a dense rotation), and on a device an upload of n² floats each time. Held while the rotation is reachable (the keys are weak, and rotations
 * compare by identity). A device copy made inside one of a device backend's release scopes goes back when the scope
 * closes; the command-line paths open none.
 */
final class RotationMatrices {
    private RotationMatrices() {}

    private static final Map<Rotation, Map<Backend, Tensor>> CACHE = new WeakHashMap<>();

    static synchronized Tensor of(Rotation r) {
        Backend b = Backends.current();
        return CACHE.computeIfAbsent(r, k -> new IdentityHashMap<>()).computeIfAbsent(b, k -> b.resident(DoubleWeights.tensor(r.matrix())));
    }
}
