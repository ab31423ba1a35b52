/* End to end on the real MNIST: the lab's program, one epoch, through the same driver the CLI
 * uses. The lab printed val_acc 0.8893 after its first epoch; an exact reimplementation with other
 * random draws lands within about 1.5 points, so 0.87 is the floor. */
#include <stdlib.h>
#include <string.h>

#include "deepdigits/train.h"
#include "testutil.h"

static void lab_first_epoch(const dd_mnist *data) {
    dd_train_options o = dd_train_options_lab();
    o.epochs = 1;
    o.verbose = 0;
    char err[DD_ERR_LEN];
    dd_layout layout;
    if (dd_layout_build(&o.model, &layout, err) != 0) {
        CHECK(0, "%s", err);
        return;
    }
    float *params = malloc(layout.n_params * sizeof *params);
    dd_epoch_stats st;
    if (dd_train(&o, data, params, &st, stdout, err) != 0) {
        CHECK(0, "%s", err);
        free(params);
        return;
    }
    printf("epoch 1: loss %.4f acc %.4f val_loss %.4f val_acc %.4f (%.2f s, %ld steps)\n", st.loss,
           st.acc, st.val_loss, st.val_acc, st.train_seconds, st.steps);
    CHECK(st.steps == 60000, "batch 1 over 60,000 images is 60,000 steps, got %ld", st.steps);
    CHECK(st.val_acc >= 0.87, "val_acc %.4f below 0.87 (the lab printed 0.8893)", st.val_acc);
    CHECK(st.val_loss < 0.03, "val_loss %.4f (the lab printed 0.0276)", st.val_loss);
    free(params);
}

/* Standardization as in the lab: np.mean and np.std of all training pixels. */
static void standardization_matches_numpy(const dd_mnist *data) {
    float table[256];
    double mean, std;
    dd_standardize_table(&data->train, data->train.count, DD_STANDARDIZE_GLOBAL, table, &mean,
                         &std);
    CHECK(dd_close(mean, 33.318421449829934, 1e-9, 0), "mean %.12f", mean);
    CHECK(dd_close(std, 78.56748998339799, 1e-9, 0), "std %.12f", std);
    CHECK(table[0] < -0.42f && table[0] > -0.43f, "pixel 0 -> %f", table[0]);
}

int main(void) {
    dd_mnist data;
    dd_test_load_mnist(&data);
    standardization_matches_numpy(&data);
    lab_first_epoch(&data);
    dd_mnist_free(&data);
    return dd_test_finish("test_train_mnist");
}
