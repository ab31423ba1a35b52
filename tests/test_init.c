/* Initialization and the per-epoch shuffle: the statistics of every Keras kernel initializer
 * (LAB.md, "Keras semantics to reproduce") over the 784x200 = 156,800 draws of one first-layer
 * kernel (fan_in 784, fan_out 200), the constant tensors, the parameter counts Keras's summary
 * shows, determinism in the seed, and dd_shuffle's permutations.
 *
 * Tolerances are in standard errors of the quantity checked, wide enough that a correct
 * implementation passes with any seed and narrow enough that a wrong scale fails:
 *   mean      |mean| < 4 SE, SE = std/sqrt(n)
 *   variance  2%: the sample variance's relative SE is sqrt((kurtosis - 1)/n), 0.23% for a uniform
 *             (kurtosis 1.8) and 0.30% for the truncated normal (2.36), so 2% is 7-9 SE, while
 *             the usual mistakes (a limit from fan_in alone, a missing 0.8796 correction) are
 *             off by 10% or more. */
#include "deepdigits/draws.h"
#include "deepdigits/formulas.h"
#include "deepdigits/idx.h"
#include "deepdigits/model.h"
#include "deepdigits/ops.h"
#include "deepdigits/rng.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAN_IN  DD_IMAGE_PIXELS
#define FAN_OUT 200

typedef struct {
    size_t n;
    double mean, var, std;
    float min, max;
} sample_stats;

static sample_stats stats_of(const float *w, size_t n) {
    sample_stats s = {.n = n, .min = w[0], .max = w[0]};
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += w[i];
        s.min = fminf(s.min, w[i]);
        s.max = fmaxf(s.max, w[i]);
    }
    s.mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sq += (w[i] - s.mean) * (w[i] - s.mean);
    s.var = sq / (double)(n - 1);
    s.std = sqrt(s.var);
    return s;
}

/* Parameters of CFG initialized with SEED (NULL on failure); the layout goes to L. */
static float *init_params(const dd_model_config *cfg, unsigned long long seed, dd_layout *L) {
    char err[DD_ERR_LEN];
    if (dd_layout_build(cfg, L, err) != 0) {
        CHECK(0, "dd_layout_build: %s", err);
        return NULL;
    }
    float *p = malloc(L->n_params * sizeof *p);
    for (size_t i = 0; i < L->n_params; i++) p[i] = NAN; /* so that a tensor left unset shows */
    if (dd_model_init(cfg, L, seed, p, err) != 0) {
        CHECK(0, "dd_model_init: %s", err);
        free(p);
        return NULL;
    }
    return p;
}

/* The first layer's 156,800 kernel values for INIT, or NULL. */
static float *first_kernel(dd_init init, float **params) {
    const dd_model_config cfg = dd_test_network(1, FAN_OUT, DD_BN_NONE, init);
    dd_layout L;
    *params = init_params(&cfg, 1234, &L);
    return *params ? *params + L.dense[0].kernel : NULL;
}

static void check_moments(const char *name, sample_stats s, double want_std) {
    const double se = want_std / sqrt((double)s.n), want_var = want_std * want_std;
    CHECK(fabs(s.mean) < 4 * se, "%s: mean %.3g is %.1f standard errors from 0", name, s.mean,
          fabs(s.mean) / se);
    CHECK(fabs(s.var / want_var - 1) < 0.02, "%s: variance %.6g, expected %.6g (within 2%%)", name,
          s.var, want_var);
}

/* U[-limit, limit]: inside the bounds and reaching to within 0.1% of both (with 156,800 draws
 * missing that margin has probability e^-157), with the variance limit^2/3. The bounds are
 * compared as floats: rounding a draw to float may land on the rounded limit, never beyond. */
static void check_uniform(const char *name, dd_init init, double limit) {
    float *params, *w = first_kernel(init, &params);
    if (!w) return;
    const size_t n = (size_t)FAN_IN * FAN_OUT;
    const sample_stats s = stats_of(w, n);
    CHECK(s.min >= (float)-limit && s.max <= (float)limit, "%s: range [%.9g, %.9g] exceeds +-%.9g",
          name, s.min, s.max, limit);
    CHECK(s.min < -limit * 0.999 && s.max > limit * 0.999,
          "%s: range [%.9g, %.9g] does not fill +-%.9g", name, s.min, s.max, limit);
    check_moments(name, s, limit / sqrt(3.0));
    free(params);
}

