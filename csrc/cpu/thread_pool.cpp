// Thread pool implementation: a generation counter under one mutex wakes the workers for each
// region; each worker runs its slice and the last one to finish wakes the caller. Waking a
// sleeping thread costs tens of microseconds (more on a virtual machine), and a GEMM opens
// several regions back to back, so workers and the caller spin for a short while (kSpin)
// on the atomic counters before they sleep on the condition variables. The spin mostly pauses
// and yields the core only every 64 rounds (about 4 us): a yield is a system call (about
// 1.3 us on the KVM guest of BENCHMARKS.md), and a yield in every round on both sides made an
// empty two-thread region cost 2.7 us (0.3 us now); the occasional yield still lets a thread
// that shares its core with the one it waits for (a loaded machine) give way to it.
#include "thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tf {
namespace {

constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spins until pred() holds or kSpin has passed; returns pred().
template <typename Pred>
bool spin_until(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
        if (pred()) return true;
        if ((i & 63) == 63) {
            if (std::chrono::steady_clock::now() > deadline) return pred();
            std::this_thread::yield();
        } else {
            cpu_relax();
        }
    }
}

int default_threads() {
    if (const char* env = std::getenv("TENSORFORGE_NUM_THREADS")) {
        int n = std::atoi(env);
        if (n >= 1) return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw ? static_cast<int>(hw) : 1;
}

thread_local bool in_region = false;

class Pool {
public:
    ~Pool() { stop(); }

    int size() const { return size_; }

    void resize(int n) {
        std::lock_guard<std::mutex> call(call_mutex_);
        stop();
        size_ = n;
    }

    int run(int requested, const std::function<void(int, int)>& fn) {
        int n = std::max(1, std::min(requested, size_));
        if (n == 1 || in_region) {
            fn(0, 1);
            return 1;
        }
        std::lock_guard<std::mutex> call(call_mutex_);
        ensure_workers();
        std::exception_ptr error;
        {
            std::unique_lock<std::mutex> lk(mutex_);
            job_ = &fn;
            job_threads_ = n;
            pending_ = n - 1;
            first_error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        in_region = true;
        try {
            fn(0, n);
        } catch (...) {
            error = std::current_exception();
        }
        in_region = false;
        {
            std::unique_lock<std::mutex> lk(mutex_);
            lk.unlock();
            spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
            lk.lock();
            done_.wait(lk, [&] { return pending_ == 0; });
            job_ = nullptr;
            if (!error) error = first_error_;
        }
        if (error) std::rethrow_exception(error);
        return n;
    }

    // Called in the child after fork: the worker threads did not survive, forget them.
    void forget_after_fork() {
        new (&mutex_) std::mutex();
        new (&call_mutex_) std::mutex();
        new (&wake_) std::condition_variable();
        new (&done_) std::condition_variable();
        // The handles name threads that do not exist in this process: leak them untouched.
        new std::vector<std::thread>(std::move(workers_));
        workers_.clear();
        job_ = nullptr;
        pending_ = 0;
        quit_ = false;
        in_region = false;
    }

private:
    void ensure_workers() {
        if (static_cast<int>(workers_.size()) == size_ - 1) return;
        // Each worker starts from the generation current now, before the first job is posted,
        // so it cannot mistake that job for one it has already run.
        uint64_t start = generation_;
        for (int i = 1; i < size_; ++i) workers_.emplace_back([this, i, start] { worker(i, start); });
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            quit_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
        workers_.clear();
        quit_ = false;
    }

    void worker(int tid, uint64_t seen) {
        in_region = true;
        for (;;) {
            const std::function<void(int, int)>* job;
            int n;
            spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
            {
                std::unique_lock<std::mutex> lk(mutex_);
                wake_.wait(lk, [&] { return quit_ || generation_ != seen; });
                if (quit_) return;
                seen = generation_;
                job = job_;
                n = job_threads_;
            }
            if (tid < n) {
                std::exception_ptr error;
                try {
                    (*job)(tid, n);
                } catch (...) {
                    error = std::current_exception();
                }
                std::lock_guard<std::mutex> lk(mutex_);
                if (error && !first_error_) first_error_ = error;
                if (--pending_ == 0) done_.notify_one();
            }
        }
    }

    int size_ = default_threads();
    std::vector<std::thread> workers_;
    std::mutex mutex_, call_mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(int, int)>* job_ = nullptr;
    int job_threads_ = 0;
    std::atomic<int> pending_{0};
    std::atomic<uint64_t> generation_{0};
    bool quit_ = false;
    std::exception_ptr first_error_;
};

Pool& pool() {
    static Pool* p = [] {
        auto* created = new Pool();  // never destroyed: workers must not be joined at exit
        pthread_atfork(nullptr, nullptr, [] { pool().forget_after_fork(); });
        return created;
    }();
    return *p;
}

}  // namespace

int get_num_threads() { return pool().size(); }

void set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n != pool().size()) pool().resize(n);
}

int parallel_run(int nthreads, const std::function<void(int, int)>& fn) { return pool().run(nthreads, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    int64_t max_chunks = (n + grain - 1) / grain;
    int threads = static_cast<int>(std::min<int64_t>(max_chunks, get_num_threads()));
    parallel_run(threads, [&](int tid, int nt) {
        int64_t begin = n * tid / nt, end = n * (tid + 1) / nt;
        if (begin < end) fn(begin, end);
    });
}

void SpinBarrier::wait(int nthreads) {
    if (nthreads <= 1) return;
    const uint32_t phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == nthreads) {
        arrived_.store(0, std::memory_order_relaxed);
        phase_.store(phase + 1, std::memory_order_release);
        return;
    }
    for (int i = 0; phase_.load(std::memory_order_acquire) == phase; ++i) {
        if (i < 2000) cpu_relax();
        else std::this_thread::yield();
    }
}

void wait_until_at_least(const std::atomic<int64_t>& counter, int64_t target) {
    for (int i = 0; counter.load(std::memory_order_acquire) < target; ++i) {
        if (i < 2000) cpu_relax();
        else std::this_thread::yield();
    }
}

}  // namespace tf
