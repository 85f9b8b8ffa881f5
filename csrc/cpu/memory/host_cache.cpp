// The large-block cache of host_cache.h: free lists by size class, a table of the live large
// blocks (so free and realloc can tell a cached block from a malloc'd one without trusting a size
// from the caller), and a byte limit on what is kept. Blocks are 64-byte aligned.
#include "host_cache.h"

#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tf::cpu {
namespace {

constexpr size_t kAlign = 64;

struct Cache {
    std::mutex mu;
    std::unordered_map<void*, size_t> live;               // block -> size class
    std::unordered_map<size_t, std::vector<void*>> free;  // size class -> free blocks
    uint64_t live_bytes = 0, cached_blocks = 0, cached_bytes = 0, hits = 0, misses = 0;
    uint64_t limit = uint64_t(1) << 30;
};

Cache& cache() {
    static Cache* c = [] {
        auto* made = new Cache;  // never destroyed: numpy may free arrays during interpreter exit
        pthread_atfork([] { cache().mu.lock(); }, [] { cache().mu.unlock(); }, [] { cache().mu.unlock(); });
        return made;
    }();
    return *c;
}

size_t size_class(size_t bytes) {
    size_t top = size_t(1) << (63 - __builtin_clzll(static_cast<unsigned long long>(bytes)));
    size_t step = top / 8;
    return (bytes + step - 1) / step * step;
}

// Frees cached blocks until at most `keep` bytes stay cached (caller holds the mutex).
void trim_locked(Cache& c, uint64_t keep) {
    for (auto it = c.free.begin(); it != c.free.end() && c.cached_bytes > keep;) {
        auto& blocks = it->second;
        while (!blocks.empty() && c.cached_bytes > keep) {
            std::free(blocks.back());
            blocks.pop_back();
            c.cached_bytes -= it->first;
            --c.cached_blocks;
        }
        it = blocks.empty() ? c.free.erase(it) : std::next(it);
    }
}

void* take_large(size_t bytes) {
    const size_t cls = size_class(bytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    void* p = nullptr;
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        c.cached_bytes -= cls;
        --c.cached_blocks;
        ++c.hits;
    } else {
        p = std::aligned_alloc(kAlign, cls);  // cls is a multiple of 16 KiB, so of kAlign
        if (!p) return nullptr;
        ++c.misses;
    }
    c.live.emplace(p, cls);
    c.live_bytes += cls;
    return p;
}

// Returns the block to the cache if it is a live large block (true), else leaves it (false).
bool give_back_large(void* p) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.live.find(p);
    if (it == c.live.end()) return false;
    const size_t cls = it->second;
    c.live.erase(it);
    c.live_bytes -= cls;
    if (c.cached_bytes + cls > c.limit) {
        std::free(p);
    } else {
        c.free[cls].push_back(p);
        c.cached_bytes += cls;
        ++c.cached_blocks;
    }
    return true;
}

size_t live_class(void* p) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.live.find(p);
    return it == c.live.end() ? 0 : it->second;
}

}  // namespace

void* host_cache_malloc(size_t bytes) {
    return bytes < kMinCachedBytes ? std::malloc(bytes) : take_large(bytes);
}

void* host_cache_calloc(size_t count, size_t elem_bytes) {
    if (elem_bytes && count > SIZE_MAX / elem_bytes) return nullptr;
    const size_t bytes = count * elem_bytes;
    if (bytes < kMinCachedBytes) return std::calloc(count, elem_bytes);
    void* p = take_large(bytes);
    if (p) std::memset(p, 0, bytes);
    return p;
}

void* host_cache_realloc(void* ptr, size_t bytes) {
    if (!ptr) return host_cache_malloc(bytes);
    const size_t cls = live_class(ptr);
    if (cls == 0) return std::realloc(ptr, bytes);  // a malloc'd block stays one
    if (bytes <= cls && bytes >= kMinCachedBytes) return ptr;
    void* fresh = host_cache_malloc(bytes);
    if (!fresh) return nullptr;  // like realloc: the old block stays valid
    std::memcpy(fresh, ptr, bytes < cls ? bytes : cls);
    give_back_large(ptr);
    return fresh;
}

void host_cache_free(void* ptr) {
    if (ptr && !give_back_large(ptr)) std::free(ptr);
}

HostCacheStats host_cache_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    return {c.live.size(), c.live_bytes, c.cached_blocks, c.cached_bytes, c.hits, c.misses, c.limit};
}

void host_cache_set_limit(size_t bytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    c.limit = bytes;
    trim_locked(c, bytes);
}

void host_cache_release() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    trim_locked(c, 0);
}

}  // namespace tf::cpu
