# sio_embed(OUT_CPP SYMBOL FILE): generates a source file defining
#   extern const std::string_view SYMBOL;   // the bytes of FILE
# so a tool can serve a page without reading files at run time. A missing FILE embeds an empty
# view (the tool then reports what is missing instead of serving nothing silently).
function(sio_embed out_cpp symbol file)
  set(deps ${PROJECT_SOURCE_DIR}/cmake/sio_embed_run.cmake)
  if(EXISTS ${file})
    list(APPEND deps ${file})
  endif()
  add_custom_command(
    OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out_cpp} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/sio_embed_run.cmake
    DEPENDS ${deps}
    COMMENT "Embedding ${file}"
    VERBATIM)
endfunction()
