/* The emulated device's own rules (tests/emudev/cudart.cc), which the emulated GPU tests rely on
 * to fail where a GPU would: a non-blocking stream's work runs when the host waits for that
 * stream (or for an event recorded in it, up to the event) and not before; only cudaMalloc's
 * memory is device memory, and it starts as NaN; a capture refuses host copies, waits and
 * allocations, and its graph replays what it recorded; a launch shape a GPU refuses sets the error
 * that cudaGetLastError returns; a kernel given a host pointer stops the run; every block finds its
 * shared memory unwritten; cuBLAS checks its leading dimensions, and its failures reach the caller
 * with the call, file:line and cuBLAS's message. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deepdigits/gpu.h"
#include "deepdigits/ops.h"
#include "testutil.h"

#define N 64

static float *device_floats(void) {
    float *d = NULL;
    CHECK(cudaMalloc((void **)&d, N * sizeof *d) == cudaSuccess, "cudaMalloc");
    return d;
}

static float first_of(const float *d) {
    float h = -1;
    CHECK(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess, "copy back");
    return h;
}

static void streams_run_when_waited_for(cudaStream_t s) {
    float *d = device_floats(), ones[N];
    for (int i = 0; i < N; i++) ones[i] = 1;
    CHECK(cudaMemcpy(d, ones, sizeof ones, cudaMemcpyHostToDevice) == cudaSuccess, "copy in");
    CHECK(cudaMemsetAsync(d, 0, sizeof ones, s) == cudaSuccess, "memset");
    /* cudaMemcpy waits for the legacy stream only, which a non-blocking stream does not join */
    CHECK(first_of(d) == 1, "queued work ran before the host waited for its stream");
    CHECK(cudaStreamSynchronize(s) == cudaSuccess, "sync");
    CHECK(first_of(d) == 0, "the stream's work did not run when the host waited for it");

    cudaEvent_t e;
    CHECK(cudaEventCreate(&e) == cudaSuccess, "event");
    CHECK(cudaMemsetAsync(d, 0xff, sizeof ones, s) == cudaSuccess &&
              cudaEventRecord(e, s) == cudaSuccess &&
              cudaMemsetAsync(d, 0, sizeof ones, s) == cudaSuccess,
          "queueing");
    CHECK(cudaEventSynchronize(e) == cudaSuccess, "event sync");
    CHECK(isnan(first_of(d)), "an event's wait ran less, or more, than the work before it");
    cudaEventDestroy(e);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess && first_of(d) == 0, "the rest after the event");
    cudaFree(d);
}

static void device_memory_is_cudamallocs(void) {
    float *d = device_floats(), host[N] = {0};
    CHECK(isnan(first_of(d)), "fresh device memory reads as %g, not NaN", first_of(d));
    CHECK(cudaMemcpy(host, host, sizeof host, cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
          "a host-to-device copy into host memory was accepted");
    CHECK(cudaMemcpy(d + 1, host, sizeof host, cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
          "a copy past the end of an allocation was accepted");
    CHECK(cudaMemset(host, 0, sizeof host) == cudaErrorInvalidValue, "memset of host memory");
    (void)cudaGetLastError();
    cudaFree(d);
}

static void captures(cudaStream_t s) {
    float *d = device_floats(), host[N] = {0};
    cudaGraph_t graph = NULL;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "capture");
    CHECK(cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, s) ==
              cudaErrorStreamCaptureUnsupported,
          "a capture took a copy from host memory");
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && !graph,
          "the capture survived an illegal copy");
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "capture");
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "a wait in a capture");
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated, "after a wait");
    void *more = NULL;
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "capture");
    CHECK(cudaMalloc(&more, 4) == cudaErrorStreamCaptureUnsupported, "an allocation in a capture");
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated, "after a malloc");
    (void)cudaGetLastError();

    /* A graph that sets the first float to 1.0f (0x3f800000: bytes 00 00 80 3f) and then copies
     * it on: nothing runs at capture, everything at each replay, in order. */
    CHECK(cudaMemset(d, 0, N * sizeof *d) == cudaSuccess && cudaDeviceSynchronize() == 0, "zero");
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "capture");
    CHECK(cudaMemsetAsync((char *)d + 2, 0x80, 1, s) == cudaSuccess &&
              cudaMemsetAsync((char *)d + 3, 0x3f, 1, s) == cudaSuccess &&
              cudaMemcpyAsync(d + 1, d, sizeof *d, cudaMemcpyDeviceToDevice, s) == cudaSuccess,
          "recording");
    CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess && graph, "end of a clean capture");
    size_t nodes = 0;
    CHECK(cudaGraphGetNodes(graph, NULL, &nodes) == cudaSuccess && nodes == 3, "%zu nodes", nodes);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess && first_of(d) == 0, "the capture ran its work");
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess, "instantiate");
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess,
          "replay");
    CHECK(first_of(d) == 1 && first_of(d + 1) == 1, "the replay did not run the recorded work");
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaFree(d);
}

