if(YG_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(YG_TSAN)
  # -Wno-tsan: g++ 12 warns that TSan does not model std::atomic_thread_fence, which Asio's
  # handler completion uses; Asio hands handlers between threads under its scheduler's mutex.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
if(YG_FUZZ)
  # Instrument everything we compile for coverage; fuzz targets add the libFuzzer driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
