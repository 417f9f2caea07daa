# Warnings are errors in our code only; dependencies are SYSTEM includes.
function(yg_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
    -Wno-missing-field-initializers)
endfunction()