/* A capture of S with a branch in SIDE: S copies d[2] (1) to d[0], the branch copies d[0] to d[1],
 * S then copies d[3] (2) to d[0], and joins the branch when JOIN. */
static cudaError_t branch_graph(cudaStream_t s, cudaStream_t side, float *d, int join,
                                cudaGraph_t *graph) {
    cudaEvent_t fork, joined;
    cudaEventCreate(&fork), cudaEventCreate(&joined);
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    CHECK(cudaMemcpyAsync(d, d + 2, sizeof *d, cudaMemcpyDeviceToDevice, s) == cudaSuccess &&
              cudaEventRecord(fork, s) == cudaSuccess &&
              cudaStreamWaitEvent(side, fork, 0) == cudaSuccess &&
              cudaMemcpyAsync(d + 1, d, sizeof *d, cudaMemcpyDeviceToDevice, side) == cudaSuccess &&
              cudaMemcpyAsync(d, d + 3, sizeof *d, cudaMemcpyDeviceToDevice, s) == cudaSuccess,
          "recording a fork");
    if (join)
        CHECK(cudaEventRecord(joined, side) == cudaSuccess &&
                  cudaStreamWaitEvent(s, joined, 0) == cudaSuccess,
              "recording a join");
    const cudaError_t e = cudaStreamEndCapture(s, graph);
    cudaEventDestroy(fork), cudaEventDestroy(joined);
    return e;
}

/* Forks and joins: a stream joins a capture by waiting for an event recorded in it; the capture
 * ends only when every branch is joined back; replays run a branch as late as the nodes that
 * wait for it allow and as early as its dependencies allow, in turn, so a dependency the code
 * forgot (here: S overwrites what the branch reads) shows in one of two launches. Without a
 * capture, a wait for another stream's event runs that stream. */
static void forks_and_joins(cudaStream_t s) {
    cudaStream_t side;
    CHECK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking) == cudaSuccess, "side stream");
    float *d = device_floats(), init[4] = {0, 0, 1, 2};
    CHECK(cudaMemcpy(d, init, sizeof init, cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaDeviceSynchronize() == cudaSuccess,
          "init");
    cudaGraph_t graph = NULL;
    CHECK(branch_graph(s, side, d, 0, &graph) == cudaErrorStreamCaptureUnjoined && !graph,
          "a capture ended with a branch not joined");
    (void)cudaGetLastError();
    CHECK(branch_graph(s, side, d, 1, &graph) == cudaSuccess && graph, "a joined capture");
    size_t nodes = 0;
    CHECK(cudaGraphGetNodes(graph, NULL, &nodes) == cudaSuccess && nodes == 3,
          "%zu nodes (events are no nodes)", nodes);
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess &&
              cudaGraphLaunch(exec, s) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess,
          "replay");
    CHECK(first_of(d) == 2 && first_of(d + 1) == 2,
          "the branch read d[0] = %g, not the 2 written after the fork: it did not run late",
          first_of(d + 1));
    CHECK(cudaGraphLaunch(exec, s) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess,
          "second replay");
    CHECK(
        first_of(d) == 2 && first_of(d + 1) == 1,
        "the branch read d[0] = %g, not the 1 of the fork: the second replay did not run it early",
        first_of(d + 1));
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);

    cudaEvent_t e;
    cudaEventCreate(&e);
    CHECK(cudaMemcpyAsync(d + 1, d + 2, sizeof *d, cudaMemcpyDeviceToDevice, side) == cudaSuccess &&
              cudaEventRecord(e, side) == cudaSuccess &&
              cudaStreamWaitEvent(s, e, 0) == cudaSuccess &&
              cudaMemcpyAsync(d, d + 1, sizeof *d, cudaMemcpyDeviceToDevice, s) == cudaSuccess &&
              cudaStreamSynchronize(s) == cudaSuccess,
          "an eager wait");
    CHECK(first_of(d) == 1, "the wait for SIDE's event did not run SIDE first: %g", first_of(d));
    cudaEventDestroy(e);
    cudaStreamDestroy(side);
    cudaFree(d);
}