/* The lab's RandomUniform(-0.1, 0.1): U[a, b), so b itself is never drawn. Keras draws
 * a + (b - a) * r with r in [0, 1); cuRAND's uniforms u lie in (0, 1], so r = 1 - u: each weight
 * is exactly that of the uniform drawn at its place (seed 1234, layer 0's offset), within a float
 * ulp of 0.1 (7.5e-9) for the final rounding. Taking r = u instead keeps the statistics (and
 * draws b itself once in 2^24 only, which the check above would not see), but moves the typical
 * weight by 0.1. */
static void test_random_uniform(void) {
    const dd_init init = {DD_INIT_RANDOM_UNIFORM, -0.1f, 0.1f};
    check_uniform("random_uniform(-0.1, 0.1)", init, 0.1);
    float *params, *w = first_kernel(init, &params);
    if (!w) return;
    const size_t n = (size_t)FAN_IN * FAN_OUT;
    size_t at_max = 0;
    for (size_t i = 0; i < n; i++) at_max += w[i] >= 0.1f;
    CHECK(at_max == 0, "random_uniform: %zu draws equal the excluded upper bound 0.1", at_max);
    char err[DD_ERR_LEN];
    dd_rng *rng = dd_rng_create(1234, err);
    float *u = malloc(n * sizeof *u);
    if (!rng || !u || dd_rng_uniform(rng, DD_RNG_INIT_OFFSET(0), u, n, err) != 0) {
        CHECK(0, "drawing the uniforms: %s", err);
    } else {
        const double a = -0.1f, b = 0.1f;
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n; i++)
            if (fabs(w[i] - (a + (b - a) * (1.0 - u[i]))) > 1e-8 && bad++ == 0) first = i;
        CHECK(bad == 0,
              "random_uniform: %zu of %zu weights are not a + (b - a)(1 - u), first [%zu]: "
              "%.9g from u = %.9g",
              bad, n, first, (double)w[first], (double)u[first]);
        CHECK(dd_uniform_between(1.0f, a, b) == (float)a, "u = 1 gives %.9g, not a",
              (double)dd_uniform_between(1.0f, a, b));
    }
    free(u);
    dd_rng_destroy(rng);
    free(params);
}

static double normal_cdf(double x) {
    return 0.5 * (1 + erf(x / sqrt(2.0)));
}

/* The standard deviation of a standard normal truncated to +-2: Var = 1 - 2*2*pdf(2) / P(|z|<=2),
 * the 0.87962566103423978 Keras divides by. */
static double truncated_std(void) {
    const double pdf2 = exp(-2.0) / sqrt(2 * M_PI);
    return sqrt(1 - 4 * pdf2 / (2 * normal_cdf(2) - 1));
}

/* P(|z| > 1 | |z| <= 2) for a standard normal z: the share of a 2-sigma truncated normal that
 * lies beyond 1 sigma, 2(Phi(2) - Phi(1)) / (2 Phi(2) - 1) = 0.2848. */
static double truncated_beyond_one_sigma(void) {
    return 2 * (normal_cdf(2) - normal_cdf(1)) / (2 * normal_cdf(2) - 1);
}

/* Keras's truncated normal: sigma = target / 0.8796 so that after dropping the draws beyond
 * 2 sigma the standard deviation is the target. Every |w| <= 2 sigma, the edge is reached (about
 * 180 draws are expected within 0.5% of it), and the share beyond 1 sigma is 0.2848 within 0.01
 * (its SE is sqrt(p(1-p)/n) = 0.0011; an untruncated normal gives 0.3173). */
