/* The fused engine's kernel body (kernels/fused_body.cuh), run on the host by the emulator, trains
 * exactly as the CPU reference does: the same initial parameters and sample order, a few SGD steps
 * on real MNIST, then every parameter, the loss and hit sums and the per-layer gradient norms
 * compared. The engine changes only the order of some float sums (and applies a batch's first
 * kernel update one sample at a time), so after a few steps the parameters agree to ~1e-7; the
 * limit 1e-5 still catches any wrong index or formula, which moves them by 1e-3 in one step.
 * Each shape runs on one SM and, where the engine may take it, on a cluster of two (each block
 * half of the pixels, the other's partial sums through its shared memory). Also: two launches over
 * consecutive spans give exactly what one launch gives, the planner follows its rules for the
 * SMs a model gets, for the lanes a BN channel gets and for the warp step (batch 1, one hidden
 * layer), which gives the general
 * step's parameters to the bit, every model of the lab at batches up to 32 keeps everything in
 * shared memory (the kernel's on-chip build), and it refuses what the engine cannot take. The same
 * body on a real GPU: test_gpu_fused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepdigits/backend.h"
#include "deepdigits/rng.h"
#include "deepdigits/train.h"
#include "deepdigits/variants.h"
#include "fused.h"
#include "kernels.h"
#include "testutil.h"

#define TRAIN_IMAGES 2000
#define H100_SHARED  (227 * 1024) /* an H100's shared memory per block, opt-in maximum */
#define TIGHT        0

static dd_mnist data;
static float table[256];

static float *initial_params(const dd_model_config *cfg, const dd_layout *layout) {
    char err[DD_ERR_LEN];
    float *params = malloc(layout->n_params * sizeof *params);
    CHECK(dd_model_init(cfg, layout, 7, params, err) == 0, "%s", err);
    return params;
}

/* The reference: STEPS steps of BATCH (the last one COUNT - (STEPS-1)*BATCH) on the CPU. */
static void reference(const dd_model_config *cfg, float *params, const uint32_t *order, int count,
                      int batch, dd_sums *sums) {
    char err[DD_ERR_LEN];
    dd_backend *b =
        dd_test_backend(DD_DEVICE_CPU, cfg, &data, TRAIN_IMAGES, batch, DD_ENGINE_LAYERS, 0);
    CHECK(b->ops->upload_params(b, params, err) == 0, "%s", err);
    CHECK(b->ops->set_order(b, order, TRAIN_IMAGES, err) == 0, "%s", err);
    for (int first = 0; first < count; first += batch) {
        int n = count - first < batch ? count - first : batch;
        CHECK(b->ops->train_step(b, first, n, 0.01f, err) == 0, "%s", err);
    }
    CHECK(b->ops->take_sums(b, sums, err) == 0, "%s", err);
    CHECK(b->ops->download_params(b, params, err) == 0, "%s", err);
    b->ops->destroy(b);
}

/* The same steps by the emulated fused kernel, planned with SHARED_LIMIT bytes of shared memory
 * (TIGHT: the plan's fixed part and two images, so the parameters and activations go to global
 * memory and the batch's images through shared memory two at a time); with PHASE_CLOCKS, the
 * kernel built with its phase clocks. */
static void fused_span_timed(const dd_fused_plan *plan, float *params, const uint32_t *order,
                             int first, int count, int batch, double *sums, int phase_clocks) {
    char err[DD_ERR_LEN];
    float *scratch =
        plan->scratch_floats ? calloc((size_t)plan->scratch_floats, sizeof *scratch) : NULL;
    for (int k = 0; scratch && k < plan->g_grad; k++) scratch[k] = NAN; /* read before written? */
    dd_fused_run run = {.params = params,
                        .pixels = data.train.pixels,
                        .labels = data.train.labels,
                        .order = order,
                        .table = table,
                        .first = first,
                        .count = count,
                        .batch = batch,
                        .lr = 0.01f,
                        .diagnostics = 1,
                        .phase_clocks = phase_clocks,
                        .sums = sums,
                        .scratch = scratch};
    CHECK(dd_fused_train_emulated(plan, &run, err) == 0, "%s", err);
    free(scratch);
}

static void fused_span(const dd_fused_plan *plan, float *params, const uint32_t *order, int first,
                       int count, int batch, double *sums) {
    fused_span_timed(plan, params, order, first, count, batch, sums, 0);
}

static void fused(const dd_fused_plan *plan, float *params, const uint32_t *order, int count,
                  int batch, double *sums) {
    fused_span(plan, params, order, 0, count, batch, sums);
}

