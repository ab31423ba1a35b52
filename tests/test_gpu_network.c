/* Whole-network agreement between the CUDA backend and the CPU reference: the same initial
 * parameters and the same sample order, 500 SGD steps, then every parameter compared:
 * ||gpu - cpu|| / ||cpu|| <= 1e-4 over all of them. Per step the two differ by float rounding
 * (~1e-7 relative, see test_gpu_ops); 500 steps of SGD let that grow but, for a stable network,
 * not past ~1e-5, so 1e-4 catches any real difference in the math (a wrong gradient moves the
 * parameters by 1e-2 within a few steps). Also: graph replay gives bit-identical parameters to
 * eager launches, and evaluation agrees. Each with the per-layer diagnostics, whose gradient
 * norms are compared too, and without, where the layers engine updates each Dense kernel in its
 * gradient's SGEMM (the bench and --no-diagnostics train so). */
#include <stdlib.h>
#include <string.h>

#include "deepdigits/backend.h"
#include "deepdigits/rng.h"
#include "deepdigits/train.h"
#include "gputest.h"
#include "testutil.h"

#define STEPS        500
#define TRAIN_IMAGES 20000

static dd_mnist data;

/* Trains from the seed-7 initialization, the backend's own (the GPU's device generator), for
 * STEPS steps on BACKEND, returns the parameters. */
static float *train_steps(dd_backend *b, const dd_model_config *cfg, int batch, dd_sums *sums) {
    char err[DD_ERR_LEN];
    dd_layout layout;
    dd_layout_build(cfg, &layout, err);
    float *params = malloc(layout.n_params * sizeof *params);
    uint32_t *order = malloc(TRAIN_IMAGES * sizeof *order);
    dd_rng *rng = dd_rng_create(7, err);
    CHECK(b->ops->init_params(b, 7, err) == 0, "%s", err);
    CHECK(dd_shuffle(order, 0, rng, TRAIN_IMAGES, err) == 0, "%s", err);
    CHECK(b->ops->set_order(b, order, TRAIN_IMAGES, err) == 0, "%s", err);
    for (int s = 0; s < STEPS; s++)
        if (b->ops->train_step(b, s * batch, batch, 0.01f, err) != 0) {
            CHECK(0, "step %d on %s: %s", s, b->ops->name, err);
            break;
        }
    CHECK(b->ops->take_sums(b, sums, err) == 0, "%s", err);
    CHECK(b->ops->download_params(b, params, err) == 0, "%s", err);
    dd_rng_destroy(rng);
    free(order);
    return params;
}

/* The layers engine (cuBLAS SGEMMs and the layer kernels), with graphs unless NO_GRAPHS, with the
 * diagnostics or not. */
static dd_backend *backend(dd_device device, const dd_model_config *cfg, int batch, int no_graphs,
                           int diagnostics) {
    dd_backend_setup setup =
        dd_test_setup(cfg, &data, TRAIN_IMAGES, batch, DD_ENGINE_LAYERS, no_graphs);
    setup.diagnostics = diagnostics;
    return dd_test_create(device, &setup);
}

