/**
 * OpenCL backend of the tensor module through JOCL. It will implement {@code dev.stiefel.tensor.backend.Backend}
 * and register through {@code ServiceLoader}; the tensor module never imports it. Empty until its issue lands.
 */
package dev.stiefel.opencl;
