/** Dense tensors and CPU kernels. */
package dev.stiefel.tensor;