static void check_truncated_normal(const char *name, dd_init init, double target_std) {
    float *params, *w = first_kernel(init, &params);
    if (!w) return;
    const size_t n = (size_t)FAN_IN * FAN_OUT;
    const double sigma = target_std / truncated_std();
    const sample_stats s = stats_of(w, n);
    const double max_abs = fmax(-s.min, s.max);
    CHECK(max_abs <= (float)(2 * sigma), "%s: max |w| %.9g beyond 2 sigma = %.9g", name, max_abs,
          2 * sigma);
    CHECK(max_abs > 1.995 * sigma, "%s: max |w| %.9g, the 2 sigma edge %.9g is never reached", name,
          max_abs, 2 * sigma);
    check_moments(name, s, target_std);

    size_t beyond = 0;
    for (size_t i = 0; i < n; i++) beyond += fabs(w[i]) > sigma;
    const double share = (double)beyond / (double)n, want = truncated_beyond_one_sigma();
    CHECK(fabs(share - want) < 0.01, "%s: %.4f of the draws beyond 1 sigma, expected %.4f", name,
          share, want);
    free(params);
}

/* draws.h's own log, cos and sin, which both backends use for the normals, against long double
 * libm: within 1e-15 (relative for the log, absolute for cos and sin) over uniforms in (0, 1] as
 * cuRAND makes them (k 2^-32 + 2^-33 rounded to float), its end points and the quarter turns. */
static void check_draw_functions_at(float u) {
    const long double two_pi = 6.283185307179586476925286766559L;
    const double log_want = (double)logl((long double)u), log_got = dd_log_unit(u);
    CHECK(fabs(log_got - log_want) <= 1e-15 * fabs(log_want), "log(%a): %.17g, want %.17g", u,
          log_got, log_want);
    double c, s;
    dd_cos_sin_turn(u, &c, &s);
    const double c_want = (double)cosl(two_pi * u), s_want = (double)sinl(two_pi * u);
    CHECK(fabs(c - c_want) <= 1e-15 && fabs(s - s_want) <= 1e-15,
          "turn %a: cos %.17g sin %.17g, want %.17g %.17g", u, c, s, c_want, s_want);
}

static void test_draw_functions(void) {
    const float edges[] = {0x1p-33f,       0x1p-24f,       0.125f,        0.25f,  0.375f,
                           0.5f,           0.625f,         0.75f,         0.875f, 1.0f,
                           0x1.6a09e6p-1f, 0x1.6a09e8p-1f, 0x1.fffffep-1f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) check_draw_functions_at(edges[i]);
    unsigned state = 12345;
    for (int i = 0; i < 100000; i++) {
        state = state * 1664525u + 1013904223u;
        check_draw_functions_at((float)(state * 0x1p-32 + 0x1p-33));
    }
}

/* A draw of exactly 2 is dropped, as TensorFlow's TruncatedNormalDistribution keeps only
 * |z| < 2.0f (tensorflow/core/lib/random/random_distributions.h), which tf.keras's and Keras 3's
 * TF backend truncated normals use. Seed 16's layer-3 stream draws z = +2.0f at index 30469 (one
 * draw in about 4e7 lands on +-2.0f exactly), within the first round of 30,000 values; with
 * stddev 1 the kept values are the draws themselves, so none may be +-2 and the value that
 * follows the ones kept before it must be the next draw. */
static void test_truncation_edge(void) {
    CHECK(!dd_within_truncation(2.0f) && !dd_within_truncation(-2.0f), "+-2 kept");
    CHECK(dd_within_truncation(nextafterf(2.0f, 0.0f)) &&
              dd_within_truncation(-nextafterf(2.0f, 0.0f)),
          "the largest float below 2 dropped");
    enum { N = 30000, AT = 30469 };
    const unsigned long long offset = DD_RNG_INIT_OFFSET(3);
    char err[DD_ERR_LEN];
    dd_rng *rng = dd_rng_create(16, err);
    const size_t first = dd_truncated_round(N);
    float *z = malloc(first * sizeof *z), *w = malloc(N * sizeof *w);
    if (!rng || !z || !w || first <= AT || dd_rng_normal(rng, offset, z, first, err) != 0 ||
        dd_truncated_normal(w, N, 1.0, offset, dd_truncated_round, rng, NULL, err) != 0) {
        CHECK(0, "drawing the truncated normal: %s", err);
    } else {
        CHECK(z[AT] == 2.0f, "seed 16 layer 3: draw %d is %a, the test needs exactly 2", AT, z[AT]);
        size_t kept = 0, edges = 0;
        for (size_t i = 0; i < AT; i++) kept += fabsf(z[i]) < 2.0f;
        for (size_t i = 0; i < N; i++) edges += fabsf(w[i]) == 2.0f;
        CHECK(edges == 0, "%zu values of exactly +-2 sigma kept", edges);
        CHECK(kept < N && w[kept] == z[AT + 1], "value %zu is %a, want the draw after the 2: %a",
              kept, w[kept], z[AT + 1]);
    }
    free(w);
    free(z);
    dd_rng_destroy(rng);
}