/* Where the tests that train twice from one start and compare begin: CFG's layout, its initial
 * parameters twice (A, B), a shuffled sample order, and a zeroed set of sums for each run. */
typedef struct {
    dd_layout layout;
    float *a, *b;
    uint32_t *order;
    double sa[DD_N_SUMS], sb[DD_N_SUMS];
} twins;

static void twins_start(twins *t, const dd_model_config *cfg) {
    char err[DD_ERR_LEN];
    memset(t, 0, sizeof *t);
    CHECK(dd_layout_build(cfg, &t->layout, err) == 0, "%s", err);
    t->order = malloc(TRAIN_IMAGES * sizeof *t->order);
    dd_rng *rng = dd_rng_create(7, err);
    CHECK(dd_shuffle(t->order, 0, rng, TRAIN_IMAGES, err) == 0, "%s", err);
    dd_rng_destroy(rng);
    t->a = initial_params(cfg, &t->layout), t->b = initial_params(cfg, &t->layout);
}

static void twins_end(twins *t) {
    free(t->a), free(t->b), free(t->order);
}

/* The CUDA backend launches a queue of steps whenever something needs their results (a progress
 * bar, a checkpoint): two launches must give exactly what one gives, the loss and hit sums
 * included. The diagnostics' gradient norms are added up across the block once per launch, so
 * there only the order of a few double additions may differ (~1e-16). */
static void spans_add_up(const dd_model_config *cfg, int count, int split, int batch, int sms) {
    char err[DD_ERR_LEN];
    dd_fused_plan plan;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, batch, H100_SHARED, sms, &plan, err) == 0, "%s",
          err);
    twins t; /* a: one launch, b: two */
    twins_start(&t, cfg);
    fused_span(&plan, t.a, t.order, 0, count, batch, t.sa);
    fused_span(&plan, t.b, t.order, 0, split, batch, t.sb);
    fused_span(&plan, t.b, t.order, split, count - split, batch, t.sb);
    CHECK(memcmp(t.a, t.b, t.layout.n_params * sizeof *t.a) == 0,
          "two launches give other parameters than one");
    CHECK(memcmp(t.sa, t.sb, DD_SUM_GRAD_SQ * sizeof *t.sa) == 0,
          "two launches give other sums than one");
    for (int l = 0; l < t.layout.n_dense; l++)
        CHECK(dd_close(t.sb[DD_SUM_GRAD_SQ + l], t.sa[DD_SUM_GRAD_SQ + l], 0, 1e-12),
              "two launches: gradient norm of layer %d %.17g vs %.17g", l + 1,
              t.sb[DD_SUM_GRAD_SQ + l], t.sa[DD_SUM_GRAD_SQ + l]);
    twins_end(&t);
}

/* The warp step (kernels/fused_warp_step.cuh) is the general step at batch 1 with its phases
 * regrouped: COUNT steps of each from the same start give the same parameters and sums to the
 * bit (the diagnostics' norms, split among other threads, to 1e-12). */
static void warp_step_is_general_step(const char *name, const dd_model_config *cfg, int count) {
    char err[DD_ERR_LEN];
    dd_fused_plan warp, general;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, 1, H100_SHARED, 0, &warp, err) == 0, "%s", err);
    CHECK(warp.warp_step, "%s: batch 1 not planned as the warp step", name);
    general = warp;
    general.warp_step = 0;
    twins t; /* a: the warp step, b: the general one */
    twins_start(&t, cfg);
    fused(&warp, t.a, t.order, count, 1, t.sa);
    fused(&general, t.b, t.order, count, 1, t.sb);
    CHECK(memcmp(t.a, t.b, t.layout.n_params * sizeof *t.a) == 0,
          "%s: the warp step's parameters are not the general step's (%.3g relative)", name,
          dd_rel_error(t.a, t.b, t.layout.n_params));
    CHECK(memcmp(t.sa, t.sb, DD_SUM_GRAD_SQ * sizeof *t.sa) == 0,
          "%s: the warp step's loss, hit or step sums are not the general step's", name);
    for (int l = 0; l < t.layout.n_dense; l++)
        CHECK(dd_close(t.sa[DD_SUM_GRAD_SQ + l], t.sb[DD_SUM_GRAD_SQ + l], 0, 1e-12),
              "%s: gradient norm of layer %d %.17g vs %.17g", name, l + 1, t.sa[DD_SUM_GRAD_SQ + l],
              t.sb[DD_SUM_GRAD_SQ + l]);
    twins_end(&t);
}

/* The phase clocks (deepdigits-bench --phases) change nothing but the clock sums, and they time
 * exactly the phases dd_fused_phase_name names for the plan: each of them, and nothing else. */
static void phase_clocks_of(const char *name, const dd_fused_plan *p, const dd_model_config *cfg,
                            int count, int batch) {
    char what[128];
    const dd_fused_plan plan = *p;
    twins t; /* a: with the clocks, b: without */
    twins_start(&t, cfg);
    const double *sa = t.sa, *sb = t.sb;
    fused_span_timed(&plan, t.a, t.order, 0, count, batch, t.sa, 1);
    fused_span_timed(&plan, t.b, t.order, 0, count, batch, t.sb, 0);
    CHECK(memcmp(t.a, t.b, t.layout.n_params * sizeof *t.a) == 0 &&
              memcmp(sa, sb, DD_SUM_PHASES * sizeof *sa) == 0,
          "%s: the phase clocks changed the training", name);
    int named = 0;
    for (int k = 0; k < DD_FUSED_PHASES; k++) {
        dd_fused_phase_name(&plan, k, what, sizeof what);
        named += what[0] != '\0';
        CHECK((what[0] != '\0') == (sa[DD_SUM_PHASES + k] > 0), "%s: phase %d ('%s') timed %.0f",
              name, k, what, sa[DD_SUM_PHASES + k]);
        CHECK(sb[DD_SUM_PHASES + k] == 0, "%s: phase %d timed without the clocks", name, k);
    }
    const int phases = plan.warp_step ? 2 : 2 * plan.n_dense + (plan.bn != DD_BN_NONE);
    CHECK(named == phases, "%s: %d phases named", name, named);
    twins_end(&t);
}

static void phase_clocks(const char *name, const dd_model_config *cfg, int count, int batch,
                         int sms) {
    char err[DD_ERR_LEN];
    dd_fused_plan plan;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, batch, H100_SHARED, sms, &plan, err) == 0, "%s",
          err);
    phase_clocks_of(name, &plan, cfg, count, batch);
}

/* Which plans take the warp step: batch 1, one hidden layer of up to 32 units, no BN, one SM,
 * everything in shared memory, the next image staged during the step. */
static void warp_step_rule(void) {
    const dd_model_config lab = dd_model_config_lab();
    dd_model_config two = lab, wide = lab, bn = lab;
    two.n_hidden = 2, two.units[1] = 25;
    wide.units[0] = 33;
    bn.bn = DD_BN_AFTER;
    struct {
        const char *name;
        const dd_model_config *cfg;
        int batch, sms, warp_step;
        size_t shared;
    } cases[] = {{"the lab", &lab, 1, 0, 1, H100_SHARED},
                 {"batch 2", &lab, 2, 0, 0, H100_SHARED},
                 {"two SMs", &lab, 1, 2, 0, H100_SHARED},
                 {"four SMs", &lab, 1, 4, 0, H100_SHARED},
                 {"two hidden layers", &two, 1, 0, 0, H100_SHARED},
                 {"33 units", &wide, 1, 0, 0, H100_SHARED},
                 {"BN", &bn, 1, 0, 0, H100_SHARED},
                 {"no room to stage the next image", &lab, 1, 1, 0, TIGHT}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[DD_ERR_LEN];
        dd_fused_plan plan;
        if (cases[k].shared == TIGHT) { /* a byte less than the lab's whole plan needs */
            CHECK(dd_fused_plan_build(&lab, DD_IMAGE_PIXELS, 1, H100_SHARED, 1, &plan, err) == 0,
                  "%s", err);
            cases[k].shared = plan.shared_bytes - 1;
        }
        CHECK(dd_fused_plan_build(cases[k].cfg, DD_IMAGE_PIXELS, cases[k].batch, cases[k].shared,
                                  cases[k].sms, &plan, err) == 0,
              "%s: %s", cases[k].name, err);
        CHECK(plan.warp_step == cases[k].warp_step, "%s: warp step %d, the rule says %d",
              cases[k].name, plan.warp_step, cases[k].warp_step);
    }
}

/* Every model of the lab at the batches auto gives the fused engine, on one, two or four SMs, keeps
 * everything in shared memory on an H100, and so runs the kernel's on-chip build (its small
 * layers addressing shared memory directly; kernels/fused_body.cuh, on_chip_build). */
