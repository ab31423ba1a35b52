dd_test(test_train_mnist LABELS "cpu;mnist")
# The model by hand: layout limits, the summary, the flags' names, the description.
dd_test(test_model LABELS cpu)
add_test(NAME cli_errors COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh $<TARGET_FILE:deepdigits>
                                 ${DD_MNIST_DIR})
set_tests_properties(cli_errors PROPERTIES LABELS "cpu;mnist")
