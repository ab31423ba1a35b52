/* The machines the bench measures and their peaks: FP32 rate and memory bandwidth. */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "deepdigits/gpu.h"
#include "deepdigits/run.h"

/* Where the copies' last bytes go, so that the compiler cannot drop copies nobody reads (gcc
 * did: a destination that is only freed afterwards gave "28,000 TB/s"). */
static volatile unsigned char copy_sink;

/* Copy bandwidth (read + write) as one thread sees it for two buffers of BYTES, copied back and
 * forth until about 256 MiB have moved; the best of three tries at each of three offsets of one
 * buffer against the other. The offset matters on some machines by 10x either way (an AMD EPYC
 * VM: 7 GB/s for 256 KiB buffers at the same offset within a page, 70 at 64 bytes apart; 6 GB/s
 * for 256 MiB ones 64 bytes apart, 18 at the same offset), and a floor needs the best. */
static double copy_bandwidth(size_t bytes) {
    static const size_t offsets[] = {0, 64, 2048};
    char *a = malloc(bytes), *b0 = malloc(bytes + 4096);
    double best = 0;
    int rounds = (int)((256u << 20) / bytes);
    if (!a || !b0) goto done;
    memset(a, 1, bytes), memset(b0, 2, bytes + 4096);
    for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++) {
        /* b at OFFSET bytes past a's offset within a page */
        char *b = b0 + ((uintptr_t)a - (uintptr_t)b0 + offsets[o]) % 4096;
        for (int r = 0; r < 3; r++) {
            double t0 = dd_seconds();
            for (int k = 0; k < rounds; k++) {
                char *from = k % 2 ? b : a, *to = k % 2 ? a : b;
                memcpy(to, from, bytes);
                to[(size_t)k % bytes]++; /* each copy differs from the last */
                copy_sink = (unsigned char)(copy_sink + to[bytes - 1 - (size_t)k % bytes]);
            }
            double rate = 2.0 * (double)bytes * rounds / (dd_seconds() - t0);
            if (rate > best) best = rate;
        }
    }
done:
    free(a), free(b0);
    return best;
}

double bench_bandwidth(const bench_machine *m, double bytes) {
    return m->cache_bandwidth > 0 && bytes <= m->cache_bytes ? m->cache_bandwidth : m->bandwidth;
}

/* Clock and vector width from /proc/cpuinfo; FP32 peak of one core from its vector
 * width: 2 FMA units x (16 lanes with AVX-512, else 8) x 2 FLOPs per cycle. */
void bench_cpu(bench_machine *m) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    double mhz = 0;
    int cpus = 0, avx512 = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        if (strncmp(line, "processor", 9) == 0)
            cpus++;
        else if (strncmp(line, "cpu MHz", 7) == 0 && cpus == 1)
            mhz = atof(colon + 1);
        else if (strncmp(line, "flags", 5) == 0 && cpus == 1)
            avx512 = strstr(line, " avx512f") != NULL;
    }
    if (f) fclose(f);
    m->flops = mhz * 1e6 * 2 * (avx512 ? 16 : 8) * 2;
    m->bandwidth = copy_bandwidth(256u << 20);
    /* Every model of the lab fits in a core's L2 (1 MiB or more on current x86 servers):
     * 2 x 256 KiB buffers measure that level. */
    m->cache_bytes = 1 << 20;
    m->cache_bandwidth = copy_bandwidth(256u << 10);
    char name[200];
    dd_cpu_describe(name, sizeof name);
    snprintf(m->name, sizeof m->name, "%s, %.0f MHz, %s; 1 thread used", name, mhz,
             avx512 ? "AVX-512" : "AVX2");
}

/* FP32 lanes per SM by architecture (CUDA C Programming Guide, arithmetic throughput table). */
static int fp32_lanes_per_sm(int major, int minor) {
    if (major == 8 && minor == 0) return 64;
    if (major >= 8) return 128;
    return 64;
}

int bench_gpu(bench_machine *m) {
    if (dd_cuda_device_count() == 0) return 0;
    int sms = 0, clock_khz = 0, mem_khz = 0, bus_bits = 0, major = 0, minor = 0;
    const struct {
        int *value;
        enum cudaDeviceAttr attr;
        const char *name;
    } asks[] = {{&sms, cudaDevAttrMultiProcessorCount, "SM count"},
                {&clock_khz, cudaDevAttrClockRate, "clock"},
                {&mem_khz, cudaDevAttrMemoryClockRate, "memory clock"},
                {&bus_bits, cudaDevAttrGlobalMemoryBusWidth, "memory bus width"},
                {&major, cudaDevAttrComputeCapabilityMajor, "compute capability"},
                {&minor, cudaDevAttrComputeCapabilityMinor, "compute capability"}};
    for (size_t k = 0; k < sizeof asks / sizeof asks[0]; k++) {
        cudaError_t e = cudaDeviceGetAttribute(asks[k].value, asks[k].attr, 0);
        if (e != cudaSuccess) { /* the floors go blank; the timings stand */
            fprintf(stderr, "deepdigits-bench: the GPU's %s is unknown (%s): no GPU floors\n",
                    asks[k].name, cudaGetErrorString(e));
            *asks[k].value = 0;
        }
    }
    m->flops = (double)sms * fp32_lanes_per_sm(major, minor) * 2.0 * clock_khz * 1e3;
    m->bandwidth = 2.0 * mem_khz * 1e3 * bus_bits / 8.0; /* double data rate */
    m->cache_bytes = m->cache_bandwidth = 0;
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    char gpu[200];
    dd_gpu_describe(gpu, sizeof gpu);
    snprintf(m->name, sizeof m->name, "%s, driver %d.%d, %.0f GB/s", gpu, driver / 1000,
             driver % 1000 / 10, m->bandwidth / 1e9);
    return 1;
}
