/* deepdigits-bench --phases: where a fused step's time goes. The fused kernel built with its phase
 * clocks (kernels/fused_ctx.cuh, phase_done) reads the SM's cycle counter after every block barrier
 * of a step, so each phase's figure is the time from the barrier before to its own: the slowest
 * warp's work in it plus the barrier. That build reads a clock and keeps a table where the
 * production kernel does not, so its step may be a little slower (the µs a step printed is its
 * own); the split between phases is what it is for. Not timed: the last step of each launch's
 * work after its last barrier. */
#include <stdio.h>
#include <string.h>

#include "../kernels/fused.h"
#include "../src/cli.h"
#include "bench.h"
#include "deepdigits/variants.h"

/* One model at one batch on SMS SMs (PIPE: the pipelined warp step): a line for the step, one per
 * phase. */
static int phases_of(int model, int batch, int sms, int pipe, const dd_mnist *data,
                     unsigned long long seed, int steps, char *err) {
    dd_train_options o;
    if (dd_variant_options(model, 0, &o, err) != 0) return -1;
    o.batch = batch, o.seed = seed, o.engine = DD_ENGINE_FUSED, o.fused_sms = sms;
    o.fused_pipe = pipe;
    char name[32], why[DD_ERR_LEN], what[128];
    dd_variant_name(model, name, sizeof name);
    printf("%s, batch %d, %d SM%s%s: ", name, batch, sms, sms > 1 ? "s" : "",
           pipe ? ", pipelined" : "");
    size_t limit;
    dd_fused_plan plan;
    if (dd_check_bn_batch(&o, 0, why) != 0) {
        printf("skipped: BN needs batch >= 2\n");
        return 0;
    }
    if (dd_fused_shared_limit(&limit, err) != 0) return -1;
    if (dd_fused_plan_build(&o.model, DD_IMAGE_PIXELS, batch, limit, sms, &plan, why) != 0 ||
        (pipe && dd_fused_plan_pipe(&plan, limit, why) != 0)) {
        printf("skipped: %s\n", why);
        return 0;
    }
    dd_sums sums;
    double us;
    if (bench_phase_cycles(&o, data, steps, &sums, &us, err) != 0) return -1;
    double total = 0;
    for (int k = 0; k < DD_FUSED_PHASES; k++) total += sums.phase_cycles[k];
    const double per_step = sums.steps > 0 ? total / (double)sums.steps : 0;
    printf("%.0f cycles a step; %.2f us a step in this build (%.0f MHz implied), %ld steps\n",
           per_step, us, us > 0 ? per_step / us : 0, sums.steps);
    for (int k = 0; k < DD_FUSED_PHASES && total > 0; k++) {
        dd_fused_phase_name(&plan, k, what, sizeof what);
        if (what[0] == '\0') continue;
        printf("  phase %2d %8.0f cycles %5.1f%%  %s\n", k,
               sums.phase_cycles[k] / (double)sums.steps, 100 * sums.phase_cycles[k] / total, what);
    }
    return 0;
}

int bench_phases(const int *models, int n_models, const int *batches, int n_batches, int sms_mask,
                 int pipe, const dd_mnist *data, unsigned long long seed, int steps, char *err) {
    printf("phases of a fused step (SM clock cycles a step, the kernel built with phase clocks; "
           "bench/phases.c):\n");
    for (int i = 0; i < n_models; i++)
        for (int j = 0; j < n_batches; j++) {
            for (int sms = 1; sms <= DD_FUSED_MAX_CLUSTER; sms *= 2)
                if ((sms_mask >> sms) & 1 &&
                    phases_of(models[i], batches[j], sms, 0, data, seed, steps, err) != 0)
                    return -1;
            if (pipe && phases_of(models[i], batches[j], 1, 1, data, seed, steps, err) != 0)
                return -1;
        }
    return 0;
}