static void agree(const char *name, const dd_model_config *cfg, int batch, int diagnostics) {
    char err[DD_ERR_LEN];
    dd_layout layout;
    dd_layout_build(cfg, &layout, err);
    dd_backend *cpu = backend(DD_DEVICE_CPU, cfg, batch, 0, diagnostics),
               *gpu = backend(DD_DEVICE_GPU, cfg, batch, 0, diagnostics);
    dd_sums cs, gs;
    float *pc = train_steps(cpu, cfg, batch, &cs), *pg = train_steps(gpu, cfg, batch, &gs);
    double rel = dd_rel_error(pg, pc, layout.n_params);
    printf("%s, diagnostics %s: %d steps at batch %d, parameters differ by %.3g relative\n", name,
           diagnostics ? "on" : "off", STEPS, batch, rel);
    CHECK(rel <= 1e-4, "%s: parameters differ by %.3g relative (limit 1e-4)", name, rel);
    CHECK(dd_close(gs.loss_sum, cs.loss_sum, 0, 1e-4), "%s: training loss sums %.9g vs %.9g", name,
          gs.loss_sum, cs.loss_sum);
    CHECK(gs.steps == cs.steps && gs.samples == cs.samples, "%s: step counts differ", name);
    for (int l = 0; l < layout.n_dense && diagnostics; l++)
        CHECK(dd_close(gs.grad_sq[l], cs.grad_sq[l], 0, 1e-3), "%s: gradient norm of layer %d",
              name, l);

    dd_sums ce, ge;
    CHECK(cpu->ops->evaluate(cpu, DD_SPLIT_TEST, &ce, NULL, err) == 0, "%s", err);
    CHECK(gpu->ops->evaluate(gpu, DD_SPLIT_TEST, &ge, NULL, err) == 0, "%s", err);
    CHECK(dd_close(ge.loss_sum, ce.loss_sum, 0, 1e-5), "%s: val loss %.9g vs %.9g", name,
          ge.loss_sum, ce.loss_sum);
    CHECK(labs(ge.correct - ce.correct) <= 2, "%s: val correct %ld vs %ld", name, ge.correct,
          ce.correct);
    free(pc), free(pg);
    cpu->ops->destroy(cpu);
    gpu->ops->destroy(gpu);
}

/* A replayed graph runs the very same kernels: the result must be bit-identical. */
static void graphs_match_eager(const dd_model_config *cfg, int batch, int diagnostics) {
    dd_layout layout;
    char err[DD_ERR_LEN];
    dd_layout_build(cfg, &layout, err);
    dd_backend *g = backend(DD_DEVICE_GPU, cfg, batch, 0, diagnostics),
               *e = backend(DD_DEVICE_GPU, cfg, batch, 1, diagnostics);
    dd_sums gs, es;
    float *pg = train_steps(g, cfg, batch, &gs), *pe = train_steps(e, cfg, batch, &es);
    CHECK(memcmp(pg, pe, layout.n_params * sizeof *pg) == 0, "graphs and eager launches differ");
    CHECK(gs.loss_sum == es.loss_sum, "graph loss %.17g vs eager %.17g", gs.loss_sum, es.loss_sum);
    /* A capture that fails falls back to eager launches: make sure graphs were compared. */
    CHECK(gs.replayed == STEPS - 1 && es.replayed == 0,
          "replayed steps: %ld with graphs (want %d: all but the first, eager one), %ld without",
          gs.replayed, STEPS - 1, es.replayed);
    free(pg), free(pe);
    g->ops->destroy(g);
    e->ops->destroy(e);
}

static dd_model_config bn_network(dd_bn_place bn, dd_activation act, dd_init_kind init) {
    dd_model_config cfg = dd_model_config_lab();
    cfg.n_hidden = 3;
    cfg.units[0] = cfg.units[1] = cfg.units[2] = 25;
    cfg.bn = bn;
    cfg.activation = act;
    cfg.init.kind = init;
    return cfg;
}

int main(void) {
    dd_gpu probe;
    gpu_test_open(&probe);
    dd_gpu_close(&probe);
    dd_test_load_mnist(&data);
    dd_model_config lab = dd_model_config_lab();
    dd_model_config before = bn_network(DD_BN_BEFORE, DD_ACT_TANH, DD_INIT_GLOROT_UNIFORM);
    dd_model_config after = bn_network(DD_BN_AFTER, DD_ACT_SIGMOID, DD_INIT_HE_NORMAL);
    for (int diagnostics = 1; diagnostics >= 0; diagnostics--) {
        agree("lab network", &lab, 1, diagnostics);
        agree("3 hidden layers, BN before tanh", &before, 32, diagnostics);
        agree("3 hidden layers, BN after sigmoid", &after, 32, diagnostics);
        graphs_match_eager(&after, 32, diagnostics);
    }
    dd_mnist_free(&data);
    return dd_test_finish("test_gpu_network");
}
