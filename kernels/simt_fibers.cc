// The host emulator's threads as fibers (DD_SIMT_FIBERS, simt.cuh): every GPU thread of a run is
// a coroutine on a stack of its own, all in the calling host thread, and a scheduler resumes them
// in turn. A thread runs until it must wait at a barrier (simt_barrier_wait yields) or ends; a
// round in which no thread arrived anywhere and none ended is a deadlock, which the GPU would
// show as a hang and the emulator reports. On 2 cores this is 100x faster than a host thread per
// GPU thread, whose every barrier is a futex and a context switch for each of them.
#define DD_SIMT_HOST
#include "simt.cuh"
#include "simt_host.h"

#ifdef DD_SIMT_FIBERS

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <vector>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

// Saves the callee-saved registers on this stack and the stack pointer in *FROM, then continues
// where *TO was saved (System V x86-64). A fiber's first switch "returns" into fiber_main.
extern "C" void dd_simt_switch_stack(void **from, void *to);
asm(".text\n"
    ".globl dd_simt_switch_stack\n"
    ".hidden dd_simt_switch_stack\n"
    ".type dd_simt_switch_stack, @function\n"
    "dd_simt_switch_stack:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size dd_simt_switch_stack, .-dd_simt_switch_stack\n");

__thread long simt_fiber_arrivals;

namespace {

const size_t STACK_BYTES = 256 * 1024; // as the threads had

// A GPU thread: its stack and, while another runs, its saved stack pointer and simt state.
struct fiber {
    void *sp;
    char *stack;
    void *asan_fake_stack;
    bool done;
    simt_thread_state state;
};

struct scheduler {
    void *sp; // the scheduler's own, while a fiber runs
    const void *stack_bottom;
    size_t stack_bytes; // the scheduler's stack, for AddressSanitizer
    fiber *fibers;
    int current;
    void (*fn)(void *, int);
    void *arg;
};

__thread scheduler *running;

// Stacks are kept for the next run: mapping and touching 256 KiB a thread per launch would cost
// more than the launch. (The pool is never destroyed.)
std::mutex pool_lock;
std::vector<char *> &pool = *new std::vector<char *>;

// A stack with an inaccessible page below it, so that an overflow faults instead of overwriting
// whatever lies there.
char *take_stack() {
    std::lock_guard<std::mutex> g(pool_lock);
    if (pool.empty()) {
        const size_t guard = (size_t)sysconf(_SC_PAGESIZE);
        void *m = mmap(nullptr, guard + STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m == MAP_FAILED) return nullptr;
        if (mprotect(m, guard, PROT_NONE) != 0) {
            munmap(m, guard + STACK_BYTES);
            return nullptr;
        }
        return (char *)m + guard;
    }
    char *s = pool.back();
    pool.pop_back();
    return s;
}

void give_stack(char *s) {
    std::lock_guard<std::mutex> g(pool_lock);
    pool.push_back(s);
}

// AddressSanitizer must know which stack is in use: each switch is announced (LEAVING, with where
// it goes) and confirmed on arrival (ARRIVED, learning where it came from). FAKE is null for a
// fiber that ends.
void leaving(void **fake, const void *to_bottom, size_t to_bytes) {
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_start_switch_fiber(fake, to_bottom, to_bytes);
#else
    (void)fake, (void)to_bottom, (void)to_bytes;
#endif
}

void arrived(void *fake, const void **from_bottom, size_t *from_bytes) {
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(fake, from_bottom, from_bytes);
#else
    (void)fake, (void)from_bottom, (void)from_bytes;
#endif
}

[[noreturn]] void fiber_main() {
    scheduler *s = running;
    arrived(nullptr, &s->stack_bottom, &s->stack_bytes);
    const int i = s->current;
    s->fn(s->arg, i);
    s->fibers[i].done = true;
    leaving(nullptr, s->stack_bottom, s->stack_bytes);
    dd_simt_switch_stack(&s->fibers[i].sp, s->sp); // never resumed
    abort();
}

// The stack as dd_simt_switch_stack leaves it: six saved registers, then fiber_main as the
// return address, then a slot that keeps the stack aligned as a call would (rsp % 16 == 8).
void prepare(fiber *f) {
    void **sp = (void **)(((uintptr_t)f->stack + STACK_BYTES) & ~(uintptr_t)15);
    *--sp = nullptr;
    *--sp = (void *)fiber_main;
    for (int r = 0; r < 6; r++) *--sp = nullptr;
    f->sp = sp;
}

} // namespace

void simt_fiber_yield() {
    scheduler *s = running;
    fiber *f = &s->fibers[s->current];
    leaving(&f->asan_fake_stack, s->stack_bottom, s->stack_bytes);
    dd_simt_switch_stack(&f->sp, s->sp);
    arrived(f->asan_fake_stack, &s->stack_bottom, &s->stack_bytes);
}

int simt_run_threads(int n, void (*fn)(void *arg, int i), void *arg) {
    std::vector<fiber> fibers((size_t)n);
    for (fiber &f : fibers) {
        f.stack = take_stack();
        if (!f.stack) {
            for (fiber &g : fibers)
                if (g.stack) give_stack(g.stack);
            return ENOMEM;
        }
        prepare(&f);
    }
    const simt_thread_state caller = simt_state_save();
    scheduler s = {nullptr, nullptr, 0, fibers.data(), 0, fn, arg};
    scheduler *outer = running;
    running = &s;
    for (int live = n; live > 0;) {
        const long arrivals = simt_fiber_arrivals;
        const int live_before = live;
        for (int i = 0; i < n; i++) {
            fiber *f = &fibers[(size_t)i];
            if (f->done) continue;
            s.current = i;
            simt_state_restore(f->state);
            void *fake = nullptr;
            leaving(&fake, f->stack, STACK_BYTES);
            dd_simt_switch_stack(&s.sp, f->sp);
            arrived(fake, nullptr, nullptr);
            f->state = simt_state_save();
            live -= f->done;
        }
        if (live == live_before && simt_fiber_arrivals == arrivals) {
            fprintf(stderr,
                    "simt emulator: deadlock: %d of %d threads wait at a barrier that the others "
                    "never reach (on the GPU: undefined, often a hang)\n",
                    live, n);
            abort();
        }
    }
    running = outer;
    simt_state_restore(caller);
    for (fiber &f : fibers) give_stack(f.stack);
    return 0;
}

#endif
