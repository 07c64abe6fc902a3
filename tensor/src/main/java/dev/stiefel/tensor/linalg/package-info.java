/**
 * Dense double-precision linear algebra for the quantization algorithms: {@link dev.stiefel.tensor.linalg.DMatrix}
 * (row-major storage, products) and {@link dev.stiefel.tensor.linalg.Linalg} (Cholesky, triangular and LU solves,
 * Householder QR, symmetric eigendecomposition, SVD, polar factor, Haar-random orthogonal matrices).
 */
package dev.stiefel.tensor.linalg;