static void test_initializers(void) {
    CHECK(fabs(truncated_std() - DD_TRUNCATED_NORMAL_STD) < 1e-15,
          "truncated normal std %.17g, formulas.h says %.17g", truncated_std(),
          DD_TRUNCATED_NORMAL_STD);
    test_random_uniform();
    const dd_init glorot_u = {DD_INIT_GLOROT_UNIFORM, 0, 0}, he_u = {DD_INIT_HE_UNIFORM, 0, 0};
    const dd_init glorot_n = {DD_INIT_GLOROT_NORMAL, 0, 0}, he_n = {DD_INIT_HE_NORMAL, 0, 0};
    check_uniform("glorot_uniform", glorot_u, sqrt(6.0 / (FAN_IN + FAN_OUT)));
    check_uniform("he_uniform", he_u, sqrt(6.0 / FAN_IN));
    check_truncated_normal("glorot_normal", glorot_n, sqrt(2.0 / (FAN_IN + FAN_OUT)));
    check_truncated_normal("he_normal", he_n, sqrt(2.0 / FAN_IN));
}

static size_t count_not(const float *p, size_t n, float v) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += p[i] != v;
    return bad;
}

/* Biases 0; with BN gamma 1, beta 0, moving mean 0, moving variance 1 (Keras's defaults). */
static void test_constant_tensors(dd_bn_place bn) {
    const dd_model_config cfg = dd_test_network(2, 30, bn, dd_model_config_lab().init);
    dd_layout L;
    float *p = init_params(&cfg, 5, &L);
    if (!p) return;
    const char *where = dd_bn_name(bn);
    for (int l = 0; l < L.n_dense; l++) {
        const dd_dense_layout *d = &L.dense[l];
        const size_t u = (size_t)d->units;
        CHECK(count_not(p + d->bias, u, 0.0f) == 0, "BN %s: layer %d bias not 0", where, l + 1);
        CHECK(d->has_bn == (l < cfg.n_hidden && bn != DD_BN_NONE), "BN %s: layer %d has_bn %d",
              where, l + 1, d->has_bn);
        if (!d->has_bn) continue;
        CHECK(count_not(p + d->gamma, u, 1.0f) == 0, "BN %s: layer %d gamma not 1", where, l + 1);
        CHECK(count_not(p + d->beta, u, 0.0f) == 0, "BN %s: layer %d beta not 0", where, l + 1);
        CHECK(count_not(p + d->moving_mean, u, 0.0f) == 0, "BN %s: layer %d moving mean not 0",
              where, l + 1);
        CHECK(count_not(p + d->moving_var, u, 1.0f) == 0, "BN %s: layer %d moving var not 1", where,
              l + 1);
    }
    free(p);
}

/* Same seed, same parameters to the bit; another seed, other kernels (fewer than 1% of the
 * values equal: two independent draws coincide essentially never). Also no two layers share a
 * stream: layer 2's 25x25 kernel is not a copy of layer 1's first values. */
