/**
 * Adaptive layer-wise transform selection: which transform type each decoder block gets, chosen by a differentiable
 * search or by the outlier-guided rule (weight kurtosis, robust z-score across blocks).
 */
package dev.stiefel.quant.adaptive;
