# The lab's presets, --variant all and the report (issue 4).
dd_test(test_variants LABELS cpu)
dd_test(test_run_files LABELS cpu)

add_test(NAME variants_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/variants_cli.sh
                                   $<TARGET_FILE:deepdigits> ${DD_MNIST_DIR})
set_tests_properties(variants_cli PROPERTIES LABELS "cpu;mnist")

# variants_all trains the 21 models on 6,000 images for one epoch; report reads its runs.
set(DD_VARIANT_RUNS ${CMAKE_CURRENT_BINARY_DIR}/variant-runs)
add_test(NAME variants_all COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/variants_all.sh
                                   $<TARGET_FILE:deepdigits> ${DD_MNIST_DIR} ${DD_VARIANT_RUNS})
set_tests_properties(variants_all PROPERTIES LABELS "cpu;mnist" FIXTURES_SETUP variant_runs)
add_test(NAME report COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report.sh $<TARGET_FILE:deepdigits>
                             ${DD_VARIANT_RUNS})
set_tests_properties(report PROPERTIES LABELS "cpu;mnist" FIXTURES_REQUIRED variant_runs
                                        SKIP_RETURN_CODE 77)
# report_contents checks the report's numbers against the same runs (copied: report writes there).
add_test(NAME report_contents COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report_contents.sh
                                      $<TARGET_FILE:deepdigits> ${DD_VARIANT_RUNS})
set_tests_properties(report_contents PROPERTIES LABELS "cpu;mnist" FIXTURES_REQUIRED variant_runs
                                                 SKIP_RETURN_CODE 77)
