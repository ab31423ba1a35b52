dd_test(test_train_mnist LABELS "cpu;mnist")
add_test(NAME cli_errors COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh $<TARGET_FILE:deepdigits>
                                 ${DD_MNIST_DIR})
set_tests_properties(cli_errors PROPERTIES LABELS "cpu;mnist")
