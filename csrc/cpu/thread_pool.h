// Our own small thread pool: persistent std::threads that run one parallel region at a time.
//
// parallel_run(n, fn) calls fn(tid, n) for tid = 0..n-1, tid 0 on the calling thread, and
// returns when all have finished. A call made from inside a region runs serially (no nested
// oversubscription). After fork() the child starts with no workers and recreates them on
// first use, so a forked DataLoader worker never waits on threads that do not exist.
// SpinBarrier lets the threads of one region meet between phases without leaving the region;
// wait_until_at_least lets one thread wait for a counter that the others advance.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>

namespace tf {

int get_num_threads();
void set_num_threads(int n);  // n >= 1

// Runs fn(tid, nthreads) on min(nthreads, get_num_threads()) threads; returns the count used.
int parallel_run(int nthreads, const std::function<void(int tid, int nthreads)>& fn);

// Splits [0, n) into contiguous chunks of at least `grain` items over the pool.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

// A reusable barrier for the threads of one parallel_run region: wait(n) returns once all n
// threads of the region (fn's nthreads) have called it. The threads are running, so it spins
// (then yields the core) instead of sleeping. The code between two waits must not throw.
class SpinBarrier {
public:
    void wait(int nthreads);

private:
    std::atomic<int> arrived_{0};
    std::atomic<uint32_t> phase_{0};
};

// Returns once counter >= target (an acquire load, so what was written before the store or
// fetch_add (release) that reached target is visible), spinning, then yielding the core, like
// SpinBarrier. For the threads of one region that hand work to each other through counters.
void wait_until_at_least(const std::atomic<int64_t>& counter, int64_t target);

}  // namespace tf
