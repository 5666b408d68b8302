// A fixed pool of worker threads for the CPU engine's parallel loops. A decode step at batch 1
// runs about 240 short parallel loops (seven matrices and the attention per layer, 30 layers);
// handing each to GCD's concurrentPerform cost more in wake-ups than the second core gave back
// (2 threads were 10% faster than 1). Here workers spin on a generation counter for a while
// after each loop, so the next one starts within a fraction of a microsecond, and sleep on a
// condition variable once the engine has been idle longer than that.
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

// A compiler barrier, not the pause instruction: in a KVM guest, pause loops trigger pause-loop
// exiting and the host may deschedule the spinning vCPU, which cost more than the spin saves.
#define AB_SPIN() __asm__ __volatile__("" ::: "memory")

#define AB_POOL_MAX 64

struct ab_pool {
    int threads;  // the caller counts as thread 0
    pthread_t workers[AB_POOL_MAX];
    long spin_limit;
    _Atomic unsigned generation;
    _Atomic int pending;
    _Atomic int stopping;
    int sleepers;  // guarded by mutex
    ab_pool_task task;
    void *context;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_mutex_t caller;  // held for a whole run: one caller at a time
};

struct ab_worker_arg { struct ab_pool *pool; int index; };

// Waits until the generation moves past `seen`: spinning first, then on the condition variable.
static unsigned wait_for_work(struct ab_pool *p, unsigned seen) {
    for (long spins = 0; spins < p->spin_limit; spins++) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stopping, memory_order_relaxed)) return g;
        AB_SPIN();
    }
    pthread_mutex_lock(&p->mutex);
    p->sleepers++;
    unsigned g;
    while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen
           && !atomic_load_explicit(&p->stopping, memory_order_relaxed)) {
        pthread_cond_wait(&p->wake, &p->mutex);
    }
    p->sleepers--;
    pthread_mutex_unlock(&p->mutex);
    return g;
}

static void *worker_main(void *raw) {
    struct ab_worker_arg arg = *(struct ab_worker_arg *)raw;
    free(raw);
    struct ab_pool *p = arg.pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_work(p, seen);
        if (atomic_load_explicit(&p->stopping, memory_order_acquire)) return NULL;
        p->task(p->context, arg.index, p->threads);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

ab_pool *ab_pool_create(int threads, long spin_limit) {
    if (threads < 1 || threads > AB_POOL_MAX || spin_limit < 0) return NULL;
    ab_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    p->spin_limit = spin_limit;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_mutex_init(&p->caller, NULL);
    for (int i = 1; i < threads; i++) {
        struct ab_worker_arg *arg = malloc(sizeof *arg);
        if (!arg) { p->threads = i; ab_pool_destroy(p); return NULL; }
        arg->pool = p;
        arg->index = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, arg) != 0) {
            free(arg);
            p->threads = i;
            ab_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

int ab_pool_threads(const ab_pool *p) { return p->threads; }

void ab_pool_run(ab_pool *p, ab_pool_task task, void *context) {
    // With one thread, or while another caller has the workers, the caller runs every share.
    if (p->threads == 1 || pthread_mutex_trylock(&p->caller) != 0) {
        for (int t = 0; t < p->threads; t++) task(context, t, p->threads);
        return;
    }
    p->task = task;
    p->context = context;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    task(context, 0, p->threads);
    // The workers' shares are as long as the caller's: wait for them spinning, yielding now and
    // then in case a worker was descheduled (more threads than free cores).
    for (long spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if ((spins & 0x3FFF) == 0x3FFF) sched_yield(); else AB_SPIN();
    }
    pthread_mutex_unlock(&p->caller);
}

void ab_pool_destroy(ab_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store_explicit(&p->stopping, 1, memory_order_release);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->caller);
    free(p);
}
