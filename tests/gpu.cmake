# GPU tests: skipped (exit 77) where there is no CUDA device, run by scripts/gpu-check.sh.
dd_test(test_gpu_ops LABELS gpu SOURCES test_gpu_ops.c gputest.c)
dd_test(test_gpu_curand LABELS gpu SOURCES test_gpu_curand.c gputest.c)
dd_test(test_gpu_network LABELS "gpu;mnist" SOURCES test_gpu_network.c gputest.c)
