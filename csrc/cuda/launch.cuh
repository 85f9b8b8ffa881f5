// TF_LAUNCH(kernel, grid, block, stream, args...) enqueues kernel<<<grid, block, 0, stream>>>(args...).
// `kernel` must be one token (a name or a pointer variable; alias a template instance first).
// With TF_CUDA_EMULATE defined (the CPU emulation that tests/test_cuda_emulated.py compiles with
// g++, see emu/), it instead runs every block of the grid on the CPU, one std::thread per CUDA
// thread, so index arithmetic, bounds and barriers can be checked (with ASan / TSan) on machines
// without a GPU. That emulation says nothing about speed or about the real compiler's output.
#pragma once

#ifdef TF_CUDA_EMULATE
#define TF_LAUNCH(kernel, grid, block, stream, ...) \
    ((void)(stream), ::tf_emu::launch((grid), (block), [&] { kernel(__VA_ARGS__); }))
#else
#define TF_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif
