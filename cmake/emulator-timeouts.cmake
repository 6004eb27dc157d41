# Under an emulator (a cross build run with qemu-user, docs/PI.md) CPU-bound
# tests run 10 to 50 times slower than natively, so every test's TIMEOUT in
# the including directory is multiplied by MASSAGED_EMULATOR_TIMEOUT_SCALE,
# including tests added after the include: the scaling is deferred to the
# end of the directory. Natively nothing changes.
set(MASSAGED_EMULATOR_TIMEOUT_SCALE 10 CACHE STRING
    "Factor on test timeouts when tests run under CMAKE_CROSSCOMPILING_EMULATOR")

function(massaged_scale_test_timeouts)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} TIMEOUT timeout)
    if(NOT timeout)
      set(timeout 1500) # ctest's default
    endif()
    math(EXPR timeout "${timeout} * ${MASSAGED_EMULATOR_TIMEOUT_SCALE}")
    set_tests_properties(${t} PROPERTIES TIMEOUT ${timeout})
  endforeach()
endfunction()

if(CMAKE_CROSSCOMPILING AND CMAKE_CROSSCOMPILING_EMULATOR)
  cmake_language(DEFER CALL massaged_scale_test_timeouts)
endif()
