/* The host's tanh (dd_tanh, include/deepdigits/formulas.h) against tanh in double, rounded:
 *   - on a sweep of about 6 million floats of both signs from 2^-30 to 16 (every 97th bit
 *     pattern), it is never more than half an ulp and a hair (0.5001) from the exact value, and
 *     no more than 2 in a million are not correctly rounded;
 *   - +-0 keep their sign, tiny values are returned as they are, large ones give +-1, +-inf
 *     give +-1 and NaN stays NaN (the loss check relies on it). */
#include "deepdigits/formulas.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* |got - exact| in units of the float spacing next to the correctly rounded value, on got's side
 * (on exact's when got is that value): below a power of two the spacing halves, and the spacing
 * above would count a whole ulp there as half of one. */
static double ulps(float got, double exact) {
    const float rounded = (float)exact;
    const float side = got != rounded ? got : exact > rounded ? INFINITY : -INFINITY;
    const double spacing = fabs((double)nextafterf(rounded, side) - rounded);
    return fabs((double)got - exact) / spacing;
}

static void test_sweep(void) {
    double worst = 0;
    float worst_at = 0;
    long count = 0, not_rounded = 0;
    const uint32_t lo = 0x30800000u /* 2^-30 */, hi = 0x41800000u /* 16 */;
    for (uint32_t u = lo; u < hi; u += 97)
        for (int sign = 0; sign < 2; sign++) {
            const float z = sign ? -from_bits(u) : from_bits(u);
            const double exact = tanh((double)z);
            const float got = dd_tanh(z);
            const double e = ulps(got, exact);
            if (e > worst) worst = e, worst_at = z;
            not_rounded += got != (float)exact;
            count++;
        }
    CHECK(worst <= 0.5001, "dd_tanh is %.4f ulp off at %.9g", worst, worst_at);
    CHECK(not_rounded * 1000000 <= 2 * count, "%ld of %ld values not correctly rounded",
          not_rounded, count);
}

static void test_special_values(void) {
    CHECK(dd_tanh(0.0f) == 0.0f && !signbit(dd_tanh(0.0f)), "tanh(+0) is not +0");
    CHECK(dd_tanh(-0.0f) == 0.0f && signbit(dd_tanh(-0.0f)), "tanh(-0) is not -0");
    CHECK(dd_tanh(1e-20f) == 1e-20f && dd_tanh(-1e-20f) == -1e-20f, "tanh of a tiny z is not z");
    CHECK(dd_tanh(20.0f) == 1.0f && dd_tanh(-20.0f) == -1.0f, "tanh(+-20) is not +-1");
    CHECK(dd_tanh(1e30f) == 1.0f && dd_tanh(-1e30f) == -1.0f, "tanh(+-1e30) is not +-1");
    CHECK(dd_tanh(INFINITY) == 1.0f && dd_tanh(-INFINITY) == -1.0f, "tanh(+-inf) is not +-1");
    CHECK(isnan(dd_tanh(NAN)), "tanh(NaN) is not NaN");
}

int main(void) {
    test_sweep();
    test_special_values();
    return dd_test_finish("test_tanh");
}
