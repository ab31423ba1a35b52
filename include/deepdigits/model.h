/* The network, as Keras's Sequential builds it: Flatten(28x28) -> hidden Dense layers, each with an
 * optional BatchNormalization before or after its activation -> Dense(10, sigmoid).
 * Parameters live in one flat buffer; dd_layout says where each named tensor sits, so the CPU,
 * the GPU and checkpoints all address the same tensors the same way. Implementation: src/model.c.
 */
#ifndef DEEPDIGITS_MODEL_H
#define DEEPDIGITS_MODEL_H

#include <stddef.h>
#include <stdio.h>

#define DD_MAX_HIDDEN 16
#define DD_MAX_UNITS  4096 /* units of a hidden layer */
#define DD_MAX_DENSE  (DD_MAX_HIDDEN + 1)

typedef enum { DD_ACT_LINEAR, DD_ACT_TANH, DD_ACT_SIGMOID, DD_ACT_RELU } dd_activation;
typedef enum { DD_BN_NONE, DD_BN_BEFORE, DD_BN_AFTER } dd_bn_place;
typedef enum {
    DD_INIT_RANDOM_UNIFORM,
    DD_INIT_GLOROT_UNIFORM,
    DD_INIT_GLOROT_NORMAL,
    DD_INIT_HE_NORMAL,
    DD_INIT_HE_UNIFORM
} dd_init_kind;

typedef struct {
    dd_init_kind kind;
    float min, max; /* random_uniform only: U[min, max) */
} dd_init;

/* The lab's RandomUniform(-0.1, 0.1): random_uniform's range unless one is given. */
#define DD_LAB_INIT_LIMIT 0.1f

typedef struct {
    int n_hidden;             /* hidden Dense layers, 0..DD_MAX_HIDDEN */
    int units[DD_MAX_HIDDEN]; /* width of each hidden layer */
    dd_activation activation; /* of every hidden layer; the output layer is always sigmoid */
    dd_bn_place bn;           /* BatchNormalization on every hidden layer, or none */
    dd_init init;             /* kernel initializer of every Dense layer; biases start at 0 */
} dd_model_config;

/* The lab's network: Dense(25, tanh) -> Dense(10, sigmoid), RandomUniform(-0.1, 0.1), no BN. */
dd_model_config dd_model_config_lab(void);

/* Offsets (in floats) of one Dense layer's tensors in the flat parameter buffer; the BN offsets
 * are meaningful only when the layer has BN. Trainable tensors come first, in Keras's order
 * (kernel, bias, gamma, beta per layer), then the non-trainable moving statistics, so that SGD is
 * one loop over the first n_trainable floats and gradients share the trainable offsets. */
typedef struct {
    int fan_in, units;
    int has_bn;
    size_t kernel;                  /* (fan_in, units), row-major, as Keras's Dense kernel */
    size_t bias;                    /* (units) */
    size_t gamma, beta;             /* (units) BN scale and shift */
    size_t moving_mean, moving_var; /* (units) BN running statistics */
} dd_dense_layout;

typedef struct {
    int n_dense; /* n_hidden + 1 */
    dd_dense_layout dense[DD_MAX_DENSE];
    size_t n_trainable; /* floats updated by SGD */
    size_t n_params;    /* all floats, moving statistics included */
    int max_units;      /* widest layer, for workspace sizing */
} dd_layout;

#ifdef __cplusplus
extern "C" {
#endif

/* Checks CFG (one line in ERR on failure, returning -1) and fills LAYOUT. */
int dd_layout_build(const dd_model_config *cfg, dd_layout *layout, char *err);

/* Writes every tensor's initial value: kernels from the initializer (drawn from cuRAND's Philox
 * stream for SEED), biases and betas 0, gammas and moving variances 1, moving means 0. The GPU's
 * twin, which draws the kernels with the device generator: dd_init_kernels_gpu (ops.h). Both in
 * src/init.c. */
int dd_model_init(const dd_model_config *cfg, const dd_layout *layout, unsigned long long seed,
                  float *params, char *err);
/* The constant part of dd_model_init: every tensor but the kernels. */
void dd_model_init_constants(const dd_layout *layout, float *params);

/* How a Dense layer's kernel is drawn: uniforms in [lo, hi), or normals truncated at 2 sigma and
 * scaled to stddev (draws.h has the formulas). */
typedef struct {
    int normal;
    double lo, hi, stddev;
} dd_kernel_draw;
int dd_kernel_draw_of(const dd_init *init, const dd_dense_layout *d, dd_kernel_draw *out,
                      char *err);

/* Keras-style model summary (layers, output shapes, parameter counts). */
void dd_model_summary(const dd_model_config *cfg, const dd_layout *layout, FILE *out);

/* Names, for flags, summaries and files. Parsers return -1 on an unknown name. */
const char *dd_activation_name(dd_activation a);
const char *dd_bn_name(dd_bn_place b);
const char *dd_init_name(dd_init_kind k);
int dd_activation_parse(const char *s, dd_activation *out);
int dd_bn_parse(const char *s, dd_bn_place *out);
int dd_init_parse(const char *s, dd_init *out, char *err);

/* One line describing CFG, e.g. "784-25-10, tanh hidden, sigmoid output, BN none, init
 * random_uniform(-0.1,0.1)". */
void dd_model_describe(const dd_model_config *cfg, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
