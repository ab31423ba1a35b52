// The emulated device: the part of the CUDA runtime that deepdigits calls, done on the host, so
// that the CUDA backend's host code, the kernels' launch code and their bodies (launch.cuh) run in
// the CPU tests. It is strict where a GPU is strict, and defers where a GPU may defer:
//  - Device memory is host memory that only cudaMalloc hands out. A kernel's pointer argument, a
//    copy or a cuBLAS operand outside it aborts, naming it (the GPU would fault, or copy garbage).
//  - Work queued in a stream runs only when the host waits for that stream: cudaStreamSynchronize,
//    cudaEventSynchronize, cudaDeviceSynchronize, cudaFree, or a blocking cudaMemcpy (which waits
//    for the legacy stream only, as non-blocking streams do not wait for it). A missing wait shows
//    as a stale result, every time, as it could on a GPU. Copies from the host read it when they
//    are queued (the runtime stages pageable memory so).
//  - A stream in capture records its work into a graph; a wait, or a copy to or from host memory,
//    fails there and invalidates the capture, as on a GPU. Another stream joins the capture by
//    waiting for an event recorded in it (a fork); its work is a branch of the graph, which must
//    be joined back (the origin stream waits for an event recorded after it) before the capture
//    ends, or the capture fails as unjoined. Replays run a branch's nodes as early as their
//    dependencies allow and as late as the nodes waiting for them allow, in turn: a dependency
//    the code forgot shows as a stale or overwritten operand in one of the two. Without a capture,
//    a wait for another stream's event makes that stream run up to the event when the waiting
//    stream's work reaches the wait. A device-wide wait (cudaFree, cudaDeviceSynchronize) fails so
//    in the capturing thread, and from another thread invalidates the capture (thread-local capture
//    mode, which deepdigits uses): launches into it then fail.
//  - Copies to the host run when the stream does, like everything else, though the runtime finishes
//    those to pageable memory before it returns: code that reads one without a wait would break
//    the day its memory is pinned.
//  - One device, with an H100's attributes (sm_90, 132 SMs, 227 KiB of shared memory a block),
//    unless the environment asks for a failing one, for the tests of deepdigits' error lines:
//    DD_EMU_NO_DEVICE=1 (no device), DD_EMU_NO_DRIVER=1 (no driver), DD_EMU_OLD_DRIVER=1 (a
//    driver for CUDA 12.4, older than the runtime), DD_EMU_LOSE_CAPTURES=1 (every capture ends
//    invalidated, as if from another thread), DD_EMU_DEVICE_BYTES=N (device memory for N bytes of
//    allocations), DD_EMU_NO_KERNEL_IMAGE=1 (a build without this device's architecture: every
//    launch fails).
// Every call holds one lock, and streams run in the calling thread: no two kernels ever overlap.
#include "emudev.h"

#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "simt_host.h"

struct CUgraphNode_st {
    cudaGraphNodeType type;
    std::string name;
    std::function<void()> run;
    std::vector<size_t> deps; // the nodes (indices in the graph) it waits for
    bool origin;              // captured in the stream that began the capture
    CUgraph_st *graph;        // the graph it was captured in
};
struct CUgraph_st {
    std::vector<std::shared_ptr<CUgraphNode_st>> nodes;
    std::vector<size_t> ends; // what the origin stream waited for last: the graph's end
};
struct CUgraphExec_st {
    std::vector<std::shared_ptr<CUgraphNode_st>> nodes;
    std::vector<size_t> ends;
    long launches = 0;
};
const size_t NO_NODE = (size_t)-1;
struct CUstream_st {
    std::deque<std::function<void()>> queue;
    cudaGraph_t capture = nullptr; // recording into this graph
    bool capture_invalid = false;  // something illegal happened during the capture
    bool capture_origin = false;   // began it (else joined it by a fork)
    size_t tail = NO_NODE;         // in a capture: its last node, which the next one waits for
    std::vector<size_t> waits;     // and the other nodes the next one waits for
    std::thread::id capturing_thread;
};
// What a record leaves: the queued work holds it, so an event may be destroyed before it ran.
struct event_mark {
    bool done = false;
    std::chrono::steady_clock::time_point at;
};
struct CUevent_st {
    CUstream_st *stream = nullptr;
    std::shared_ptr<event_mark> mark; // of the last record, if any
    cudaGraph_t capture = nullptr;    // or, recorded in a capture: that graph
    size_t node = NO_NODE;            // and the node it followed (none: the capture's start)
};

