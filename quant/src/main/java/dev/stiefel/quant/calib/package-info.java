/**
 * Calibration data (token windows drawn with a seed, a split that keeps calibration and evaluation apart, text the
 * model generates itself) and the capture of block inputs and linear-layer inputs through the forward pass's hooks.
 */
package dev.stiefel.quant.calib;
