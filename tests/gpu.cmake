# GPU tests: skipped (exit 77) where there is no CUDA device, run by scripts/gpu-check.sh.
dd_test(test_gpu_ops LABELS gpu SOURCES test_gpu_ops.c gputest.c layer_check.c)
dd_test(test_gpu_curand LABELS gpu SOURCES test_gpu_curand.c gputest.c)
dd_test(test_gpu_init LABELS gpu SOURCES test_gpu_init.c gputest.c)
dd_test(test_gpu_network LABELS "gpu;mnist" SOURCES test_gpu_network.c gputest.c)
dd_test(test_gpu_fused LABELS "gpu;mnist" SOURCES test_gpu_fused.c gputest.c)
# --variant all on the GPU (all 21 models at once, fused engine) gives each model the weights it
# gets trained alone.
add_test(NAME gpu_variants_all COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gpu_variants_all.sh
                                       $<TARGET_FILE:deepdigits> ${DD_MNIST_DIR})
set_tests_properties(gpu_variants_all PROPERTIES LABELS "gpu;mnist" SKIP_RETURN_CODE 77)
# train on the GPU gives the CPU's history with each engine; its checkpoints evaluate and resume.
add_test(NAME gpu_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gpu_cli.sh $<TARGET_FILE:deepdigits>
                              ${DD_MNIST_DIR})
set_tests_properties(gpu_cli PROPERTIES LABELS "gpu;mnist" SKIP_RETURN_CODE 77)