namespace {

std::recursive_mutex lock;
std::map<uintptr_t, size_t> allocations; // start -> bytes
size_t allocated;                        // their sum
std::set<CUstream_st *> streams;
CUstream_st legacy; // stream 0
thread_local cudaError_t last_error = cudaSuccess;

using guard = std::lock_guard<std::recursive_mutex>;

cudaError_t fail(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

// The live allocation holding [P, P + BYTES), if any.
bool device_range(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return false;
    --it;
    return a >= it->first && a - it->first + bytes <= it->second;
}

bool any_device_byte(const void *p) {
    return device_range(p, 1);
}

CUstream_st *resolve(cudaStream_t s) {
    if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return &legacy;
    return streams.count(s) ? s : nullptr;
}

// Runs what the stream has queued, in order, until UNTIL is done (or all of it).
void drain(CUstream_st *s, const event_mark *until = nullptr) {
    while (!s->queue.empty() && !(until && until->done)) {
        std::function<void()> work = std::move(s->queue.front());
        s->queue.pop_front();
        work();
    }
}

void drain_all() {
    drain(&legacy);
    for (CUstream_st *s : streams) drain(s);
}

// Whether this thread is capturing: then the calls that capture mode forbids it (allocation, a
// device-wide or legacy-stream wait) fail, and invalidate its capture.
bool capturing_here() {
    bool here = false;
    for (CUstream_st *s : streams)
        if (s->capture && s->capturing_thread == std::this_thread::get_id())
            s->capture_invalid = here = true;
    return here;
}

// cudaFree's and cudaDeviceSynchronize's wait for the whole device.
cudaError_t wait_for_device() {
    if (capturing_here()) return fail(cudaErrorStreamCaptureUnsupported);
    for (CUstream_st *s : streams) s->capture_invalid |= s->capture != nullptr;
    drain_all();
    return cudaSuccess;
}

// A wait on S (up to UNTIL, when given): illegal while S captures (and the capture is then
// invalid).
cudaError_t wait_for(CUstream_st *s, const event_mark *until = nullptr) {
    if (s->capture) {
        s->capture_invalid = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    drain(s, until);
    return cudaSuccess;
}

cudaError_t enqueue(cudaStream_t stream, cudaGraphNodeType type, const char *name,
                    std::function<void()> work) {
    CUstream_st *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s->capture && s->capture_invalid) return fail(cudaErrorStreamCaptureInvalidated);
    if (!s->capture) {
        s->queue.push_back(std::move(work));
        return cudaSuccess;
    }
    std::vector<size_t> deps = std::move(s->waits);
    s->waits.clear();
    if (s->tail != NO_NODE) deps.push_back(s->tail);
    s->tail = s->capture->nodes.size();
    s->capture->nodes.push_back(std::make_shared<CUgraphNode_st>(CUgraphNode_st{
        type, name, std::move(work), std::move(deps), s->capture_origin, s->capture}));
    return cudaSuccess;
}

// Every node of G that node I waits for, I included, marked in SEEN.
void mark_ancestors(const CUgraph_st &g, size_t i, std::vector<char> &seen) {
    std::vector<size_t> todo{i};
    while (!todo.empty()) {
        const size_t n = todo.back();
        todo.pop_back();
        if (seen[n]) continue;
        seen[n] = 1;
        for (size_t d : g.nodes[n]->deps) todo.push_back(d);
    }
}

// Runs node I of NODES after the nodes it waits for that have not run yet (DONE). Called for the
// origin's nodes in order, it recurses only into branches, which are short.
void run_node(const std::vector<std::shared_ptr<CUgraphNode_st>> &nodes, size_t i,
              std::vector<char> &done) {
    if (done[i]) return;
    for (size_t d : nodes[i]->deps) run_node(nodes, d, done);
    done[i] = 1;
    nodes[i]->run();
}

bool env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

// DD_EMU_DEVICE_BYTES, or no limit.
size_t device_bytes() {
    const char *v = getenv("DD_EMU_DEVICE_BYTES");
    return v && *v ? strtoull(v, nullptr, 10) : SIZE_MAX;
}

[[noreturn]] void fault(const char *what) {
    fprintf(stderr, "emulated device: %s\n", what);
    abort();
}

void run_thread_body(void *body) {
    (*(const std::function<void()> *)body)();
}

// Checks a copy's ends against its KIND, which it resolves when it is cudaMemcpyDefault.
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind &kind) {
    if (kind == cudaMemcpyDefault)
        kind = any_device_byte(src)
                   ? (any_device_byte(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                   : (any_device_byte(dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool ok = (src_dev ? device_range(src, bytes) : !any_device_byte(src)) &&
                    (dst_dev ? device_range(dst, bytes) : !any_device_byte(dst));
    if (!ok) {
        fprintf(stderr,
                "emulated device: a copy of %zu bytes of kind %d from %p to %p does not "
                "match the memory at its ends\n",
                bytes, (int)kind, src, dst);
        return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

// A copy queued in S; from the host, the source is read now (staged, as pageable memory is).
cudaError_t enqueue_copy(cudaStream_t s, void *dst, const void *src, size_t bytes) {
    if (!any_device_byte(src)) {
        auto staged =
            std::make_shared<std::vector<char>>((const char *)src, (const char *)src + bytes);
        return enqueue(s, cudaGraphNodeTypeMemcpy, "memcpy",
                       [dst, staged] { memcpy(dst, staged->data(), staged->size()); });
    }
    return enqueue(s, cudaGraphNodeTypeMemcpy, "memcpy",
                   [dst, src, bytes] { memcpy(dst, src, bytes); });
}

} // namespace

// --- launch.cuh's side ---

void emu_check_kernel_pointer(const char *kernel, int index, const void *p) {
    if (p) emu_require_device(p, 1, "%s: pointer argument %d", kernel, index);
}

void emu_launch_grid(const char *kernel, long long blocks, long long threads, cudaStream_t stream,
                     bool syncing, std::function<void()> thread_body) {
    guard g(lock);
    if (blocks < 1 || blocks > INT_MAX || threads < 1 || threads > 1024) {
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    if (env_set("DD_EMU_NO_KERNEL_IMAGE")) {
        fail(cudaErrorNoKernelImageForDevice);
        return;
    }
    if (syncing && threads % 32 != 0) fault("a kernel whose threads meet needs whole warps here");
    const int b = (int)blocks, t = (int)threads;
    enqueue(stream, cudaGraphNodeTypeKernel, kernel, [b, t, syncing, thread_body] {
        if (simt_run_grid(b, t, syncing, run_thread_body, (void *)&thread_body) != 0)
            fault("cannot start the threads of a block");
    });
}

// --- emudev.h ---

void emu_require_device(const void *p, size_t bytes, const char *what, ...) {
    guard g(lock);
    if (bytes == 0 || device_range(p, bytes)) return;
    va_list args;
    va_start(args, what);
    fprintf(stderr, "emulated device: ");
    vfprintf(stderr, what, args);
    va_end(args);
    fprintf(stderr, " (%zu bytes at %p) is not device memory\n", bytes, p);
    abort();
}

bool emu_capturing(cudaStream_t stream) {
    guard g(lock);
    const CUstream_st *s = resolve(stream);
    return s && s->capture;
}

cudaError_t emu_enqueue(cudaStream_t stream, const char *name, std::function<void()> work) {
    guard g(lock);
    return enqueue(stream, cudaGraphNodeTypeKernel, name, std::move(work));
}

void emu_fault(const char *what) {
    fault(what);
}

// --- the runtime API ---

cudaError_t cudaGetLastError(void) {
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) {
    return last_error;
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorInvalidResourceHandle:
        return "invalid resource handle";
    case cudaErrorNotReady:
        return "device not ready";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    case cudaErrorIllegalState:
        return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnjoined:
        return "capture was not joined";
    case cudaErrorStreamCaptureIsolation:
        return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureUnmatched:
        return "the capture was not initiated in this stream";
    case cudaErrorNoDevice:
        return "no CUDA-capable device is detected";
    case cudaErrorInsufficientDriver:
        return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoKernelImageForDevice:
        return "no kernel image is available for execution on the device";
    default:
        return "unknown error (emulated device)";
    }
}

// No driver at all and a driver older than the runtime both answer cudaErrorInsufficientDriver;
// only the driver's version (0 for none) tells them apart.
cudaError_t cudaGetDeviceCount(int *count) {
    *count = 0;
    if (env_set("DD_EMU_NO_DRIVER") || env_set("DD_EMU_OLD_DRIVER"))
        return fail(cudaErrorInsufficientDriver);
    if (env_set("DD_EMU_NO_DEVICE")) return fail(cudaErrorNoDevice);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version) {
    *version = env_set("DD_EMU_NO_DRIVER") ? 0 : env_set("DD_EMU_OLD_DRIVER") ? 12040 : 13000;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version) {
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device) {
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
        *value = 9;
        return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor:
        *value = 0;
        return cudaSuccess;
    case cudaDevAttrMultiProcessorCount:
        *value = 132;
        return cudaSuccess;
    case cudaDevAttrClockRate:
        *value = 1980000;
        return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
        *value = 232448;
        return cudaSuccess;
    case cudaDevAttrClusterLaunch:
        *value = 1;
        return cudaSuccess;
    default:
        return fail(cudaErrorInvalidValue);
    }
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "emulated device");
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = 132;
    p->sharedMemPerBlockOptin = 232448;
    p->maxThreadsPerBlock = 1024;
    p->warpSize = 32;
    p->totalGlobalMem = (size_t)80 << 30;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    guard g(lock);
    *p = nullptr;
    if (capturing_here()) return fail(cudaErrorStreamCaptureUnsupported);
    if (bytes > device_bytes() - allocated) return fail(cudaErrorMemoryAllocation);
    *p = bytes ? malloc(bytes) : nullptr;
    if (bytes && !*p) return fail(cudaErrorMemoryAllocation);
    if (!*p) return cudaSuccess;
    memset(*p, 0xff, bytes); // what a GPU's fresh memory holds is no one's business: NaN here
    allocations[(uintptr_t)*p] = bytes, allocated += bytes;
    return cudaSuccess;
}

// Like the GPU's, it first waits for the device.
cudaError_t cudaFree(void *p) {
    guard g(lock);
    if (!p) return cudaSuccess;
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) return fail(cudaErrorInvalidValue);
    const cudaError_t e = wait_for_device();
    if (e != cudaSuccess) return e;
    allocated -= it->second;
    allocations.erase(it);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    guard g(lock);
    return wait_for_device();
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    guard g(lock);
    if (flags != cudaStreamNonBlocking) fault("only non-blocking streams are emulated");
    *s = new CUstream_st();
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    guard g(lock);
    if (!streams.count(s)) return fail(cudaErrorInvalidResourceHandle);
    drain(s); // the GPU finishes a destroyed stream's work
    streams.erase(s);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    guard g(lock);
    CUstream_st *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    return wait_for(s);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
    guard g(lock);
    CUstream_st *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    const cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess) return e;
    if (kind != cudaMemcpyDeviceToDevice && s->capture) {
        s->capture_invalid = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return enqueue_copy(stream, dst, src, bytes);
}

// On the legacy stream, with the runtime's rules for pageable memory: from the host, the stream's
// earlier work first, then the copy is staged and may land later; to the host, it has landed when
// this returns; device to device, nothing waits.
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    guard g(lock);
    if (capturing_here()) return fail(cudaErrorStreamCaptureUnsupported);
    cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess) return e;
    if (kind == cudaMemcpyHostToHost) {
        memcpy(dst, src, bytes);
        return cudaSuccess;
    }
    if (kind == cudaMemcpyHostToDevice) drain(&legacy);
    e = enqueue_copy(nullptr, dst, src, bytes);
    if (e == cudaSuccess && kind == cudaMemcpyDeviceToHost) drain(&legacy);
    return e;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream) {
    guard g(lock);
    if (!device_range(p, bytes)) {
        fprintf(stderr, "emulated device: a memset of %zu bytes at %p is not device memory\n",
                bytes, p);
        return fail(cudaErrorInvalidValue);
    }
    return enqueue(stream, cudaGraphNodeTypeMemset, "memset",
                   [p, value, bytes] { memset(p, value, bytes); });
}

cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    guard g(lock);
    if (capturing_here()) return fail(cudaErrorStreamCaptureUnsupported);
    return cudaMemsetAsync(p, value, bytes, nullptr);
}

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new CUevent_st();
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream) {
    guard g(lock);
    CUstream_st *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s->capture) { // no node: a place in the graph for others to wait for
        if (s->capture_invalid) return fail(cudaErrorStreamCaptureInvalidated);
        e->stream = s, e->mark = nullptr, e->capture = s->capture, e->node = s->tail;
        return cudaSuccess;
    }
    e->capture = nullptr;
    auto mark = std::make_shared<event_mark>();
    e->stream = s, e->mark = mark;
    return enqueue(stream, cudaGraphNodeTypeEventRecord, "event", [mark] {
        mark->done = true;
        mark->at = std::chrono::steady_clock::now();
    });
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int) {
    return cudaEventCreate(e);
}