static void lab_plans_on_chip(void) {
    const int batches[] = {1, 2, 8, DD_FUSED_AUTO_MAX_BATCH};
    for (int m = 0; m <= DD_VARIANT_COUNT; m++)
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
            for (int sms = 1; sms <= DD_FUSED_MAX_CLUSTER; sms *= 2) {
                char err[DD_ERR_LEN];
                dd_train_options o;
                dd_fused_plan plan;
                CHECK(dd_variant_options(m, 0, &o, err) == 0, "%s", err);
                CHECK(dd_fused_plan_build(&o.model, DD_IMAGE_PIXELS, batches[b], H100_SHARED, sms,
                                          &plan, err) == 0,
                      "model %d at batch %d on %d SM(s): %s", m, batches[b], sms, err);
                CHECK(plan.on_chip && plan.rest_shared && plan.acts_shared,
                      "model %d at batch %d on %d SM(s): not on chip", m, batches[b], sms);
            }
}

/* COUNT samples at BATCH by PLAN's kernel, in launches of at most LAUNCH samples, against the
 * reference; returns the parameters' relative difference. */
static double agree_plan(const char *name, const dd_fused_plan *plan, const dd_model_config *cfg,
                         int count, int batch, int launch) {
    char err[DD_ERR_LEN];
    dd_layout layout;
    CHECK(dd_layout_build(cfg, &layout, err) == 0, "%s", err);
    uint32_t *order = malloc(TRAIN_IMAGES * sizeof *order);
    dd_rng *rng = dd_rng_create(7, err);
    CHECK(dd_shuffle(order, 0, rng, TRAIN_IMAGES, err) == 0, "%s", err);
    float *ref = initial_params(cfg, &layout), *got = initial_params(cfg, &layout);
    dd_sums rs;
    double sums[DD_N_SUMS] = {0};
    reference(cfg, ref, order, count, batch, &rs);
    for (int first = 0; first < count; first += launch)
        fused_span(plan, got, order, first, count - first < launch ? count - first : launch, batch,
                   sums);

    const double rel = dd_rel_error(got, ref, layout.n_params);
    printf("%s: %d samples at batch %d on %d SM%s (images %d at a time%s, first-layer rounds of "
           "%d, parameters %s, activations %s%s): parameters differ by %.3g relative\n",
           name, count, batch, plan->cluster, plan->cluster > 1 ? "s" : "", plan->x_samples,
           plan->x_double ? ", twice" : "", plan->chunk, plan->rest_shared ? "shared" : "global",
           plan->acts_shared ? "shared" : "global", plan->warp_pipe ? ", pipelined" : "", rel);
    CHECK(rel <= 1e-5, "%s: parameters differ by %.3g relative (limit 1e-5)", name, rel);
    CHECK(dd_close(sums[DD_SUM_LOSS], rs.loss_sum, 0, 1e-5), "%s: loss sum %.9g vs %.9g", name,
          sums[DD_SUM_LOSS], rs.loss_sum);
    CHECK((long)sums[DD_SUM_CORRECT] == rs.correct, "%s: hits %ld vs %ld", name,
          (long)sums[DD_SUM_CORRECT], rs.correct);
    CHECK((long)sums[DD_SUM_STEPS] == rs.steps, "%s: steps %ld vs %ld", name,
          (long)sums[DD_SUM_STEPS], rs.steps);
    CHECK(sums[DD_SUM_BAD_STEP] == 0, "%s: a finite run reported a bad step", name);
    for (int l = 0; l < layout.n_dense; l++)
        CHECK(dd_close(sums[DD_SUM_GRAD_SQ + l], rs.grad_sq[l], 0, 1e-4),
              "%s: gradient norm of layer %d: %.9g vs %.9g", name, l + 1, sums[DD_SUM_GRAD_SQ + l],
              rs.grad_sq[l]);
    free(ref), free(got), free(order);
    dd_rng_destroy(rng);
    return rel;
}

/* COUNT samples at BATCH on SMS blocks (0: the engine's rule) with SHARED_LIMIT bytes a block. */
static void agree(const char *name, const dd_model_config *cfg, int count, int batch, int sms,
                  size_t shared_limit) {
    char err[DD_ERR_LEN];
    dd_fused_plan plan;
    const int tight = shared_limit == TIGHT;
    if (tight && dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, batch, H100_SHARED, 1, &plan, err) == 0)
        shared_limit = (size_t)(plan.sm_x + 2 * DD_IMAGE_PIXELS) * sizeof(float);
    if (dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, batch, shared_limit, sms, &plan, err) != 0) {
        CHECK(0, "%s: %s", name, err);
        return;
    }
    if (tight)
        CHECK(!plan.rest_shared && !plan.acts_shared && plan.x_samples == 2,
              "%s: not the tight plan", name);
    CHECK(sms == 0 || plan.cluster == sms, "%s: planned on %d SMs, not %d", name, plan.cluster,
          sms);
    agree_plan(name, &plan, cfg, count, batch, count);
}

