// Kernels that the emulated device (tests/emudev) runs too. A kernel is written
//     DD_GLOBAL static void name_kernel(args) { DD_SHARED_ARRAY(double, part, N); ... simt_tid() }
// with simt.cuh's primitives for its indices and barriers, and launched with
//     DD_LAUNCH(name_kernel, blocks, threads, stream, args...)          threads that never meet
//     DD_LAUNCH_SYNCING(name_kernel, blocks, threads, stream, args...)  threads that meet at
//     barriers
// On the GPU both are name_kernel<<<blocks, threads, 0, stream>>>(args). Compiled for the host
// (DD_SIMT_HOST) the kernel is a plain function and its shared arrays are static (one block runs
// at a time), filled with 0xff bytes (NaN, -1) before every block, so that a block reading what
// it never wrote sees garbage there as it would on the GPU, not the last block's values; the launch
// takes its arguments then, as a launch does, and queues the grid in the stream of the emulated
// device, which runs it when the host waits for that stream. A kernel launched with DD_LAUNCH runs
// its threads one after another; a barrier in it aborts.
#ifndef DD_LAUNCH_CUH
#define DD_LAUNCH_CUH

#include "simt.cuh"

#ifndef DD_SIMT_HOST

#define DD_GLOBAL __global__
// The most threads a launch of the kernel uses (__launch_bounds__): ptxas then keeps it within
// the registers a block that large can have, instead of failing the launch when it grows.
#define DD_MAX_THREADS(n)              __launch_bounds__(n)
#define DD_SHARED_ARRAY(type, name, n) __shared__ type name[n]
#define DD_LAUNCH(kernel, blocks, threads, stream, ...)                                            \
    kernel<<<(blocks), (threads), 0, (stream)>>>(__VA_ARGS__)
#define DD_LAUNCH_SYNCING DD_LAUNCH

#else

#include <cuda_runtime.h> // as nvcc includes it: cudaMalloc for any T **, and the rest

#include <functional>
#include <type_traits>

#define DD_GLOBAL
#define DD_MAX_THREADS(n)
#define DD_SHARED_ARRAY(type, name, n)                                                             \
    static type name[n];                                                                           \
    static const bool name##_poisoned = simt_shared_register(name, sizeof name);                   \
    (void)name##_poisoned
#define DD_LAUNCH(kernel, blocks, threads, stream, ...)                                            \
    emu_launch(#kernel, (blocks), (threads), (stream), false, kernel)(__VA_ARGS__)
#define DD_LAUNCH_SYNCING(kernel, blocks, threads, stream, ...)                                    \
    emu_launch(#kernel, (blocks), (threads), (stream), true, kernel)(__VA_ARGS__)

// The emulated device's side (tests/emudev/cudart.cc). emu_launch_grid checks the launch shape
// (a bad one sets the error cudaGetLastError returns, as on the GPU) and queues THREAD_BODY, to
// run once for every thread of every block. emu_check_kernel_pointer aborts, naming the kernel
// and the argument, when P is neither null nor in device memory: the GPU would fault there.
void emu_launch_grid(const char *kernel, long long blocks, long long threads, cudaStream_t stream,
                     bool syncing, std::function<void()> thread_body);
void emu_check_kernel_pointer(const char *kernel, int index, const void *p);
// A struct argument's pointers are checked where its kernel file gives an overload for it (as
// layer.cu does for dd_layer_view); other structs are taken as they are.
template <typename T> void emu_check_kernel_struct(const char *, int, const T &) {}

// A launch waiting for its arguments, which it takes as the kernel's own parameter types (so
// NULL converts as it does in a call), checks and copies, as a launch does.
template <typename... P> struct emu_launcher {
    const char *name;
    long long blocks, threads;
    cudaStream_t stream;
    bool syncing;
    void (*kernel)(P...);

    void operator()(P... args) const {
        int index = 0;
        auto check = [&](const auto &p) {
            if constexpr (std::is_pointer_v<std::decay_t<decltype(p)>>)
                emu_check_kernel_pointer(name, index, (const void *)p);
            else
                emu_check_kernel_struct(name, index, p);
            index++;
        };
        (check(args), ...);
        auto run = kernel;
        emu_launch_grid(name, blocks, threads, stream, syncing, [run, args...] { run(args...); });
    }
};

template <typename... P>
emu_launcher<P...> emu_launch(const char *name, long long blocks, long long threads,
                              cudaStream_t stream, bool syncing, void (*kernel)(P...)) {
    return emu_launcher<P...>{name, blocks, threads, stream, syncing, kernel};
}

#endif

#endif
