/* The layers engine's training step (the CUDA backend's other file is backend_cuda.c): the
 * network of src/network.c walked layer by layer with the _gpu twins of the ops, one SGEMM and one
 * layer kernel at a time. A step of the full batch size is captured once as a CUDA graph and
 * replayed; it reads its position in the epoch's order from a device counter that it advances
 * itself, so every replay takes the next batch. */
#include <stdio.h>
#include <stdlib.h>

#include "backend_cuda.h"
#include "deepdigits/ops.h"
#include "gpu_check.h"
#include "kernels.h"
#include "layer.h"

/* Layer L as the layer kernels take it, on the device's parameters and gradients. */
static dd_layer_view layer(cuda_backend *b, int l) {
    return dd_net_layer_view(&b->net, b->params, b->grads, l);
}

/* The twin of dd_net_forward: per layer an SGEMM, then one kernel for the bias, the activation
 * and BN (in training, the output layer's is the loss kernel's). */
int dd_cuda_forward(cuda_backend *b, int B, int training) {
    dd_net *net = &b->net;
    for (int l = 0; l < net->layout.n_dense; l++) {
        const dd_dense_layout *d = &net->layout.dense[l];
        const dd_layer_view v = layer(b, l);
        TRY(dd_dense_forward_gpu(v.acts.dense_out, dd_net_layer_input(net, l),
                                 param_at(b, d->kernel), B, d->fan_in, d->units, &b->gpu));
        if (l < net->layout.n_dense - 1 || !training)
            TRY(dd_layer_forward_gpu(&v, B, training, &b->gpu));
    }
    return 0;
}

/* Layer L's dL/dz, in a buffer of its own. */
static float *dz(cuda_backend *b, int l) {
    return b->dz + (size_t)l * b->net.max_batch * b->net.layout.max_units;
}

/* The twin of dd_net_backward, from the output layer's dL/dz (dz(top)) and its bias gradient
 * (the loss kernel's): per layer below it one kernel down to dL/dz (in place) and the bias and BN
 * gradients, then dX's SGEMM; then the layer's kernel product, forked to the side stream: nothing
 * on the pass's critical path (the layer kernels and dX products) waits for it. Without the
 * diagnostics, which need the kernel gradients' norms, that product is the kernel's SGD update
 * itself (dd_dense_update_kernel_gpu), after dX has read the kernel; with them, the gradient, for
 * the update after the join. The caller joins the side stream (join_side). */
static int backward(cuda_backend *b, int B, float lr) {
    dd_net *net = &b->net;
    const int top = net->layout.n_dense - 1, update_in_product = !b->setup.diagnostics;
    for (int l = top; l >= 0; l--) {
        const dd_dense_layout *d = &net->layout.dense[l];
        const dd_layer_view v = layer(b, l);
        const int I = d->fan_in, O = d->units;
        float *kernel = param_at(b, d->kernel);
        const float *inp = dd_net_layer_input(net, l);
        if (l < top) TRY(dd_layer_backward_gpu(&v, dz(b, l), B, &b->gpu));
        if (l > 0)
            TRY(dd_dense_backward_input_gpu(dz(b, l - 1), dz(b, l), kernel, B, I, O, &b->gpu));
        CUDA_CHECK(cudaEventRecord(b->fork[l], b->gpu.stream), b->gpu.err);
        CUDA_CHECK(cudaStreamWaitEvent(b->side, b->fork[l], 0), b->gpu.err);
        if (update_in_product)
            TRY(dd_dense_update_kernel_gpu(kernel, dz(b, l), inp, B, I, O, lr, b->side, &b->gpu));
        else
            TRY(dd_dense_backward_kernel_gpu(b->grads + d->kernel, dz(b, l), inp, B, I, O, b->side,
                                             &b->gpu));
    }
    return 0;
}

/* The main stream waits for everything forked to the side stream. */
static int join_side(cuda_backend *b) {
    CUDA_CHECK(cudaEventRecord(b->join, b->side), b->gpu.err);
    CUDA_CHECK(cudaStreamWaitEvent(b->gpu.stream, b->join, 0), b->gpu.err);
    return 0;
}

/* The trainable floats that are not Dense kernels: each layer's bias, gamma and beta, which lie
 * between its kernel and the next layer's (model.h's layout). */