/* The pipelined warp step (kernels/fused_warp_pipe.cuh): CFG's warp-step plan with a fifteenth
 * warp and the ring of images beside the rest. */
static dd_fused_plan pipe_plan(const dd_model_config *cfg) {
    char err[DD_ERR_LEN];
    dd_fused_plan plan, step;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, 1, H100_SHARED, 1, &plan, err) == 0, "%s", err);
    step = plan;
    CHECK(dd_fused_plan_pipe(&plan, H100_SHARED, err) == 0, "%s", err);
    CHECK(plan.warp_pipe && plan.threads == DD_FUSED_PIPE_THREADS &&
              plan.sm_pipe * sizeof(float) >= step.shared_bytes &&
              plan.shared_bytes == (plan.sm_pipe + DD_FUSED_PIPE_FLOATS) * sizeof(float),
          "not the pipelined plan: %d threads, its buffers at %d floats, %zu bytes in all",
          plan.threads, plan.sm_pipe, plan.shared_bytes);
    return plan;
}

/* Its first-layer sums take the update of the sample before as a correction, so it trains as
 * the reference does but for rounding: COUNT samples in launches of LAUNCH, against the
 * reference (agree_plan's limit), and against the warp step to within LIMIT. */
static void pipe_agrees(const char *name, const dd_model_config *cfg, int count, int launch,
                        double limit) {
    char err[DD_ERR_LEN];
    const dd_fused_plan pipe = pipe_plan(cfg);
    agree_plan(name, &pipe, cfg, count, 1, launch);
    dd_fused_plan step;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, 1, H100_SHARED, 1, &step, err) == 0, "%s", err);
    twins t; /* a: pipelined, b: the warp step */
    twins_start(&t, cfg);
    for (int first = 0; first < count; first += launch)
        fused_span(&pipe, t.a, t.order, first, count - first < launch ? count - first : launch, 1,
                   t.sa);
    fused(&step, t.b, t.order, count, 1, t.sb);
    const double rel = dd_rel_error(t.a, t.b, t.layout.n_params);
    printf("%s: pipelined against the warp step: %.3g relative\n", name, rel);
    CHECK(rel <= limit, "%s: %.3g from the warp step's parameters (limit %.3g)", name, rel, limit);
    CHECK(t.sa[DD_SUM_STEPS] == count && t.sa[DD_SUM_CORRECT] == t.sb[DD_SUM_CORRECT] &&
              dd_close(t.sa[DD_SUM_LOSS], t.sb[DD_SUM_LOSS], 0, 1e-6),
          "%s: steps %.0f, hits %.0f vs %.0f, loss %.9g vs %.9g", name, t.sa[DD_SUM_STEPS],
          t.sa[DD_SUM_CORRECT], t.sb[DD_SUM_CORRECT], t.sa[DD_SUM_LOSS], t.sb[DD_SUM_LOSS]);
    twins_end(&t);
}

/* Which plans it takes: the warp step's, up to 31 units, with room for its buffers. */
static void pipe_rule(void) {
    const dd_model_config lab = dd_model_config_lab();
    dd_model_config wide = lab, two = lab;
    wide.units[0] = 32;
    two.n_hidden = 2, two.units[1] = 25;
    const struct {
        const char *name;
        const dd_model_config *cfg;
        int batch;
        const char *why;
    } cases[] = {{"32 units (no lane for the correction)", &wide, 1, "up to 31 units"},
                 {"batch 2", &lab, 2, "takes batch 1"},
                 {"two hidden layers", &two, 1, "one hidden layer"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[DD_ERR_LEN] = "";
        dd_fused_plan plan;
        CHECK(dd_fused_plan_build(cases[k].cfg, DD_IMAGE_PIXELS, cases[k].batch, H100_SHARED, 1,
                                  &plan, err) == 0,
              "%s", err);
        CHECK(dd_fused_plan_pipe(&plan, H100_SHARED, err) != 0 && strstr(err, cases[k].why),
              "%s: pipelined ('%s')", cases[k].name, err);
    }
    char err[DD_ERR_LEN] = "";
    dd_fused_plan plan;
    CHECK(dd_fused_plan_build(&lab, DD_IMAGE_PIXELS, 1, H100_SHARED, 1, &plan, err) == 0, "%s",
          err);
    const size_t limit = plan.shared_bytes + DD_FUSED_PIPE_FLOATS * sizeof(float) - 1;
    CHECK(dd_fused_plan_pipe(&plan, limit, err) != 0 && strstr(err, "bytes of shared memory"),
          "a byte short of shared memory: pipelined ('%s')", err);
}

static dd_model_config network(int hidden, int width, dd_activation act, dd_bn_place bn,
                               dd_init_kind init) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = hidden;
    for (int l = 0; l < hidden; l++) cfg.units[l] = width;
    cfg.activation = act;
    cfg.bn = bn;
    cfg.init.kind = init;
    return cfg;
}

