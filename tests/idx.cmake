# The IDX/MNIST loader: synthetic files (always), the real MNIST when data/mnist holds it.
dd_test(test_idx LABELS cpu)
