/* Which processor a run used, for config.json and the report; see run.h. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <string.h>

#include "deepdigits/run.h"

/* The "model name" line of /proc/cpuinfo, and the number of logical CPUs. */
static void cpu_name(char *buf, size_t len) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256], model[160] = "unknown CPU";
    int cpus = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "processor", 9) == 0) cpus++;
        if (colon && strncmp(line, "model name", 10) == 0 && cpus <= 1) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
        }
    }
    if (f) fclose(f);
    snprintf(buf, len, "%s (%d logical CPUs)", model, cpus);
}

void dd_device_describe(dd_device device, char *name, size_t name_len, char *hw, size_t hw_len) {
    int count = 0;
    if (device != DD_DEVICE_CPU && cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
    struct cudaDeviceProp prop;
    if (count > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
        snprintf(name, name_len, "gpu");
        snprintf(hw, hw_len, "%s", prop.name);
        return;
    }
    snprintf(name, name_len, "%s", device == DD_DEVICE_GPU ? "gpu" : "cpu");
    if (device == DD_DEVICE_GPU)
        snprintf(hw, hw_len, "no CUDA device found");
    else
        cpu_name(hw, hw_len);
}