/* The kernel divides an index by a layer's width or a BN group's lanes with a multiply
 * (dd_fused_quotient): exact for every index the engine forms (below 1024 x 64) and every divisor
 * it uses (1..64). */
static void quotients_exact(void) {
    for (int d = 1; d <= DD_FUSED_MAX_UNITS; d++) {
        const dd_fused_divisor div = dd_fused_divisor_of(d);
        int wrong = 0, first = -1;
        for (int n = 0; n < DD_FUSED_MAX_BATCH * DD_FUSED_MAX_UNITS; n++)
            if (dd_fused_quotient(n, div) != n / d && wrong++ == 0) first = n;
        CHECK(wrong == 0, "dividing by %d: %d quotients wrong, the first of %d", d, wrong, first);
    }
}

/* The lanes a BN channel gets (plan.bn_lanes): as many as the batch has samples, up to 32, then
 * halved until the 14 warps take every channel in one round. */
static void bn_lanes_rule(void) {
    const struct {
        int width, batch, lanes;
    } cases[] = {{25, 2, 2},   {25, 3, 4},    {25, 8, 8},  {25, 32, 16}, {25, 256, 16},
                 {14, 32, 32}, {10, 100, 32}, {64, 32, 4}, {64, 5, 4},   {1, 2, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[DD_ERR_LEN];
        dd_fused_plan plan;
        const dd_model_config cfg =
            network(2, cases[k].width, DD_ACT_SIGMOID, DD_BN_AFTER, DD_INIT_GLOROT_UNIFORM);
        CHECK(dd_fused_plan_build(&cfg, DD_IMAGE_PIXELS, cases[k].batch, H100_SHARED, 1, &plan,
                                  err) == 0,
              "%s", err);
        CHECK(plan.bn_lanes[0].d == cases[k].lanes && plan.bn_lanes[1].d == cases[k].lanes,
              "%d channels at batch %d: %d lanes a channel, the rule says %d", cases[k].width,
              cases[k].batch, plan.bn_lanes[0].d, cases[k].lanes);
    }
}

/* The first layer's rounds (plan.chunk): as many samples as shared memory holds partial sums for
 * beside what the eight-sample plan keeps there, up to 32, and never more than make a round
 * fewer. Variant 20 at batch 32 on two SMs keeps 8: rounds of 16 would leave no room to stage
 * the next batch during this one. */
static void chunk_rule(void) {
    const dd_model_config lab = dd_model_config_lab();
    const dd_model_config v20 =
        network(5, 25, DD_ACT_SIGMOID, DD_BN_AFTER, DD_INIT_HE_NORMAL); /* variant 20's shape */
    const struct {
        const dd_model_config *cfg;
        int batch, sms, chunk;
    } cases[] = {{&lab, 1, 1, 8},   {&lab, 8, 2, 8},   {&lab, 16, 1, 16}, {&lab, 32, 2, 16},
                 {&lab, 32, 4, 32}, {&lab, 256, 1, 8}, {&v20, 32, 2, 8},  {&v20, 32, 4, 16}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[DD_ERR_LEN];
        dd_fused_plan plan;
        CHECK(dd_fused_plan_build(cases[k].cfg, DD_IMAGE_PIXELS, cases[k].batch, H100_SHARED,
                                  cases[k].sms, &plan, err) == 0,
              "%s", err);
        CHECK(plan.chunk == cases[k].chunk, "case %zu (batch %d, %d SMs): rounds of %d, not %d", k,
              cases[k].batch, cases[k].sms, plan.chunk, cases[k].chunk);
    }
}

/* The engine's rule: two SMs a model from DD_FUSED_CLUSTER_MIN_BATCH up, where everything fits
 * shared memory; one otherwise. */
static void sms_by_rule(const dd_model_config *cfg) {
    const struct {
        int batch, sms;
    } cases[] = {{1, 1},
                 {DD_FUSED_CLUSTER_MIN_BATCH - 1, 1},
                 {DD_FUSED_CLUSTER_MIN_BATCH, 2},
                 {32, 2},
                 {1024, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[DD_ERR_LEN];
        dd_fused_plan plan;
        CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, cases[k].batch, H100_SHARED, 0, &plan,
                                  err) == 0,
              "batch %d: %s", cases[k].batch, err);
        CHECK(plan.cluster == cases[k].sms, "batch %d: planned on %d SMs, the rule says %d",
              cases[k].batch, plan.cluster, cases[k].sms);
    }
}

