package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Var;

/** x ← x·M at one site of every layer, the row being the last dim. */
record RotationOnline(Site site, Rotation m) implements Online {

    @Override public Var apply(int layer, Var x) {
        int[] s = x.shape();
        if (s[s.length - 1] != m.size())
            throw new IllegalArgumentException("online rotation at " + site + " of layer " + layer + ": rows of " + s[s.length - 1]
                    + " features for a rotation of size " + m.size());
        return m.multiply(x);
    }

    @Override public void apply(int layer, double[] row, int offset) { m.multiplyRows(row, offset, 1); }

    @Override public int rowSize() { return m.size(); }

    @Override public String describe() { return site + ": x·" + m.describe(); }
}
