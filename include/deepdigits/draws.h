/* Initialization's numbers from Philox's uniforms, defined once for both backends. The CPU's host
 * generator and the GPU's device generator draw the same uniforms u in (0, 1] for a seed and an
 * offset (cuRAND's uniforms: test_gpu_curand checks them bitwise); these functions turn them into
 * weights, and must give the same bits on the host and on the device. So they use only the
 * operations IEEE 754 rounds exactly on both (+, -, *, /, sqrt, fma, frexp, rint), and every
 * product that meets a sum is an explicit fma (or exact, or an fma's addend, which no compiler
 * fuses further): neither a compiler's contraction (the host build has -ffp-contract=fast, nvcc
 * contracts by default) nor a math library's last-ulp choices can tell the backends apart. cuRAND's
 * own normals are not used: the device's Box-Muller takes the fast __sincosf, so they differ from
 * the host generator's by up to 1e-4. */
#ifndef DEEPDIGITS_DRAWS_H
#define DEEPDIGITS_DRAWS_H

#include <math.h>

#include "deepdigits/formulas.h" /* DD_HD */

/* U[lo, hi) from u in (0, 1]: 1 - u lies in [0, 1), as Keras's uniforms do. */
DD_HD float dd_uniform_between(float u, double lo, double hi) {
    return (float)fma(hi - lo, 1.0 - (double)u, lo);
}

/* C[0] + C[1] x + ... + C[N-1] x^(N-1), by Horner's rule in fmas. */
DD_HD double dd_poly(const double *c, int n, double x) {
    double p = c[n - 1];
    for (int i = n - 2; i >= 0; i--) p = fma(p, x, c[i]);
    return p;
}

/* ln x for x in (0, 1]. x = m 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s) with
 * s = (m - 1)/(m + 1), |s| <= 0.172, whose series s + s^3/3 + s^5/5 + ... has its first omitted
 * term (s^25/25) below 1e-20. */
DD_HD double dd_log_unit(double x) {
    int e;
    double m = frexp(x, &e);
    if (m < 0x1.6a09e667f3bcdp-1) m *= 2.0, e -= 1; /* sqrt(1/2) */
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double series = 1.0 / 23.0;
    for (int k = 21; k >= 1; k -= 2) series = fma(series, s2, 1.0 / k);
    return fma((double)e, 0x1.62e42fefa39efp-1, 2.0 * s * series); /* e ln 2 + ln m */
}

/* cos and sin of the angle 2 pi v, v in (0, 1]. 4v = q + f with q whole and |f| <= 1/2, both
 * exact: q quarter turns and (pi/2) f, whose Taylor series in f have their first omitted terms
 * below 1e-19 (sin, 9 terms) and 1e-20 (cos, 10 terms). */
DD_HD void dd_cos_sin_turn(double v, double *cos_out, double *sin_out) {
    /* (-1)^k (pi/2)^(2k+1) / (2k+1)! and (-1)^k (pi/2)^(2k) / (2k)! */
    const double sin_c[9] = {0x1.921fb54442d18p+0,  -0x1.4abbce625be53p-1,  0x1.466bc6775aae2p-4,
                             -0x1.32d2cce62bd86p-8, 0x1.50783487ee782p-13,  -0x1.e3074fde8871fp-19,
                             0x1.e8f434d018d63p-25, -0x1.6fadb9f155744p-31, 0x1.aaec32af93359p-38};
    const double cos_c[10] = {0x1.0000000000000p+0,  -0x1.3bd3cc9be45dep+0,  0x1.03c1f081b5ac4p-2,
                              -0x1.55d3c7e3cbffap-6, 0x1.e1f506891babbp-11,  -0x1.a6d1f2a204a8cp-16,
                              0x1.f9d38a3763cc3p-22, -0x1.b6e24f44b128fp-28, 0x1.20c62c2f2d7f5p-34,
                              -0x1.2a0c591af8314p-41};
    const double t = 4.0 * v, q = rint(t), f = t - q, f2 = f * f;
    const double s = f * dd_poly(sin_c, 9, f2), c = dd_poly(cos_c, 10, f2);
    switch ((int)q & 3) { /* cos and sin of (pi/2)(q + f) */
    case 0:
        *cos_out = c, *sin_out = s;
        break;
    case 1:
        *cos_out = -s, *sin_out = c;
        break;
    case 2:
        *cos_out = -c, *sin_out = -s;
        break;
    default:
        *cos_out = s, *sin_out = -c;
        break;
    }
}

/* Two independent N(0, 1) draws from two uniforms in (0, 1] (Box-Muller): the radius
 * sqrt(-2 ln U1), the angle 2 pi U2. */
DD_HD void dd_box_muller(float u1, float u2, float *z0, float *z1) {
    const double r = sqrt(-2.0 * dd_log_unit((double)u1));
    double c, s;
    dd_cos_sin_turn((double)u2, &c, &s);
    *z0 = (float)(r * c);
    *z1 = (float)(r * s);
}

/* Keras's truncated normal keeps the draws strictly within 2 standard deviations (TensorFlow's
 * TruncatedNormalDistribution: |z| < 2.0f, so a draw of exactly 2 is redrawn), then scales them
 * to STDDEV. */
DD_HD int dd_within_truncation(float z) {
    return fabsf(z) < 2.0f;
}
DD_HD float dd_truncated_normal_value(float z, double stddev) {
    return (float)(stddev * (double)z);
}

#endif