static void refuses(const char *name, const dd_model_config *cfg, int batch, int sms,
                    size_t shared_limit, const char *why) {
    char err[DD_ERR_LEN] = "";
    dd_fused_plan plan;
    CHECK(dd_fused_plan_build(cfg, DD_IMAGE_PIXELS, batch, shared_limit, sms, &plan, err) != 0,
          "%s: planned", name);
    CHECK(strstr(err, why) != NULL, "%s: the message '%s' does not say '%s'", name, err, why);
}

/* The phase clocks are built for first layers up to 32 units: a wider one is refused before a
 * thread starts, by the emulator as by the GPU (which shares the rule). */
static void phase_clocks_refuse_wide(void) {
    char err[DD_ERR_LEN] = "";
    const dd_model_config wide = network(1, 33, DD_ACT_TANH, DD_BN_NONE, DD_INIT_GLOROT_UNIFORM);
    dd_fused_plan plan;
    CHECK(dd_fused_plan_build(&wide, DD_IMAGE_PIXELS, 1, H100_SHARED, 0, &plan, err) == 0, "%s",
          err);
    const dd_fused_run run = {.phase_clocks = 1}; /* refused before any pointer is read */
    CHECK(dd_fused_train_emulated(&plan, &run, err) != 0, "33 units: timed");
    CHECK(strstr(err, "up to 32 units") != NULL, "33 units: the message '%s'", err);
}