static dd_sgd_ranges beside_kernels(const dd_layout *L) {
    dd_sgd_ranges r = {.n = L->n_dense};
    for (int l = 0; l < L->n_dense; l++) {
        const size_t end = l + 1 < L->n_dense ? L->dense[l + 1].kernel : L->n_trainable;
        r.first[l] = (long)L->dense[l].bias;
        r.count[l] = (long)(end - L->dense[l].bias);
    }
    return r;
}

/* One training step of B samples from the device counter's position: only launches, no sync,
 * so that it can be captured. */
static int enqueue_step(cuda_backend *b, int B, float lr) {
    const dd_layout *L = &b->net.layout;
    TRY(dd_gather_step_gpu(b->net.input, b->batch_labels, b->train_pixels, b->train_labels,
                           b->order, b->step_first, b->table, B, &b->gpu));
    TRY(dd_cuda_forward(b, B, 1)); /* the loss kernel finishes the output layer */
    const dd_layer_view out = layer(b, L->n_dense - 1); /* no BN: its output is act_out */
    TRY(dd_loss_output_step_gpu(&out, dz(b, L->n_dense - 1), b->sums, b->step_first,
                                b->batch_labels, B, &b->gpu));
    TRY(backward(b, B, lr));
    if (!b->setup.diagnostics) { /* the kernels' updates are their products' (backward) */
        const dd_sgd_ranges rest = beside_kernels(L);
        TRY(dd_sgd_update_ranges_gpu(b->params, b->grads, &rest, lr, &b->gpu));
        return join_side(b);
    }
    TRY(join_side(b));
    for (int l = 0; l < L->n_dense; l++)
        TRY(dd_sum_squares_gpu(b->sums + DD_SUM_GRAD_SQ + l, b->grads + L->dense[l].kernel,
                               (long)L->dense[l].fan_in * L->dense[l].units, &b->gpu));
    return dd_sgd_update_gpu(b->params, b->grads, (long)L->n_trainable, lr, &b->gpu);
}

/* The kernels on the longest chain of dependencies that ends at NODES[I] (DEPTH memoizes, 0 for
 * not yet known): what the step waits through, whatever runs beside it. */
static int chain(cudaGraphNode_t *nodes, size_t n, size_t i, int *depth, cudaError_t *e) {
    if (depth[i] || *e != cudaSuccess) return depth[i];
    enum cudaGraphNodeType type;
    size_t n_deps = 0;
    *e = cudaGraphNodeGetType(nodes[i], &type);
    if (*e == cudaSuccess) *e = cudaGraphNodeGetDependencies(nodes[i], NULL, NULL, &n_deps);
    cudaGraphNode_t *deps = malloc((n_deps ? n_deps : 1) * sizeof *deps);
    if (!deps || *e != cudaSuccess) return free(deps), 0;
    *e = cudaGraphNodeGetDependencies(nodes[i], deps, NULL, &n_deps);
    int longest = 0;
    for (size_t d = 0; d < n_deps && *e == cudaSuccess; d++)
        for (size_t j = 0; j < n; j++)
            if (nodes[j] == deps[d]) {
                const int c = chain(nodes, n, j, depth, e);
                if (c > longest) longest = c;
            }
    free(deps);
    return depth[i] = longest + (type == cudaGraphNodeTypeKernel);
}

/* With DD_GRAPH_NODES set in the environment, one line on stderr per captured step: how many
 * nodes and kernels it became (cuBLAS may split a GEMM in two) and how many kernels lie on its
 * longest chain (the branches run beside it), for scripts/gpu-check.sh. */
static int report_nodes(cudaGraph_t graph, int B, char *err) {
    if (!getenv("DD_GRAPH_NODES")) return 0;
    size_t n = 0, kernels = 0;
    CUDA_CHECK(cudaGraphGetNodes(graph, NULL, &n), err);
    cudaGraphNode_t *nodes = malloc((n ? n : 1) * sizeof *nodes);
    int *depth = calloc(n ? n : 1, sizeof *depth), longest = 0;
    if (!nodes || !depth) return free(nodes), free(depth), 0;
    cudaError_t e = cudaGraphGetNodes(graph, nodes, &n);
    for (size_t i = 0; i < n && e == cudaSuccess; i++) {
        enum cudaGraphNodeType type;
        e = cudaGraphNodeGetType(nodes[i], &type);
        kernels += e == cudaSuccess && type == cudaGraphNodeTypeKernel;
        const int c = chain(nodes, n, i, depth, &e);
        if (c > longest) longest = c;
    }
    free(nodes), free(depth);
    CUDA_CHECK(e, err);
    fprintf(stderr,
            "deepdigits: a captured training step of batch %d: %zu graph nodes, %zu kernels, %d "
            "on its longest chain\n",
            B, n, kernels, longest);
    return 0;
}

