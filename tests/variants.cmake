# The lab's presets, --variant all and the report (issue 4).
dd_test(test_variants LABELS cpu)