int main(void) {
    dd_test_load_mnist(&data);
    dd_standardize_table(&data.train, TRAIN_IMAGES, DD_STANDARDIZE_GLOBAL, table, NULL, NULL);

    dd_model_config lab = dd_model_config_lab();
    agree("lab network", &lab, 24, 1, 0, H100_SHARED);
    dd_model_config before = network(3, 25, DD_ACT_TANH, DD_BN_BEFORE, DD_INIT_GLOROT_UNIFORM);
    agree("3 x 25, BN before tanh, last batch partial", &before, 2 * 32 + 7, 32, 0, H100_SHARED);
    dd_model_config after = network(5, 25, DD_ACT_SIGMOID, DD_BN_AFTER, DD_INIT_HE_NORMAL);
    dd_model_config after3 = network(3, 25, DD_ACT_SIGMOID, DD_BN_AFTER, DD_INIT_HE_NORMAL);
    agree("5 x 25, BN after sigmoid (variant 20's shape)", &after, 64, 32, 2, H100_SHARED);
    agree("5 x 25, BN after sigmoid, one SM", &after, 64, 32, 1, H100_SHARED);
    agree("5 x 25, BN after sigmoid, four SMs", &after, 64, 32, 4, H100_SHARED);
    agree("lab network at batch 32 on four SMs (one round a batch)", &lab, 2 * 32 + 5, 32, 4,
          H100_SHARED);
    dd_model_config two = network(2, 25, DD_ACT_TANH, DD_BN_NONE, DD_INIT_GLOROT_UNIFORM);
    agree("2 x 25 tanh at batch 3, prefetched", &two, 3 * 8 + 2, 3, 1, H100_SHARED);
    agree("2 x 25 tanh at batch 3, prefetched, on two SMs", &two, 3 * 8 + 2, 3, 2, H100_SHARED);
    agree("2 x 25 tanh at batch 3, prefetched, on four SMs", &two, 3 * 8 + 2, 3, 4, H100_SHARED);
    /* The next batch staged in registers across the backward pass's first phase (8 quads a
     * thread at most, on clusters: stages_late) and otherwise straight to shared memory. */
    agree("2 x 25 tanh at batch 16 on two SMs, staged through registers", &two, 3 * 16 + 5, 16, 2,
          H100_SHARED);
    agree("2 x 25 tanh at batch 24, staged straight to shared memory", &two, 2 * 24 + 5, 24, 1,
          H100_SHARED);
    dd_model_config relu_bn = network(2, 25, DD_ACT_RELU, DD_BN_BEFORE, DD_INIT_HE_NORMAL);
    agree("2 x 25 relu, BN before, batch 48 (lanes walk past 32)", &relu_bn, 48 + 13, 48, 0,
          H100_SHARED);
    dd_model_config wide = network(2, 64, DD_ACT_RELU, DD_BN_NONE, DD_INIT_HE_UNIFORM);
    agree("2 x 64 relu (the 64-unit kernel)", &wide, 3 * 8, 8, 1, H100_SHARED);
    agree("2 x 64 relu, two SMs", &wide, 3 * 8, 8, 2, H100_SHARED);
    agree("2 x 64 relu, four SMs", &wide, 3 * 8, 8, 4, H100_SHARED);
    /* The widest and largest the engine takes: variant 20's depth at width 64, and batch 256. */
    dd_model_config wide_bn = network(5, 64, DD_ACT_TANH, DD_BN_BEFORE, DD_INIT_GLOROT_UNIFORM);
    agree("5 x 64 tanh, BN before, batch 32", &wide_bn, 2 * 32 + 9, 32, 0, H100_SHARED);
    agree("3 x 25 sigmoid, BN after, batch 256", &after3, 256 + 17, 256, 0, H100_SHARED);
    dd_model_config odd = network(2, 7, DD_ACT_LINEAR, DD_BN_AFTER, DD_INIT_GLOROT_NORMAL);
    agree("2 x 7 linear, BN after, everything in global memory", &odd, 3 * 5, 5, 0, TIGHT);
    agree("lab network at batch 5, images in blocks", &lab, 2 * 5 + 3, 5, 0, TIGHT);

    spans_add_up(&before, 2 * 32 + 7, 32, 32, 1);
    spans_add_up(&two, 3 * 8 + 2, 3 * 3, 3, 2);
    spans_add_up(&after3, 3 * 8 + 5, 2 * 8, 8, 4);
    spans_add_up(&lab, 30, 13, 1, 1); /* the warp step */

    sms_by_rule(&lab);
    chunk_rule();
    warp_step_rule();
    lab_plans_on_chip();
    bn_lanes_rule();
    quotients_exact();
    phase_clocks("phase clocks, the lab (the warp step)", &lab, 6, 1, 0);
    phase_clocks("phase clocks, 5 x 25 BN after sigmoid on two SMs", &after, 64, 32, 2);
    phase_clocks("phase clocks, 3 x 25 BN after sigmoid on four SMs", &after3, 16, 8, 4);
    phase_clocks("phase clocks, 2 x 25 tanh at batch 3", &two, 9, 3, 1);
    warp_step_is_general_step("lab network", &lab, 40);
    dd_model_config sig32 = network(1, 32, DD_ACT_SIGMOID, DD_BN_NONE, DD_INIT_GLOROT_NORMAL);
    warp_step_is_general_step("32 sigmoid units (every lane)", &sig32, 40);
    dd_model_config relu7 = network(1, 7, DD_ACT_RELU, DD_BN_NONE, DD_INIT_HE_UNIFORM);
    warp_step_is_general_step("7 relu units", &relu7, 40);

    pipe_rule();
    pipe_agrees("lab network, pipelined", &lab, 60, 60, 1e-6);
    pipe_agrees("lab network, pipelined, launches of 7", &lab, 60, 7, 1e-6);
    pipe_agrees("lab network, pipelined, launches of 2 (the last of 1)", &lab, 9, 2, 1e-6);
    pipe_agrees("7 relu units, pipelined", &relu7, 40, 40, 1e-6);
    dd_model_config sig31 = network(1, 31, DD_ACT_SIGMOID, DD_BN_NONE, DD_INIT_GLOROT_NORMAL);
    pipe_agrees("31 sigmoid units (lane 31 alone free), pipelined", &sig31, 40, 40, 1e-6);
    const dd_fused_plan pipe = pipe_plan(&lab);
    phase_clocks_of("phase clocks, the lab (pipelined)", &pipe, &lab, 6, 1);
    phase_clocks_refuse_wide();

    dd_model_config too_wide = network(1, 65, DD_ACT_TANH, DD_BN_NONE, DD_INIT_GLOROT_UNIFORM);
    refuses("width 65", &too_wide, 1, 0, H100_SHARED, "up to 64 units");
    refuses("batch 2000", &lab, 2000, 0, H100_SHARED, "batches of 1..1024");
    dd_model_config none = network(0, 25, DD_ACT_TANH, DD_BN_NONE, DD_INIT_GLOROT_UNIFORM);
    refuses("no hidden layer", &none, 1, 0, H100_SHARED, "at least one hidden layer");
    refuses("three SMs", &lab, 32, 3, H100_SHARED, "on 1, 2 or 4 SMs");
    refuses("eight SMs", &lab, 32, 8, H100_SHARED, "on 1, 2 or 4 SMs");
    refuses("a cluster of four without room in shared memory", &lab, 1024, 4, H100_SHARED,
            "on 4 SMs needs the batch's images");
    refuses("a cluster without room in shared memory", &lab, 32, 2, 64 * 1024,
            "on 2 SMs needs the batch's images");
    dd_mnist_free(&data);
    return dd_test_finish("test_fused_emulated");
}
