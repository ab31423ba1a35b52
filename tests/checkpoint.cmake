# Checkpoints: the JSON and safetensors parsers on synthetic input (always), save/load, exact
# resume, SIGINT and divergence on a MNIST subset, the CLI's checkpoint errors, and a reader
# that knows only Python's struct and json modules.
dd_test(test_safetensors LABELS cpu)
dd_test(test_image LABELS cpu)
dd_test(test_checkpoint LABELS "cpu;mnist")
add_test(NAME checkpoint_errors COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint_errors.sh
                                        $<TARGET_FILE:deepdigits> ${DD_MNIST_DIR})
set_tests_properties(checkpoint_errors PROPERTIES LABELS "cpu;mnist")
add_test(NAME safetensors_python
         COMMAND sh -c "command -v python3 >/dev/null || exit 77; exec python3 \"$0\" \"$1\" \"$2\""
                 ${CMAKE_CURRENT_SOURCE_DIR}/safetensors_python.py $<TARGET_FILE:deepdigits>
                 ${DD_MNIST_DIR})
set_tests_properties(safetensors_python PROPERTIES LABELS "cpu;mnist" SKIP_RETURN_CODE 77)
