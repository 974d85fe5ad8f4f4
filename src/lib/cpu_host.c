/*
 * Host builds: a thread stands in for a CPU.
 *
 * The portable cores reach per-CPU state only through this_cpu(), cpu_get()
 * and cpu_count(), as in the kernel. Here each thread gets a struct cpu the
 * first time it asks, with the lowest index no live thread holds, so that
 * arrays of SMP_MAX_CPUS per-CPU entries stay in bounds however many threads
 * come and go (a benchmark starts thousands). When a thread ends, the exit
 * hooks run on its behalf (this_cpu() still names its struct), so modules
 * can drain its per-CPU caches before the index is handed to another thread.
 * The main thread never ends this way: its caches stay until exit().
 *
 * The kernel has its own (arch/x86_64/smp.c); this file is empty there.
 */
#ifndef PAGODA_KERNEL
#include <pthread.h>

#include <pagoda/percpu.h>
#include <pagoda/printk.h>
#include <pagoda/string.h>

#define HOST_EXIT_HOOKS 8

static struct cpu host_store[SMP_MAX_CPUS];
static bool host_taken[SMP_MAX_CPUS];
static unsigned host_high; /* indexes ever handed out: cpu_count() */
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static pthread_key_t host_key;
static void (*host_hooks[HOST_EXIT_HOOKS])(struct cpu *c);
static unsigned host_nhooks;
_Thread_local struct cpu *cpu_host_self __attribute__((tls_model("initial-exec"))); /* no __tls_get_addr in a shared library */

static void host_detach(void *v)
{
    struct cpu *c = v;
    cpu_host_self = c; /* the hooks ask this_cpu() */
    pthread_mutex_lock(&host_lock);
    unsigned n = host_nhooks;
    pthread_mutex_unlock(&host_lock);
    for (unsigned i = 0; i < n; i++)
        host_hooks[i](c);
    pthread_mutex_lock(&host_lock);
    __atomic_store_n(&c->state, CPU_ABSENT, __ATOMIC_RELEASE);
    host_taken[c->index] = false;
    pthread_mutex_unlock(&host_lock);
    cpu_host_self = NULL;
}

static void host_key_init(void)
{
    if (pthread_key_create(&host_key, host_detach) != 0)
        panic("host: no thread-specific key for the per-CPU stand-in");
}

/* A thread's first this_cpu(): its stand-in CPU. */
__attribute__((noinline)) struct cpu *cpu_host_attach(void)
{
    pthread_once(&host_once, host_key_init);
    pthread_mutex_lock(&host_lock);
    unsigned i = 0;
    while (i < SMP_MAX_CPUS && host_taken[i])
        i++;
    if (i == SMP_MAX_CPUS) {
        pthread_mutex_unlock(&host_lock);
        panic("host: more than %d threads use per-CPU state at once", SMP_MAX_CPUS);
    }
    host_taken[i] = true;
    struct cpu *c = &host_store[i];
    memset(c, 0, sizeof(*c));
    c->self = c;
    c->index = i;
    c->state = CPU_ONLINE;
    if (i + 1 > host_high)
        __atomic_store_n(&host_high, i + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&host_lock);
    pthread_setspecific(host_key, c);
    cpu_host_self = c;
    return c;
}

unsigned cpu_count(void)
{
    unsigned n = __atomic_load_n(&host_high, __ATOMIC_ACQUIRE);
    return n ? n : 1;
}

struct cpu *cpu_get(unsigned index)
{
    return index < cpu_count() ? &host_store[index] : NULL;
}

void cpu_host_on_exit(void (*fn)(struct cpu *c))
{
    pthread_mutex_lock(&host_lock);
    for (unsigned i = 0; i < host_nhooks; i++)
        if (host_hooks[i] == fn) {
            pthread_mutex_unlock(&host_lock);
            return;
        }
    if (host_nhooks == HOST_EXIT_HOOKS) {
        pthread_mutex_unlock(&host_lock);
        panic("host: more than %d per-CPU exit hooks", HOST_EXIT_HOOKS);
    }
    host_hooks[host_nhooks++] = fn;
    pthread_mutex_unlock(&host_lock);
}

bool cpu_host_online(unsigned index)
{
    return index < cpu_count() && __atomic_load_n(&host_store[index].state, __ATOMIC_ACQUIRE) ==
                                      CPU_ONLINE;
}
#endif
