# The emulated device (emudev/cudart.cc): the CUDA backend's host code, the kernels' launch code
# and bodies (kernels/launch.cuh), and cuBLAS's SGEMM run on the host, so that the GPU tests'
# checks of the backend also run where there is no GPU (label cpu). What only nvcc compiles has a
# stand-in: the fused kernel's launch (its body runs through kernels/fused_emulate.cu), cuRAND's
# device generator (the host generator) and the shuffle (the CPU's). It does not stand for a GPU
# run: see README, "The emulated device".
set(DD_EMU_SOURCES emudev/cudart.cc emudev/cublas.cc emudev/cublaslt.cc emudev/engines.cc
                   ${PROJECT_SOURCE_DIR}/kernels/simt_host.cc ${PROJECT_SOURCE_DIR}/kernels/simt_fibers.cc)
foreach(k fused_emulate gpu dense sgemm layer gather mse sgd squares init)
  set(host_copy ${CMAKE_CURRENT_BINARY_DIR}/emudev/${k}.cc)
  file(GENERATE OUTPUT ${host_copy} CONTENT
       "// kernels/${k}.cu compiled for the emulated device\n#define DD_SIMT_HOST\n#include \"${PROJECT_SOURCE_DIR}/kernels/${k}.cu\"\n")
  list(APPEND DD_EMU_SOURCES ${host_copy})
endforeach()
add_library(ddemu STATIC ${DD_EMU_SOURCES})
target_include_directories(ddemu PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/kernels
                           ${CMAKE_CURRENT_SOURCE_DIR}/emudev)
target_link_libraries(ddemu PUBLIC ddhost)

# A GPU test run on the emulated device: the same source, linked with ddemu instead of ddcore.
function(dd_emulated_test name)
  cmake_parse_arguments(T "" "" "LABELS;SOURCES;ENVIRONMENT" ${ARGN})
  add_executable(${name} ${T_SOURCES} testutil.c)
  target_link_libraries(${name} PRIVATE ddemu)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/kernels
                             ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" SKIP_RETURN_CODE 77
                       ENVIRONMENT "DD_MNIST_DIR=${DD_MNIST_DIR};${T_ENVIRONMENT}")
endfunction()

# The emulated device's own rules, which the tests below rely on.
dd_emulated_test(test_emudev LABELS "cpu;emulated" SOURCES test_emudev.c emudev_probes.cc)
dd_emulated_test(test_layer_emulated LABELS "cpu;emulated" SOURCES test_layer_emulated.c gputest.c
                 layer_check.c)
# A device too small for the backend: each allocation failing in turn, nothing left allocated.
dd_emulated_test(test_emulated_oom LABELS "cpu;emulated" SOURCES test_emulated_oom.c gputest.c)
dd_emulated_test(emulated_gpu_ops LABELS "cpu;emulated" SOURCES test_gpu_ops.c gputest.c layer_check.c)
# The same where cuBLASLt offers no one-pass algorithm: the SGEMMs fall back to cublasSgemm.
add_test(NAME emulated_gpu_ops_sgemm_fallback COMMAND emulated_gpu_ops)
set_tests_properties(emulated_gpu_ops_sgemm_fallback PROPERTIES LABELS "cpu;emulated"
                     ENVIRONMENT "EMUDEV_LT_OFFERS_NONE=1")
dd_emulated_test(emulated_gpu_init LABELS "cpu;emulated" SOURCES test_gpu_init.c gputest.c)
dd_emulated_test(emulated_gpu_network LABELS "cpu;emulated;mnist" SOURCES test_gpu_network.c gputest.c)
# The fused engine through the backend (its queue of steps), on epochs of 3,000 images: of 60,000,
# the test takes 3.5 minutes here instead of 11 s.
dd_emulated_test(emulated_gpu_fused LABELS "cpu;emulated;mnist" SOURCES test_gpu_fused.c gputest.c
                 ENVIRONMENT DD_TEST_TRAIN_IMAGES=3000)

# The command line on the emulated device: `train --device gpu` end to end (checkpoints, the
# diagnostics' probe, --variant all's threads).
add_executable(deepdigits-emulated ${PROJECT_SOURCE_DIR}/src/main.c)
target_link_libraries(deepdigits-emulated PRIVATE ddemu)
target_include_directories(deepdigits-emulated PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(deepdigits-emulated PRIVATE ${DD_VERSION_DEFINITIONS})
add_test(NAME emulated_gpu_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gpu_cli.sh
                                       $<TARGET_FILE:deepdigits-emulated> ${DD_MNIST_DIR})
set_tests_properties(emulated_gpu_cli PROPERTIES LABELS "cpu;emulated;mnist" SKIP_RETURN_CODE 77)
add_test(NAME emulated_gpu_variants_all COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gpu_variants_all.sh
                                                $<TARGET_FILE:deepdigits-emulated> ${DD_MNIST_DIR})
set_tests_properties(emulated_gpu_variants_all PROPERTIES LABELS "cpu;emulated;mnist"
                     SKIP_RETURN_CODE 77 ENVIRONMENT DD_TEST_SUBSET=1200)
# The layers engine's captured step: its kernels, and those on its longest chain.
add_test(NAME emulated_graph_shape COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/graph_shape.sh
                                           $<TARGET_FILE:deepdigits-emulated> ${DD_MNIST_DIR})
set_tests_properties(emulated_graph_shape PROPERTIES LABELS "cpu;emulated;mnist")
# The error lines of a GPU that is missing, full, or of another architecture.
add_test(NAME emulated_gpu_errors COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/emulated_gpu_errors.sh
                                          $<TARGET_FILE:deepdigits-emulated> ${DD_MNIST_DIR})
set_tests_properties(emulated_gpu_errors PROPERTIES LABELS "cpu;emulated;mnist")
