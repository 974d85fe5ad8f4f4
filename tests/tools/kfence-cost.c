/*
 * The cost of the sampled guard pages on the host, measured the way the
 * benchmark measures Pagoda's heap (tests/bench: -O2, fastest of many
 * slices), over Pagoda's portable heap with kfence's hooks compiled in:
 *   kfence-cost off            hooks present, sampling off
 *   kfence-cost N [mprotect]   sampling about 1 in N; the pool's pages are
 *                              made present with mprotect (a syscall and a
 *                              TLB flush: dearer than the kernel's PTE write
 *                              and invlpg), or, without "mprotect", always
 *                              present (the policy's own cost: the fill,
 *                              the check, the stacks)
 * Prints ns per kmalloc+kfree pair for 16..2048 bytes and for a random mix
 * of 8 B..2 KiB over 10,000 live objects. tests/tools/kfence-cost.sh builds
 * it and runs every configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <pagoda/kfence.h>
#include <pagoda/kmalloc.h>

static bool use_mprotect;
static int set_present(struct kfence_source *s, uintptr_t page, bool present)
{
    if (!use_mprotect)
        return 0;
    return mprotect((void *)page, 4096, present ? PROT_READ | PROT_WRITE : PROT_NONE);
}
static unsigned stack(uintptr_t *pcs, unsigned max)
{
    /* The benchmark's library has no frame pointers to walk: one frame
     * (the kernel walks about six, each an 16-byte read). */
    pcs[0] = (uintptr_t)__builtin_return_address(0);
    return 1;
}
static struct kfence_source src = {.set_present = set_present, .stack = stack};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int SLICES = 40; /* KFENCE_COST_SLICES / KFENCE_COST_OPS: a short run for callgrind */
static double pair(size_t size, long ops)
{
    double best = 1e30;
    for (int s = 0; s < SLICES; s++) {
        double t0 = now();
        for (long i = 0; i < ops; i++) {
            void *volatile p = kmalloc(size);
            kfree(p);
        }
        double dt = (now() - t0) / ops;
        best = dt < best ? dt : best;
    }
    return best;
}

static double mix(long ops)
{
    enum { LIVE = 10000 };
    static void *live[LIVE];
    static uint32_t seq[1 << 20];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        seq[i] = (uint32_t)x;
    }
    for (int i = 0; i < LIVE; i++)
        live[i] = kmalloc(8 + seq[i] % 2041);
    double best = 1e30;
    long k = 0;
    for (int s = 0; s < SLICES; s++) {
        double t0 = now();
        for (long i = 0; i < ops; i++, k++) {
            uint32_t r = seq[k & ((1 << 20) - 1)];
            unsigned slot = r % LIVE;
            kfree(live[slot]);
            live[slot] = kmalloc(8 + (r >> 16) % 2041);
        }
        double dt = (now() - t0) / ops;
        best = dt < best ? dt : best;
    }
    for (int i = 0; i < LIVE; i++)
        kfree(live[i]);
    return best;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 && strcmp(argv[1], "off") ? strtoull(argv[1], NULL, 0) : 0;
    use_mprotect = argc > 2 && strcmp(argv[2], "mprotect") == 0;
    size_t bytes = (size_t)1 << 30;
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    static struct heap_region r;
    heap_region_init(&r, mem, bytes);
    kheap_init(&r.src, 0);
    if (n) {
        src.base = (uintptr_t)mmap(NULL, KFENCE_POOL_BYTES,
                                   use_mprotect ? PROT_NONE : PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        kfence_init(&src, n, 1);
    }
    /* Slices long enough that a slice holds several samples: the fastest
     * slice must not be one that simply missed them. */
    long ops = n ? (long)(n * 8 > 200000 ? n * 8 : 200000) : 200000;
    if (getenv("KFENCE_COST_SLICES"))
        SLICES = atoi(getenv("KFENCE_COST_SLICES"));
    if (getenv("KFENCE_COST_OPS"))
        ops = atol(getenv("KFENCE_COST_OPS"));
    printf("%s", n ? "" : "off");
    if (n)
        printf("%llu%s", (unsigned long long)n, use_mprotect ? "+mprotect" : "");
    static const size_t sizes[] = {16, 64, 256, 1024, 2048};
    const char *only = getenv("KFENCE_COST_ONLY"); /* "pair" (16 B) or "mix" */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!only || (strcmp(only, "pair") == 0 && i == 0))
            printf(" pair%zu=%.3f", sizes[i], pair(sizes[i], ops));
    if (!only || strcmp(only, "mix") == 0)
        printf(" mix=%.3f", mix(ops));
    struct kfence_stats st;
    kfence_get_stats(&st);
    printf(" sampled=%llu\n", (unsigned long long)st.allocs);
    return 0;
}
