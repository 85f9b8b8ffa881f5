// A caching allocator for large host buffers (the data of numpy arrays, see bind_host_cache.cpp).
//
// A training step frees and re-allocates the same large activations and gradients every step. With
// the C library's allocator those buffers go back to the kernel (munmap / heap trim) and each new
// one is paid again in page faults (first touch of every 4 KiB page: ~5000 faults, ~10% of the
// MNIST step). This cache keeps freed blocks of at least kMinCachedBytes in free lists by size
// class (sizes rounded up to 1/8 of their power of two, so at most 12.5% is wasted) and hands them
// out again; blocks below that size go straight to malloc. The cache holds at most `limit` bytes of
// free blocks; a block freed beyond that goes back to the system. Thread-safe (one mutex), and
// fork-safe (the mutex is held across fork, so a forked child never inherits it locked).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf::cpu {

constexpr size_t kMinCachedBytes = size_t(128) << 10;

void* host_cache_malloc(size_t bytes);
void* host_cache_calloc(size_t count, size_t elem_bytes);  // zero-filled; nullptr on overflow
void* host_cache_realloc(void* ptr, size_t bytes);
void host_cache_free(void* ptr);

struct HostCacheStats {
    uint64_t live_blocks;    // large blocks handed out and not yet freed
    uint64_t live_bytes;
    uint64_t cached_blocks;  // free large blocks kept for reuse
    uint64_t cached_bytes;
    uint64_t hits;           // large allocations served from the cache
    uint64_t misses;         // large allocations that went to the system
    uint64_t limit_bytes;
};

HostCacheStats host_cache_stats();
void host_cache_set_limit(size_t bytes);  // frees cached blocks beyond the new limit
void host_cache_release();                // returns every cached block to the system

}  // namespace tf::cpu
