/* Which processor a run used, for config.json and the report; see run.h. */
#include <stdio.h>
#include <string.h>

#include "deepdigits/gpu.h"
#include "deepdigits/run.h"

/* The "model name" line of /proc/cpuinfo, and the number of logical CPUs. */
void dd_cpu_describe(char *buf, size_t len) {
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
    int gpu = device != DD_DEVICE_CPU && dd_cuda_device_count() > 0;
    snprintf(name, name_len, "%s", gpu || device == DD_DEVICE_GPU ? "gpu" : "cpu");
    if (gpu)
        dd_gpu_describe(hw, hw_len);
    else if (device == DD_DEVICE_GPU)
        dd_cuda_devices(hw, hw_len); /* why there is none */
    else
        dd_cpu_describe(hw, hw_len);
}