static void test_seed_determinism(dd_init_kind kind) {
    const dd_init init = {kind, -0.1f, 0.1f};
    const dd_model_config cfg = dd_test_network(2, 25, DD_BN_NONE, init);
    dd_layout L;
    float *a = init_params(&cfg, 42, &L), *b = init_params(&cfg, 42, &L);
    float *c = init_params(&cfg, 43, &L);
    if (a && b && c) {
        const char *name = dd_init_name(kind);
        CHECK(memcmp(a, b, L.n_params * sizeof *a) == 0, "%s: seed 42 twice differs", name);
        const size_t n0 = (size_t)L.dense[0].fan_in * L.dense[0].units;
        const size_t n1 = (size_t)L.dense[1].fan_in * L.dense[1].units;
        size_t same = 0;
        for (size_t i = 0; i < n0; i++) same += a[i] == c[i];
        CHECK(same < n0 / 100, "%s: seeds 42 and 43 agree on %zu of %zu values", name, same, n0);
        CHECK(memcmp(a + L.dense[0].kernel, a + L.dense[1].kernel, n1 * sizeof *a) != 0,
              "%s: layer 2's kernel repeats layer 1's draws", name);
    }
    free(a), free(b), free(c);
}

static void check_counts(const char *name, const dd_model_config *cfg, size_t n_params,
                         size_t n_trainable) {
    char err[DD_ERR_LEN];
    dd_layout L;
    int rc = dd_layout_build(cfg, &L, err);
    CHECK(rc == 0 && L.n_params == n_params && L.n_trainable == n_trainable,
          "%s: rc %d, %zu params (%zu trainable), expected %zu (%zu)", name, rc, L.n_params,
          L.n_trainable, n_params, n_trainable);
}

/* The totals of Keras's model.summary(): 784*25+25 + 25*10+10 = 19,885 for the lab; with three
 * BN hidden layers of 25, 21,185 in Dense layers + 150 gammas and betas (trainable) + 150 moving
 * statistics (not trainable). */
static void test_param_counts(void) {
    const dd_model_config lab = dd_model_config_lab();
    check_counts("lab", &lab, 19885, 19885);
    const dd_model_config before = dd_test_network(3, 25, DD_BN_BEFORE, lab.init);
    check_counts("3x25, BN before", &before, 21485, 21335);
    const dd_model_config after = dd_test_network(3, 25, DD_BN_AFTER, lab.init);
    check_counts("3x25, BN after", &after, 21485, 21335);
}

static int shuffle(dd_rng *rng, int epoch, uint32_t *order, int n) {
    char err[DD_ERR_LEN];
    int rc = dd_shuffle(order, epoch, rng, n, err);
    CHECK(rc == 0, "dd_shuffle: %s", err);
    return rc;
}

/* Every index once, and really shuffled: a random permutation has on average one fixed point,
 * and 10 or more with probability ~1e-7. */
static void check_permutation(const char *name, const uint32_t *order, int n) {
    char *seen = calloc((size_t)n, 1);
    int bad = 0, fixed = 0;
    for (int i = 0; i < n; i++) {
        if (order[i] >= (uint32_t)n || seen[order[i]]++) bad++;
        fixed += order[i] == (uint32_t)i;
    }
    CHECK(bad == 0, "%s: %d indices out of range or repeated", name, bad);
    CHECK(fixed < 10, "%s: %d of %d indices left in place", name, fixed, n);
    free(seen);
}

/* The order itself (rng.h): the indices sorted by the 32-bit keys drawn at the epoch's offset,
 * ascending, ties by index. The GPU's shuffle is checked bitwise against this one
 * (test_gpu_curand), which only a GPU machine runs; here the rule is checked directly. */
static void check_sorted_by_keys(const char *name, dd_rng *rng, int epoch, const uint32_t *order,
                                 int n) {
    char err[DD_ERR_LEN];
    uint32_t *key = malloc((size_t)n * sizeof *key);
    if (dd_rng_bits(rng, DD_RNG_SHUFFLE_OFFSET(epoch), key, (size_t)n, err) != 0) {
        CHECK(0, "%s: dd_rng_bits: %s", name, err);
    } else {
        int bad = 0;
        for (int i = 0; i + 1 < n; i++) {
            const uint32_t a = order[i], b = order[i + 1];
            bad += !(key[a] < key[b] || (key[a] == key[b] && a < b));
        }
        CHECK(bad == 0, "%s: %d neighbours out of (key, index) order", name, bad);
    }
    free(key);
}