/* Captures one full-batch step as a graph (once per batch size and learning rate). Returns 1, or
 * 0 when the capture was invalidated from outside (with --jobs another thread's device-wide call,
 * such as a cudaFree, can do that): nothing of the step has run, and the caller runs it eagerly
 * and tries again at the next step. -1 on an error. */
static int capture_step(cuda_backend *b, int B, float lr) {
    cudaGraph_t graph;
    if (b->graph) {
        CUDA_CHECK(cudaGraphExecDestroy(b->graph), b->gpu.err);
        b->graph = NULL;
    }
    CUDA_CHECK(cudaStreamBeginCapture(b->gpu.stream, cudaStreamCaptureModeThreadLocal), b->gpu.err);
    graph = NULL;
    int rc = enqueue_step(b, B, lr);
    cudaError_t e = cudaStreamEndCapture(b->gpu.stream, &graph);
    cudaGraphExec_t exec = NULL;
    if (rc == 0 && e == cudaSuccess && report_nodes(graph, B, b->gpu.err) != 0) rc = -1;
    if (rc == 0 && e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (e == cudaErrorStreamCaptureInvalidated) {
        (void)cudaGetLastError(); /* the launches into the dead capture failed the same way */
        if (rc == 0) snprintf(b->gpu.err, DD_ERR_LEN, "%s", cudaGetErrorString(e));
        return 0;
    }
    if (rc != 0) return -1;
    CUDA_CHECK(e, b->gpu.err);
    b->graph = exec;
    b->graph_batch = B;
    b->graph_lr = lr;
    return 1;
}

int dd_cuda_move_counter(cuda_backend *b, int first) {
    CUDA_CHECK(
        cudaMemcpyAsync(b->step_first, &first, sizeof first, cudaMemcpyHostToDevice, b->gpu.stream),
        b->gpu.err);
    CUDA_CHECK(cudaStreamSynchronize(b->gpu.stream), b->gpu.err); /* FIRST lives on our stack */
    b->next_first = first;
    return 0;
}

/* Other threads' device-wide calls invalidate a capture now and then (capture_step); a capture
 * that fails every time is something else (a library call that cannot be captured, say), and
 * retrying it at every step would cost a failed capture a step for the whole run. Eager steps
 * give the same numbers, so after LOST_CAPTURES_LIMIT in a row the run goes on without graphs,
 * saying so once. */
enum { LOST_CAPTURES_LIMIT = 16 };

static void give_up_graphs_if_lost(cuda_backend *b) {
    if (++b->lost_captures < LOST_CAPTURES_LIMIT) return;
    fprintf(stderr,
            "deepdigits: capturing the training step as a CUDA graph failed %d times in a row "
            "(%s); the steps run without graphs\n",
            b->lost_captures, b->gpu.err);
    b->setup.no_graphs = 1;
}

int dd_cuda_layers_step(cuda_backend *b, int first, int count, float lr) {
    if (first != b->next_first) TRY(dd_cuda_move_counter(b, first));
    if (b->setup.no_graphs || count != b->setup.max_batch) return enqueue_step(b, count, lr);
    if (!b->warm) { /* the first step runs eagerly: kernels load, cuBLAS picks its algorithms */
        b->warm = 1;
        return enqueue_step(b, count, lr);
    }
    if (!b->graph || b->graph_batch != count || b->graph_lr != lr) {
        const int captured = capture_step(b, count, lr);
        if (captured < 0) return -1;
        if (!captured) {
            give_up_graphs_if_lost(b);
            return enqueue_step(b, count, lr);
        }
        b->lost_captures = 0;
    }
    CUDA_CHECK(cudaGraphLaunch(b->graph, b->gpu.stream), b->gpu.err);
    b->replayed++;
    return 0;
}
