/** JMH benchmarks. */
package dev.stiefel.bench;
