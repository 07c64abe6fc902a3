/**
 * Hadamard matrices of the orders rotation-based quantization needs ({@link
 * dev.stiefel.riemann.hadamard.Hadamard}: Sylvester, Paley I/II, Williamson, Kronecker products), the fast
 * Walsh–Hadamard transform ({@link dev.stiefel.riemann.hadamard.Fwht}), row transforms by H_{2^k} ⊗ B without
 * forming the matrix ({@link dev.stiefel.riemann.hadamard.HadamardTransform}, with a random-orthogonal fallback
 * for orders without a construction) and the randomized Hadamard rotation of QuaRot and SpinQuant.
 */
package dev.stiefel.riemann.hadamard;
