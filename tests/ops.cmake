# The ops, the initializers and SGD on the CPU: gradient checks against a double-precision
# specification, the Dense layer's fixed float arithmetic, the accuracy of tanh, initializer
# statistics, shuffles, and hand-computed SGD steps.
dd_test(test_gradcheck LABELS cpu)
dd_test(test_dense_order LABELS cpu)
dd_test(test_tanh LABELS cpu)
dd_test(test_init LABELS cpu)
dd_test(test_sgd LABELS cpu)
# The fused engine's kernel body run on the host by its emulator, against the CPU reference.
dd_test(test_fused_emulated LABELS "cpu;mnist")
# (The layers engine's layer kernels on the host: test_layer_emulated, tests/emudev.cmake.)