static void launch_shapes(dd_gpu *gpu) {
    float *d = device_floats();
    /* 2^31 blocks of 256: one more than a grid may have */
    CHECK(dd_sgd_update_gpu(d, d, 256L << 31, 0.01f, gpu) == -1 &&
              strstr(gpu->err, "invalid configuration"),
          "an oversized grid was launched: %s", gpu->err);
    CHECK(cudaGetLastError() == cudaSuccess, "the launch error stayed pending");
    cudaFree(d);
}

/* A kernel given host memory stops the run (in a child process, which is expected to abort). */
static void host_pointer_to_a_kernel(dd_gpu *gpu) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        float host[N] = {0};
        if (!freopen("/dev/null", "w", stderr)) _exit(2);
        dd_sgd_update_gpu(host, host, N, 0.01f, gpu);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "a kernel took a host pointer (child status %d)", status);
}

int emu_probe_stale_shared(float *out, int blocks, cudaStream_t stream); /* emudev_probes.cc */

/* Two launches of two blocks each read the shared array before writing it: every read finds NaN
 * (0xff bytes), not the 1s that the block before left there. */
static void shared_memory_starts_unwritten(cudaStream_t s) {
    float *d = device_floats(), out[N];
    for (int launch = 0; launch < 2; launch++) {
        CHECK(emu_probe_stale_shared(d, 2, s) == 0, "launch");
        CHECK(cudaStreamSynchronize(s) == cudaSuccess, "sync");
        CHECK(cudaMemcpy(out, d, sizeof out, cudaMemcpyDeviceToHost) == cudaSuccess, "copy back");
        int stale = 0;
        for (int i = 0; i < N; i++) stale += !isnan(out[i]);
        CHECK(stale == 0, "launch %d: %d of %d shared reads found a value no one wrote", launch,
              stale, N);
    }
    cudaFree(d);
}

static void cublas_checks_leading_dimensions(dd_gpu *gpu) {
    float *d = device_floats();
    const float one = 1, zero = 0;
    CHECK(cublasSgemm(gpu->cublas, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 3, d, 4, &zero, d,
                      4) == CUBLAS_STATUS_INVALID_VALUE,
          "lda 3 < m 4 was accepted");
    cudaFree(d);
}

/* A failed cuBLAS call reaches the caller as one line: the call, file:line and cuBLAS's own
 * message for the status. */
static void cublas_failure_names_call_and_status(dd_gpu *gpu) {
    float *d = device_floats();
    CHECK(dd_dense_forward_gpu(d, d, d, -1, 4, 4, gpu) == -1, "a batch of -1 was accepted");
    CHECK(strstr(gpu->err, "sgemm.cu:") && strstr(gpu->err, "cublasSgemm") &&
              strstr(gpu->err, cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE)) &&
              !strchr(gpu->err, '\n'),
          "message: %s", gpu->err);
    cudaFree(d);
}

int main(void) {
    dd_gpu gpu;
    char err[DD_ERR_LEN];
    CHECK(dd_gpu_open(&gpu, 0, err) == 0, "open: %s", err);
    streams_run_when_waited_for(gpu.stream);
    device_memory_is_cudamallocs();
    captures(gpu.stream);
    forks_and_joins(gpu.stream);
    launch_shapes(&gpu);
    host_pointer_to_a_kernel(&gpu);
    shared_memory_starts_unwritten(gpu.stream);
    cublas_checks_leading_dimensions(&gpu);
    cublas_failure_names_call_and_status(&gpu);
    dd_gpu_close(&gpu);
    return dd_test_finish("test_emudev");
}