/* A permutation of the 60,000 training indices that depends on (seed, epoch) only: other epochs
 * or seeds give other orders, the same ones the same order, whatever was drawn before. */
static void test_shuffle_permutations(void) {
    enum { N = 60000 };
    char err[DD_ERR_LEN];
    dd_rng *r1 = dd_rng_create(99, err), *r2 = dd_rng_create(99, err), *r3 = dd_rng_create(7, err);
    uint32_t *e0 = malloc(N * sizeof *e0), *e1 = malloc(N * sizeof *e1);
    uint32_t *again = malloc(N * sizeof *again), *other = malloc(N * sizeof *other);
    if (r1 && r2 && r3 && shuffle(r1, 0, e0, N) == 0 && shuffle(r1, 1, e1, N) == 0 &&
        shuffle(r2, 0, again, N) == 0 && shuffle(r3, 0, other, N) == 0) {
        check_permutation("seed 99 epoch 0", e0, N);
        check_permutation("seed 99 epoch 1", e1, N);
        check_sorted_by_keys("seed 99 epoch 0", r1, 0, e0, N);
        check_sorted_by_keys("seed 99 epoch 1", r1, 1, e1, N);
        CHECK(memcmp(e0, e1, N * sizeof *e0) != 0, "epochs 0 and 1 share one order");
        CHECK(memcmp(e0, again, N * sizeof *e0) == 0, "seed 99 epoch 0 differs between runs");
        CHECK(memcmp(e0, other, N * sizeof *e0) != 0, "seeds 99 and 7 give one order");
        shuffle(r1, 0, again, N); /* after epoch 1 was drawn from the same generator */
        CHECK(memcmp(e0, again, N * sizeof *e0) == 0, "epoch 0 depends on what was drawn before");
    } else {
        CHECK(r1 && r2 && r3, "dd_rng_create: %s", err);
    }
    dd_rng_destroy(r1), dd_rng_destroy(r2), dd_rng_destroy(r3);
    free(e0), free(e1), free(again), free(other);
}

/* Uniform over permutations, seen through 200 epochs of n = 10 (each dd_shuffle call costs ~5 ms
 * of cuRAND host set-up, so no more): the table of which index lands at which position, 20
 * expected per cell, has Pearson's chi-square statistic 90 on average with SD 14 (simulated over
 * 100,000 runs of truly random permutations, none above 167). 170 is 5.7 SD; one order repeated
 * every epoch gives 18,000. */
static void test_shuffle_distribution(void) {
    enum { N = 10, EPOCHS = 200 };
    char err[DD_ERR_LEN];
    dd_rng *rng = dd_rng_create(2024, err);
    if (!rng) {
        CHECK(0, "dd_rng_create: %s", err);
        return;
    }
    int count[N][N] = {{0}};
    uint32_t order[N];
    for (int e = 0; e < EPOCHS; e++) {
        if (shuffle(rng, e, order, N) != 0) break;
        for (int i = 0; i < N; i++)
            if (order[i] < N) count[i][order[i]]++;
    }
    const double expected = (double)EPOCHS / N;
    double chi2 = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            chi2 += (count[i][j] - expected) * (count[i][j] - expected) / expected;
    CHECK(chi2 < 170, "position-by-index chi-square %.1f over %d epochs (expected 90 +- 14)", chi2,
          EPOCHS);
    dd_rng_destroy(rng);
}

int main(void) {
    test_draw_functions();
    test_initializers();
    test_truncation_edge();
    test_constant_tensors(DD_BN_NONE);
    test_constant_tensors(DD_BN_BEFORE);
    test_constant_tensors(DD_BN_AFTER);
    for (int k = DD_INIT_RANDOM_UNIFORM; k <= DD_INIT_HE_UNIFORM; k++)
        test_seed_determinism((dd_init_kind)k);
    test_param_counts();
    test_shuffle_permutations();
    test_shuffle_distribution();
    return dd_test_finish("test_init");
}
