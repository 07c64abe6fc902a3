/**
 * Optimization on the Stiefel manifold St(n, p) = { X : XᵀX = I }: the manifold's maps ({@link
 * dev.stiefel.riemann.Stiefel}), optimizers that keep autograd parameters orthonormal ({@link
 * dev.stiefel.riemann.CayleySgd} as in SpinQuant, {@link dev.stiefel.riemann.RiemannianAdam} as in OSTQuant,
 * {@link dev.stiefel.riemann.RiemannianSgd}), and {@link dev.stiefel.riemann.OptimizerGroup} to step them together
 * with autograd's Euclidean optimizers. Hadamard matrices and the fast transform are in
 * {@link dev.stiefel.riemann.hadamard}.
 */
package dev.stiefel.riemann;