// In a capture: STREAM's next node waits for the event's place in the graph, and a stream not yet
// capturing joins the capture (a fork). Otherwise STREAM's work, when it reaches this wait, first
// runs the event's stream up to the record.
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t e, unsigned int) {
    guard g(lock);
    CUstream_st *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (e->capture) {
        if (s->capture && s->capture != e->capture) return fail(cudaErrorStreamCaptureIsolation);
        if (!s->capture) {
            if (e->capture != e->stream->capture) return fail(cudaErrorStreamCaptureIsolation);
            s->capture = e->capture, s->capture_invalid = false, s->capture_origin = false;
            s->tail = NO_NODE, s->waits.clear();
            s->capturing_thread = e->stream->capturing_thread;
        }
        if (e->node != NO_NODE) s->waits.push_back(e->node);
        return cudaSuccess;
    }
    if (s->capture) fault("a capture waiting for an event recorded outside it is not emulated");
    if (!e->mark || e->mark->done) return cudaSuccess;
    CUstream_st *from = e->stream;
    std::shared_ptr<event_mark> mark = e->mark;
    s->queue.push_back([from, mark] { drain(from, mark.get()); });
    return cudaSuccess;
}

// Waits for the stream up to the record, not for what was queued after it.
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    guard g(lock);
    if (!e->mark || e->mark->done) return cudaSuccess;
    return wait_for(e->stream, e->mark.get());
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    guard g(lock);
    if (!start->mark || !end->mark) return fail(cudaErrorInvalidResourceHandle);
    if (!start->mark->done || !end->mark->done) return fail(cudaErrorNotReady);
    *ms = std::chrono::duration<float, std::milli>(end->mark->at - start->mark->at).count();
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    guard g(lock);
    if (mode != cudaStreamCaptureModeThreadLocal) fault("only thread-local capture is emulated");
    CUstream_st *s = resolve(stream);
    if (!s || s == &legacy) return fail(cudaErrorStreamCaptureUnsupported);
    if (s->capture) return fail(cudaErrorIllegalState);
    s->capture = new CUgraph_st();
    s->capture_invalid = false;
    s->capture_origin = true;
    s->tail = NO_NODE, s->waits.clear();
    s->capturing_thread = std::this_thread::get_id();
    return cudaSuccess;
}

