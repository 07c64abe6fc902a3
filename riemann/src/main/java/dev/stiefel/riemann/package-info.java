/** Optimization on the Stiefel manifold and Hadamard matrices (issue 4). Empty until that issue lands. */
package dev.stiefel.riemann;
