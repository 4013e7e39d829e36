// The one source of a precompiled-header owner library (cmake/precompiled_headers.cmake):
// empty, the target exists to compile its header set once for the targets that reuse it.