namespace {

// Whether every node of G is one of its ends or one they wait for, at some remove.
bool all_joined(const CUgraph_st &g) {
    std::vector<char> seen(g.nodes.size(), 0);
    for (size_t end : g.ends) mark_ancestors(g, end, seen);
    for (char c : seen)
        if (!c) return false;
    return true;
}

} // namespace

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    guard g(lock);
    CUstream_st *s = resolve(stream);
    if (!s || !s->capture) return fail(cudaErrorIllegalState);
    if (!s->capture_origin) return fail(cudaErrorStreamCaptureUnmatched);
    *graph = s->capture;
    bool invalid = s->capture_invalid;
    for (CUstream_st *other : streams) // the streams forked into the capture leave it too
        if (other != s && other->capture == *graph) {
            invalid |= other->capture_invalid;
            other->capture = nullptr, other->waits.clear();
        }
    s->capture = nullptr;
    (*graph)->ends = std::move(s->waits);
    if (s->tail != NO_NODE) (*graph)->ends.push_back(s->tail);
    s->waits.clear();
    const bool joined = all_joined(**graph);
    if (!invalid && joined && !env_set("DD_EMU_LOSE_CAPTURES")) return cudaSuccess;
    delete *graph;
    *graph = nullptr;
    return fail(invalid || joined ? cudaErrorStreamCaptureInvalidated
                                  : cudaErrorStreamCaptureUnjoined);
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *n) {
    if (nodes)
        for (size_t i = 0; i < *n && i < graph->nodes.size(); i++) nodes[i] = graph->nodes[i].get();
    *n = graph->nodes.size();
    return cudaSuccess;
}

cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t node, cudaGraphNode_t *deps,
                                         cudaGraphEdgeData *edges, size_t *n) {
    if (edges) fault("graph edge data is not emulated");
    if (deps)
        for (size_t i = 0; i < *n && i < node->deps.size(); i++)
            deps[i] = node->graph->nodes[node->deps[i]].get();
    *n = node->deps.size();
    return cudaSuccess;
}

cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, cudaGraphNodeType *type) {
    *type = node->type;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long) {
    *exec = new CUgraphExec_st{graph->nodes, graph->ends};
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

// Launches of a graph alternate between the two orders a missing dependency can show in: every
// node in the order it was captured (a branch's nodes as early as the dependencies allow, before
// the origin's later ones), and the origin stream's nodes in order with a branch's nodes only when
// one of those waits for them, or at the graph's end (as late as the dependencies allow).
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    guard g(lock);
    auto nodes = exec->nodes;
    auto ends = exec->ends;
    const bool early = exec->launches++ % 2 == 1;
    return enqueue(stream, cudaGraphNodeTypeGraph, "graph", [nodes, ends, early] {
        std::vector<char> done(nodes.size(), 0);
        for (size_t i = 0; i < nodes.size(); i++)
            if (early || nodes[i]->origin) run_node(nodes, i, done);
        for (size_t end : ends) run_node(nodes, end, done);
    });
}
